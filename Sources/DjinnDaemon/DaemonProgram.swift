import DjinnConfig
import DjinnPostgres
import DjinnRedis
import Logging
import ServiceLifecycle

/// What one daemon (worker, scheduler, consumer) adds to the shared start-up sequence.
///
/// `DaemonMain.run` owns flags, config loading, `-check`, logging, the pidfile, the
/// PostgreSQL and Redis connections, signals and sd_notify; a program supplies its
/// settings and the services that do its work.
public protocol DaemonProgram {
    associatedtype Settings: Sendable

    /// argv[0] as users know it, e.g. `djinn-worker`.
    static var name: String { get }
    static var defaultConfigPath: String { get }
    /// The worker's `-driver` file default; nil for daemons without one.
    static var defaultDriverPath: String? { get }

    /// Loads and validates every file the daemon reads. Touches no network.
    static func load(configPath: String, driverPath: String?) throws(ConfigError) -> LoadedDaemonConfig<Settings>

    /// The parts of the settings every daemon has.
    static func common(_ settings: Settings) -> CommonSettings

    /// Lines logged once the logger is up (what is enabled, what is unavailable and why).
    static func startupNotes(_ settings: Settings) -> [StartupNote]

    /// The long-running services, created once the connections are up. Each `run()`
    /// must return when graceful shutdown is triggered.
    static func makeServices(_ settings: Settings, context: DaemonContext) async throws -> [any Service]
}

extension DaemonProgram {
    public static var defaultDriverPath: String? { nil }
    public static func startupNotes(_ settings: Settings) -> [StartupNote] { [] }
}

/// Settings shared by the three daemons.
public struct CommonSettings: Sendable {
    public var pidfile: String
    public var log: LogSettings
    public var database: DatabaseSettings
    public var redis: RedisSettings

    public init(pidfile: String, log: LogSettings, database: DatabaseSettings, redis: RedisSettings) {
        self.pidfile = pidfile
        self.log = log
        self.database = database
        self.redis = redis
    }
}

/// Settings plus what loading them said, and which files were read (for `-check`).
public struct LoadedDaemonConfig<Settings: Sendable>: Sendable {
    public var settings: Settings
    public var warnings: [ConfigDiagnostic]
    /// The files named on the command line, in order: `-check` prints `FILE: ok` for each.
    public var checkedFiles: [String]

    public init(settings: Settings, warnings: [ConfigDiagnostic], checkedFiles: [String]) {
        self.settings = settings
        self.warnings = warnings
        self.checkedFiles = checkedFiles
    }
}

public struct StartupNote: Sendable, Equatable {
    public var level: Logger.Level
    public var message: String

    public init(_ level: Logger.Level, _ message: String) {
        self.level = level
        self.message = message
    }
}

/// What a daemon's services get to work with.
public struct DaemonContext: Sendable {
    public var logger: Logger
    public var postgres: PostgresPool
    public var redis: RedisClient
    public var redisConfiguration: RedisConfiguration
    public var notifier: SystemdNotifier
}
