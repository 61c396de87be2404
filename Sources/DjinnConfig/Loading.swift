import Foundation

/// Reads a file (with includes), decodes it against `schema` and builds the settings,
/// collecting every diagnostic on the way.
enum SettingsLoader {
    static func load<Settings: Sendable>(
        path: String,
        environment: [String: String],
        fileSystem: ConfigFileSystem,
        schema: BlockSchema,
        build: (DecodedBlock, inout [ConfigDiagnostic]) -> Settings
    ) throws(ConfigError) -> Loaded<Settings> {
        let document = try ConfigParser.parse(path: path, fileSystem: fileSystem)
        var decoder = SchemaDecoder(environment: environment)
        let root = decoder.decodeFile(document.parameters, schema: schema, file: path)
        var diagnostics = document.warnings + decoder.diagnostics
        let settings = build(root, &diagnostics)
        guard !diagnostics.containsError else { throw ConfigError(diagnostics: diagnostics) }
        return Loaded(settings: settings, warnings: diagnostics, files: document.files)
    }
}

/// Builders for the blocks the daemons share.
extension DecodedBlock {
    /// The lowest-level `log` entry wins (as in Go); the others are named in warnings.
    func logSettings(diagnostics: inout [ConfigDiagnostic]) -> LogSettings {
        var entries: [(level: LogLevel, file: String, location: SourceLocation)] = []
        for entry in labelled("log") {
            guard let level = LogLevel(rawValue: entry.label), case .string(let file) = entry.value else { continue }
            entries.append((level, file, entry.location))
        }
        guard let chosen = entries.min(by: { $0.level < $1.level }) else { return LogSettings() }
        for entry in entries where entry.level != chosen.level {
            diagnostics.append(.warning(
                "log \(entry.level.rawValue) ignored: only the lowest level given (\(chosen.level.rawValue)) is used",
                at: entry.location
            ))
        }
        return LogSettings(level: chosen.level, file: chosen.file.isEmpty ? "/dev/stdout" : chosen.file)
    }

    func databaseSettings() -> DatabaseSettings {
        guard let database = block("database") else { return DatabaseSettings(addr: "") }
        var tls: TLSFiles?
        let current = database.block("tls")
        let deprecated = database.block("ssl")
        if current != nil || deprecated != nil {
            func file(_ name: String) -> String {
                let value = current?.string(name) ?? ""
                return value.isEmpty ? deprecated?.string(name) ?? "" : value
            }
            tls = TLSFiles(ca: file("ca"), cert: file("cert"), key: file("key"))
        }
        return DatabaseSettings(
            addr: database.string("addr"),
            name: database.string("name"),
            username: database.string("username"),
            password: database.string("password"),
            tls: tls
        )
    }

    func redisSettings() -> RedisSettings {
        let redis = block("redis")
        return RedisSettings(addr: redis?.string("addr") ?? "", password: redis?.string("password") ?? "")
    }

    func cryptoSettings() -> CryptoSettings? {
        guard let crypto = block("crypto") else { return nil }
        return CryptoSettings(
            block: crypto.string("block"), salt: crypto.string("salt"),
            hash: crypto.string("hash"), auth: crypto.string("auth")
        )
    }

    func storeSettings(_ label: String) -> StoreSettings {
        guard let store = labelledBlock("store", label) else { return StoreSettings(type: "", path: "") }
        return StoreSettings(type: store.string("type"), path: store.string("path"), limit: store.byteCount("limit"))
    }
}
