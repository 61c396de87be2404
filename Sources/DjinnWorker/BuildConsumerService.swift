import DjinnConfig
import DjinnCrypto
import DjinnNotify
import DjinnPostgres
import DjinnQueue
import DjinnRedis
import Foundation
import Logging
import ServiceLifecycle
import Synchronization

/// The worker's service: consumes `builds_<driver>` with `parallelism` builds at once and
/// Djinn's JobMaxAttempts of 1 (a build runs at most twice after handler errors), listening
/// for kill messages on one subscriber connection.
///
/// Graceful shutdown (SIGINT/SIGTERM through the service group, or `shutdown()`): no new
/// builds are taken; running builds get the queue's shutdown grace (`QueueOptions.shutdownGrace`,
/// 30 s by default) to finish; builds still running then are stopped (their process groups
/// killed), reset to `queued`, and their queue jobs requeued for the next worker. Then
/// notifications still being delivered get `NotifierConfiguration.shutdownGrace` (5 s).
///
/// Notifications (DjinnNotify.BuildNotifier): `build.started` and the commit statuses before
/// each run, `build.finished`, the final commit status and the failure mail after it, all
/// delivered in the background.
public final class BuildConsumerService: Service, Sendable {
    public let queue: String
    public let options: QueueOptions
    private let handler: BuildHandler
    private let redis: RedisClient
    private let killWatcher: KillWatcher
    private let logger: Logger
    private let consumer: QueueConsumer
    public let notifier: BuildNotifier

    /// `queueOptions` defaults to the worker's (`workerQueueOptions`); `runSettings` to the
    /// worker's timeout with the standard limits.
    /// `drivers` is driver.conf (the docker driver's host and API version come from it).
    public init(
        settings: WorkerSettings, drivers: DriverFileSettings = DriverFileSettings(), postgres: PostgresPool, redis: RedisClient,
        logger: Logger, queueOptions: QueueOptions? = nil, runSettings: RunSettings? = nil, queue: String? = nil,
        makeDriver: (@Sendable (BuildDefinition) -> any BuildDriver)? = nil,
        notifications: NotifierConfiguration? = nil,
        onFinished: @escaping @Sendable (BuildFinished) async -> Void = { _ in }
    ) throws {
        let queue = queue ?? WorkerProgram.queueName(settings)
        self.queue = queue
        self.options = queueOptions ?? Self.workerQueueOptions(settings)
        self.redis = redis
        self.logger = logger
        var cipher: DjinnCipher?
        if let crypto = settings.crypto { cipher = try DjinnCipher(block: crypto.block, salt: crypto.salt) }
        var notifications = notifications ?? Self.notifierConfiguration(settings)
        notifications.cipher = notifications.cipher ?? cipher
        let notifier = BuildNotifier(configuration: notifications, database: postgres, logger: logger)
        self.notifier = notifier
        let killWatcher = KillWatcher(subscriber: redis.makeSubscriber(), logger: logger)
        self.killWatcher = killWatcher
        let handler = BuildHandler(
            pool: postgres, cipher: cipher, objectsStore: settings.objects.path, artifactsStore: settings.artifacts,
            runSettings: runSettings ?? RunSettings(timeout: settings.timeout), killWatcher: killWatcher, logger: logger,
            makeDriver: makeDriver ?? Self.driverFactory(settings, drivers: drivers, postgres: postgres, logger: logger),
            onStarted: { started in await notifier.buildStarted(buildID: started.buildID, host: started.host) },
            onFinished: { finished in
                await notifier.buildFinished(buildID: finished.buildID, status: finished.status.rawValue, host: finished.host)
                await onFinished(finished)
            })
        self.handler = handler
        self.consumer = QueueConsumer(client: redis, queue: queue, options: options, logger: logger) { job in
            try await handler.handle(job)
        }
    }

    /// Concurrency = effective parallelism, JobMaxAttempts 1; everything else the queue's defaults.
    public static func workerQueueOptions(_ settings: WorkerSettings) -> QueueOptions {
        QueueOptions(concurrency: settings.effectiveParallelism(), maxAttempts: 1)
    }

    /// The worker's smtp and provider blocks, `$DJINN_API_SERVER`, parallelism as the
    /// number of deliveries at once.
    public static func notifierConfiguration(
        _ settings: WorkerSettings, environment: [String: String] = ProcessInfo.processInfo.environment
    ) -> NotifierConfiguration {
        NotifierConfiguration(
            smtp: settings.smtp, providers: settings.providers, apiServer: environment["DJINN_API_SERVER"] ?? "",
            concurrency: settings.effectiveParallelism())
    }

    /// The driver for each build: os, or docker, ssh or qemu, each with the driver file's
    /// block merged with the build's manifest `driver:` map (spec §5.1); a build whose settings
    /// are missing or invalid fails at driver creation with the reason.
    public static func driverFactory(
        _ settings: WorkerSettings, drivers: DriverFileSettings = DriverFileSettings(), postgres: PostgresPool? = nil, logger: Logger
    ) -> @Sendable (BuildDefinition) -> any BuildDriver {
        let kind = settings.driverKind
        let arch = settings.qemuArch
        let docker = drivers.docker
        return { definition in
            switch kind {
            case .os:
                return OSDriver(logger: logger)
            case .docker:
                switch DockerDriverConfiguration.merge(file: docker, manifest: definition.driverConfig) {
                case .success(let configuration):
                    let build = "\(settings.database.name)@\(settings.database.addr)/\(definition.row.id)"
                    return DockerDriver(configuration: configuration, build: build, logger: logger)
                case .failure(let error):
                    return UnavailableDriver(reason: error.description)
                }
            case .ssh:
                return SSHDriver(configuration: DriverConfiguration.ssh(file: drivers.ssh, manifest: definition.driverConfig), logger: logger)
            case .qemu:
                let configuration = DriverConfiguration.qemu(file: drivers.qemu, manifest: definition.driverConfig, workerArch: arch)
                return QEMUDriver(configuration: configuration, logger: logger) { name in
                    guard let postgres else { return nil }
                    return try await QEMUImageLookup.image(
                        named: name, namespaceID: definition.namespaceID, ownerID: definition.row.userID, in: postgres)
                }
            }
        }
    }

    public func run() async throws {
        logger.info("consuming from queue: \(queue)")
        let consumer = self.consumer
        do {
            try await withGracefulShutdownHandler {
                try await consumer.run()
            } onGracefulShutdown: {
                consumer.shutdown()
            }
        } catch {
            await killWatcher.close()
            await notifier.shutdown()
            throw error
        }
        await killWatcher.close()
        await notifier.shutdown()
    }

    /// Starts the graceful shutdown (what SIGTERM does under the daemon's service group).
    public func shutdown() {
        consumer.shutdown()
    }
}
