import DjinnConfig
import DjinnDaemon
import ServiceLifecycle

/// djinn-consumer: runs background jobs (image downloads) from the `jobs` queue.
public enum ConsumerProgram: DaemonProgram {
    public typealias Settings = ConsumerSettings

    public static let name = "djinn-consumer"
    public static let defaultConfigPath = "djinn-consumer.conf"

    public static func load(configPath: String, driverPath: String?) throws(ConfigError) -> LoadedDaemonConfig<Settings> {
        let loaded = try ConsumerSettings.load(path: configPath)
        return LoadedDaemonConfig(settings: loaded.settings, warnings: loaded.warnings, checkedFiles: [configPath])
    }

    public static func common(_ s: Settings) -> CommonSettings {
        CommonSettings(pidfile: s.pidfile, log: s.log, database: s.database, redis: s.redis)
    }

    public static func startupNotes(_ s: Settings) -> [StartupNote] {
        var notes: [StartupNote] = []
        if s.crypto == nil {
            notes.append(.init(.warning, "no crypto block: webhook secrets cannot be decrypted, so signed image events are not sent"))
        }
        notes.append(.init(.info, "consuming jobs from jobs"))
        return notes
    }

    public static func makeServices(_ settings: Settings, context: DaemonContext) async throws -> [any Service] {
        [IdleService(logger: context.logger, message: "consumer ready")]
    }
}
