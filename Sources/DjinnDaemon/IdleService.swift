import Logging
import ServiceLifecycle

/// A service that only waits for the graceful shutdown: what a daemon runs while its
/// real work (queues, schedules) is provided by later services.
public struct IdleService: Service {
    let logger: Logger
    let message: String

    public init(logger: Logger, message: String) {
        self.logger = logger
        self.message = message
    }

    public func run() async throws {
        logger.info("\(message)")
        try? await gracefulShutdown()
    }
}
