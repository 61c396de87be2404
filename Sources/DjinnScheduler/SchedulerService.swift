import Logging
import ServiceLifecycle

/// The scheduler daemon's work: a pass over the due crons at start and then every `interval`
/// (measured from the start of the previous pass; a pass longer than the interval is followed
/// by the next at once). Graceful shutdown lets the crons being invoked finish, starts no new
/// one, and ends `run()`.
public struct SchedulerService: Service {
    public let scheduler: CronScheduler
    public let interval: Duration
    private let logger: Logger

    public init(scheduler: CronScheduler, interval: Duration, logger: Logger) {
        self.scheduler = scheduler
        self.interval = interval
        self.logger = logger
    }

    public func run() async throws {
        while !Task.isShuttingDownGracefully {
            let started = ContinuousClock.now
            do {
                try await scheduler.runDue(shouldStop: { Task.isShuttingDownGracefully })
            } catch {
                logger.error("cannot load due crons: \(error)")
            }
            await sleepUnlessShuttingDown(until: started + interval)
        }
        logger.info("stopping scheduler")
    }

    /// Returns at `deadline` or as soon as graceful shutdown is triggered.
    private func sleepUnlessShuttingDown(until deadline: ContinuousClock.Instant) async {
        await withTaskGroup(of: Void.self) { group in
            group.addTask { try? await Task.sleep(until: deadline, clock: .continuous) }
            group.addTask { try? await gracefulShutdown() }
            await group.next()
            group.cancelAll()
        }
    }
}
