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
        let document = try ConfigParser.parse(path: path, fileSystem: fileSystem)
        let relevant = document.parameters.filter { $0.name.text.lowercased() == "database" }
        var decoder = SchemaDecoder(environment: environment)
        let root = decoder.decodeFile(relevant, schema: BlockSchema([Schemas.database]), file: path)
        guard !decoder.diagnostics.containsError else { throw ConfigError(diagnostics: decoder.diagnostics) }
        return root.databaseSettings()
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
        let document = try ConfigParser.parse(path: path, fileSystem: fileSystem)
        let relevant = document.parameters.filter { $0.name.text.lowercased() == "redis" }
        var decoder = SchemaDecoder(environment: environment)
        let root = decoder.decodeFile(relevant, schema: BlockSchema([Schemas.redis]), file: path)
        guard !decoder.diagnostics.containsError else { throw ConfigError(diagnostics: decoder.diagnostics) }
        return root.redisSettings()
    }
}
