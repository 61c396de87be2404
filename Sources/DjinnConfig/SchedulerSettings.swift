import Foundation

/// `djinn-scheduler -config FILE`.
public struct SchedulerSettings: Sendable, Equatable {
    /// "" means no pidfile.
    public var pidfile: String
    public var log: LogSettings
    /// Time between batches; 1 minute when not given.
    public var interval: Duration
    /// Crons loaded per batch; 0 in the file means the default, 1000.
    public var batchSize: Int
    /// Queue keys builds may be submitted to (`docker`, `qemu-x86_64`, …): queue `builds_<key>`.
    public var drivers: [String]
    /// Without it, artifact hash ids cannot be made.
    public var crypto: CryptoSettings?
    public var database: DatabaseSettings
    public var redis: RedisSettings

    public static let defaultInterval: Duration = .seconds(60)
    public static let defaultBatchSize = 1000

    public init(
        pidfile: String = "", log: LogSettings = LogSettings(), interval: Duration = SchedulerSettings.defaultInterval,
        batchSize: Int = SchedulerSettings.defaultBatchSize, drivers: [String] = [], crypto: CryptoSettings? = nil,
        database: DatabaseSettings, redis: RedisSettings
    ) {
        self.pidfile = pidfile
        self.log = log
        self.interval = interval
        self.batchSize = batchSize
        self.drivers = drivers
        self.crypto = crypto
        self.database = database
        self.redis = redis
    }

    /// Reads and checks a scheduler config file; `environment` feeds `${…}` expansion.
    public static func load(
        path: String,
        environment: [String: String] = ProcessInfo.processInfo.environment
    ) throws(ConfigError) -> Loaded<SchedulerSettings> {
        try load(path: path, environment: environment, fileSystem: .local)
    }

    public static func load(
        path: String, environment: [String: String], fileSystem: ConfigFileSystem
    ) throws(ConfigError) -> Loaded<SchedulerSettings> {
        try SettingsLoader.load(path: path, environment: environment, fileSystem: fileSystem, schema: Schemas.scheduler) {
            root, diagnostics in
            let batchSize = root.int("batch_size")
            return SchedulerSettings(
                pidfile: root.string("pidfile"),
                log: root.logSettings(diagnostics: &diagnostics),
                interval: root.duration("interval"),
                batchSize: batchSize == 0 ? defaultBatchSize : batchSize,
                drivers: root.strings("drivers").map(\.value),
                crypto: root.cryptoSettings(),
                database: root.databaseSettings(),
                redis: root.redisSettings()
            )
        }
    }
}
