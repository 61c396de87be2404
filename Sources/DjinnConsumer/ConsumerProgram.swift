import BlockingIO
import DjinnConfig
import DjinnCrypto
import DjinnDaemon
import DjinnNotify
import DjinnQueue
import Foundation
import Logging
import ServiceLifecycle

/// djinn-consumer: runs background jobs (image downloads) from the `jobs` queue.
public enum ConsumerProgram: DaemonProgram {
    public typealias Settings = ConsumerSettings

    public static let name = "djinn-consumer"
    public static let defaultConfigPath = "djinn-consumer.conf"
    /// The queue Djinn's server puts download jobs on.
    public static let queueName = "jobs"
    /// Temporary download files untouched this long at start-up belong to no live consumer.
    static let staleTemporaryAge: TimeInterval = 3600

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
        notes.append(.init(.info, "consuming jobs from \(queueName)"))
        notes.append(.init(.info, "using parallelism of: \(s.effectiveParallelism())"))
        notes.append(.init(.info, "each job runs at most \(max(1, s.attempts)) times (attempts \(s.attempts))"))
        notes.append(.init(.info, "images store: \(s.images.path)" + (s.images.limit > 0 ? " (limit \(s.images.limit) bytes)" : "")))
        return notes
    }

    /// `attempts` counts runs in all (the first included): a job runs at most `attempts`
    /// times. curlyq's JobMaxAttempts counts retries, so it is one less (Go Djinn passes
    /// `attempts` straight through, giving attempts + 1 runs).
    public static func queueOptions(_ settings: Settings) -> QueueOptions {
        QueueOptions(concurrency: settings.effectiveParallelism(), maxAttempts: max(0, settings.attempts - 1))
    }

    public static func makeServices(_ settings: Settings, context: DaemonContext) async throws -> [any Service] {
        try await prepareStore(settings.images, logger: context.logger)
        let downloader = ImageDownloader(logger: context.logger)
        var cipher: DjinnCipher?
        if let crypto = settings.crypto { cipher = try DjinnCipher(block: crypto.block, salt: crypto.salt) }
        let events = ImageEventPublisher(
            database: context.postgres, cipher: cipher,
            apiServer: ProcessInfo.processInfo.environment["DJINN_API_SERVER"] ?? "",
            concurrency: settings.effectiveParallelism(), logger: context.logger)
        let handler = DownloadJobHandler(
            database: context.postgres, store: settings.images, downloader: downloader, events: events, logger: context.logger)
        let consumer = QueueConsumer(
            client: context.redis, queue: queueName, options: queueOptions(settings), logger: context.logger,
            handler: handler.handle)
        return [QueueConsumerService(consumer: consumer, events: events, logger: context.logger)]
    }

    /// Creates the store directory if needed and removes temporary files that consumers which
    /// died long ago left behind (a recent one is removed by whoever retries its job).
    static func prepareStore(_ store: StoreSettings, logger: Logger) async throws {
        guard !store.path.isEmpty else { throw ConsumerStartError("the images store has no path") }
        let thread = BlockingThread(name: "store-setup")
        defer { thread.shutdown() }
        let removed = try await thread.run { () throws -> [String] in
            do throws(DownloadError) {
                try StoreFiles.makeDirectories(store.path)
            } catch {
                throw ConsumerStartError("images store: \(error.message)")
            }
            return StoreFiles.removeStaleTemporaries(storePath: store.path, olderThan: staleTemporaryAge)
        }
        for path in removed { logger.info("removed an abandoned download: \(path)") }
    }
}

struct ConsumerStartError: Error, CustomStringConvertible {
    var description: String
    init(_ description: String) { self.description = description }
}

/// Runs a queue consumer as a service: a graceful shutdown stops it taking jobs, lets the
/// running ones finish (within the queue's grace period) and puts the rest back.
/// Then `images` events still being delivered get a short grace period.
struct QueueConsumerService: Service {
    let consumer: QueueConsumer
    var events: ImageEventPublisher?
    let logger: Logger

    func run() async throws {
        logger.info("consumer ready")
        do {
            try await withGracefulShutdownHandler {
                try await consumer.run()
            } onGracefulShutdown: {
                consumer.shutdown()
            }
        } catch {
            await events?.shutdown()
            throw error
        }
        await events?.shutdown()
    }
}
