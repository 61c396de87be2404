import Foundation

/// `djinn-worker -config FILE`.
public struct WorkerSettings: Sendable, Equatable {
    /// "" means no pidfile.
    public var pidfile: String
    public var log: LogSettings
    /// 0 means one per CPU; see `effectiveParallelism`.
    public var parallelism: Int
    /// As written: `os`, `ssh`, `docker`, `qemu` or `qemu-<arch>`.
    public var driver: String
    public var driverKind: DriverKind
    /// The arch of `qemu-<arch>`; nil for every other driver and for plain `qemu`.
    public var qemuArch: String?
    /// Build time limit; 30 minutes when not given.
    public var timeout: Duration
    /// Without it, encrypted variables, keys and provider tokens cannot be used.
    public var crypto: CryptoSettings?
    public var database: DatabaseSettings
    public var redis: RedisSettings
    /// Without it, no failure emails are sent.
    public var smtp: SMTPSettings?
    public var artifacts: StoreSettings
    public var objects: StoreSettings
    /// Keyed by provider name (`github`, `gitlab`).
    public var providers: [String: ProviderSettings]

    public init(
        pidfile: String = "", log: LogSettings = LogSettings(), parallelism: Int = 0, driver: String,
        driverKind: DriverKind, qemuArch: String? = nil, timeout: Duration = .seconds(30 * 60),
        crypto: CryptoSettings? = nil, database: DatabaseSettings, redis: RedisSettings, smtp: SMTPSettings? = nil,
        artifacts: StoreSettings, objects: StoreSettings, providers: [String: ProviderSettings] = [:]
    ) {
        self.pidfile = pidfile
        self.log = log
        self.parallelism = parallelism
        self.driver = driver
        self.driverKind = driverKind
        self.qemuArch = qemuArch
        self.timeout = timeout
        self.crypto = crypto
        self.database = database
        self.redis = redis
        self.smtp = smtp
        self.artifacts = artifacts
        self.objects = objects
        self.providers = providers
    }

    /// `parallelism`, or the CPU count when it is 0.
    public func effectiveParallelism(cpuCount: Int = ProcessInfo.processInfo.activeProcessorCount) -> Int {
        resolvedParallelism(parallelism, cpuCount: cpuCount)
    }

    /// Reads and checks a worker config file; `environment` feeds `${…}` expansion.
    public static func load(
        path: String,
        environment: [String: String] = ProcessInfo.processInfo.environment
    ) throws(ConfigError) -> Loaded<WorkerSettings> {
        try load(path: path, environment: environment, fileSystem: .local)
    }

    public static func load(
        path: String, environment: [String: String], fileSystem: ConfigFileSystem
    ) throws(ConfigError) -> Loaded<WorkerSettings> {
        try SettingsLoader.load(path: path, environment: environment, fileSystem: fileSystem, schema: Schemas.worker) {
            root, diagnostics in
            let driver = root.string("driver")
            let parsedDriver = DriverKind.parse(driver)
            var smtp: SMTPSettings?
            if let block = root.block("smtp") {
                smtp = SMTPSettings(
                    addr: block.string("addr"), ca: block.string("ca"), admin: block.string("admin"),
                    username: block.string("username"), password: block.string("password")
                )
            }
            var providers: [String: ProviderSettings] = [:]
            for entry in root.labelled("provider") {
                guard case .block(let block) = entry.value else { continue }
                let endpoint = block.string("endpoint")
                providers[entry.label] = ProviderSettings(
                    name: entry.label,
                    secret: block.string("secret"),
                    endpoint: endpoint.isEmpty ? nil : endpoint,
                    oauth2Endpoint: block.string("oauth2_endpoint"),
                    clientID: block.string("client_id"),
                    clientSecret: block.string("client_secret")
                )
            }
            return WorkerSettings(
                pidfile: root.string("pidfile"),
                log: root.logSettings(diagnostics: &diagnostics),
                parallelism: root.int("parallelism"),
                driver: driver,
                driverKind: parsedDriver?.kind ?? .os,
                qemuArch: parsedDriver?.qemuArch,
                timeout: root.duration("timeout"),
                crypto: root.cryptoSettings(),
                database: root.databaseSettings(),
                redis: root.redisSettings(),
                smtp: smtp,
                artifacts: root.storeSettings("artifacts"),
                objects: root.storeSettings("objects"),
                providers: providers
            )
        }
    }
}
