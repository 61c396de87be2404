import Foundation

/// `djinn-consumer -config FILE`.
public struct ConsumerSettings: Sendable, Equatable {
    /// "" means no pidfile.
    public var pidfile: String
    public var log: LogSettings
    /// 0 means one per CPU; see `effectiveParallelism`.
    public var parallelism: Int
    /// Queue job attempts; 0 in the file means the default, 5.
    public var attempts: Int
    /// Without it, webhook secrets cannot be decrypted.
    public var crypto: CryptoSettings?
    public var database: DatabaseSettings
    public var redis: RedisSettings
    public var images: StoreSettings

    public static let defaultAttempts = 5

    public init(
        pidfile: String = "", log: LogSettings = LogSettings(), parallelism: Int = 0,
        attempts: Int = ConsumerSettings.defaultAttempts, crypto: CryptoSettings? = nil,
        database: DatabaseSettings, redis: RedisSettings, images: StoreSettings
    ) {
        self.pidfile = pidfile
        self.log = log
        self.parallelism = parallelism
        self.attempts = attempts
        self.crypto = crypto
        self.database = database
        self.redis = redis
        self.images = images
    }

    /// `parallelism`, or the CPU count when it is 0.
    public func effectiveParallelism(cpuCount: Int = ProcessInfo.processInfo.activeProcessorCount) -> Int {
        resolvedParallelism(parallelism, cpuCount: cpuCount)
    }

    /// Reads and checks a consumer config file; `environment` feeds `${…}` expansion.
    public static func load(
        path: String,
        environment: [String: String] = ProcessInfo.processInfo.environment
    ) throws(ConfigError) -> Loaded<ConsumerSettings> {
        try load(path: path, environment: environment, fileSystem: .local)
    }

    public static func load(
        path: String, environment: [String: String], fileSystem: ConfigFileSystem
    ) throws(ConfigError) -> Loaded<ConsumerSettings> {
        try SettingsLoader.load(path: path, environment: environment, fileSystem: fileSystem, schema: Schemas.consumer) {
            root, diagnostics in
            let attempts = root.int("attempts")
            return ConsumerSettings(
                pidfile: root.string("pidfile"),
                log: root.logSettings(diagnostics: &diagnostics),
                parallelism: root.int("parallelism"),
                attempts: attempts == 0 ? defaultAttempts : attempts,
                crypto: root.cryptoSettings(),
                database: root.databaseSettings(),
                redis: root.redisSettings(),
                images: root.storeSettings("images")
            )
        }
    }
}
