import Foundation

extension DatabaseSettings {
    /// The `database` block of any daemon's config file, for tools such as
    /// `djinnctl migrate` that need nothing else. Other directives are not decoded, so a
    /// worker, scheduler or consumer file all work, and only database problems are reported.
    public static func load(
        fromConfigAt path: String,
        environment: [String: String] = ProcessInfo.processInfo.environment,
        fileSystem: ConfigFileSystem = .local
    ) throws(ConfigError) -> DatabaseSettings {
        try decodeOneBlock(Schemas.database, fromConfigAt: path, environment: environment, fileSystem: fileSystem)
            .databaseSettings()
    }
}

extension RedisSettings {
    /// The `redis` block of any daemon's config file, for tools such as `djinnctl build kill`
    /// that need nothing else; like `DatabaseSettings.load(fromConfigAt:)`, other directives are
    /// not decoded.
    public static func load(
        fromConfigAt path: String,
        environment: [String: String] = ProcessInfo.processInfo.environment,
        fileSystem: ConfigFileSystem = .local
    ) throws(ConfigError) -> RedisSettings {
        try decodeOneBlock(Schemas.redis, fromConfigAt: path, environment: environment, fileSystem: fileSystem)
            .redisSettings()
    }
}

/// Parses the whole file (so syntax errors anywhere are reported) but decodes only the
/// directive `schema` describes.
private func decodeOneBlock(
    _ schema: ParameterSchema, fromConfigAt path: String, environment: [String: String], fileSystem: ConfigFileSystem
) throws(ConfigError) -> DecodedBlock {
    let document = try ConfigParser.parse(path: path, fileSystem: fileSystem)
    let name = schema.name.lowercased()
    let relevant = document.parameters.filter { $0.name.text.lowercased() == name }
    var decoder = SchemaDecoder(environment: environment)
    let root = decoder.decodeFile(relevant, schema: BlockSchema([schema]), file: path)
    guard !decoder.diagnostics.containsError else { throw ConfigError(diagnostics: decoder.diagnostics) }
    return root
}
