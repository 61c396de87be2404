import DjinnBuilds
import DjinnJobs
import DjinnTesting
import Foundation
import Logging
import ServiceLifecycle
import Synchronization
import Testing
@testable import DjinnScheduler

/// An enqueuer that holds the first enqueue until released: the cron being invoked is then
/// "in progress" (its transaction committed, its build not yet queued).
final class GatedEnqueuer: BuildEnqueuer {
    private struct State {
        var entered = false
        var released = false
        var releaseWaiters: [CheckedContinuation<Void, Never>] = []
        var queued: [(String, [UInt8])] = []
    }

    private let state = Mutex(State())

    var queued: [(String, [UInt8])] { state.withLock { $0.queued } }

    func enqueue(queue: String, payload: [UInt8]) async throws {
        state.withLock { $0.entered = true }
        await withCheckedContinuation { (continuation: CheckedContinuation<Void, Never>) in
            let go = state.withLock { state in
                if state.released { return true }
                state.releaseWaiters.append(continuation)
                return false
            }
            if go { continuation.resume() }
        }
        state.withLock { $0.queued.append((queue, payload)) }
    }

    var hasEntered: Bool { state.withLock { $0.entered } }

    func release() {
        let waiters = state.withLock { state in
            state.released = true
            defer { state.releaseWaiters = [] }
            return state.releaseWaiters
        }
        waiters.forEach { $0.resume() }
    }
}

struct TimedOut: Error {}

/// Polls `condition` every 20 ms; throws after `timeout` (a generous does-not-hang bound).
func waitFor(timeout: Duration = .seconds(60), _ condition: () async throws -> Bool) async throws {
    let deadline = ContinuousClock.now + timeout
    while try await !condition() {
        guard ContinuousClock.now < deadline else { throw TimedOut() }
        try await Task.sleep(for: .milliseconds(20))
    }
}

@Suite struct SchedulerServiceTests {
    /// Graceful shutdown mid-pass: the page in progress (one transaction, here 2 crons) is
    /// finished (committed and queued), no other page is started, and run() returns.
    @Test func gracefulShutdownFinishesTheCronInProgressThenStops() async throws {
        try await SchedulerFixture.with { f in
            let alice = try await f.addUser("alice")
            for index in 0..<5 { try await f.addCron("c\(index)", user: alice, nextRun: Date() - 3600 + Double(index)) }
            let gate = GatedEnqueuer()
            let service = SchedulerService(
                scheduler: f.scheduler(batchSize: 2, parallelism: 1, enqueuer: gate), interval: .seconds(60), logger: f.log.logger)
            let group = ServiceGroup(configuration: ServiceGroupConfiguration(services: [service], logger: quietLogger))
            try await withThrowingTaskGroup(of: Void.self) { tasks in
                tasks.addTask { try await group.run() }
                try await waitFor { gate.hasEntered }
                await group.triggerGracefulShutdown()
                try await Task.sleep(for: .milliseconds(200))
                gate.release()
                try await tasks.waitForAll()
            }
            #expect(gate.queued.count == 2)
            #expect(try gate.queued.map { try BuildPayload(gob: $0.1) } == [1, 2].map { BuildPayload(host: "djinn-scheduler", buildID: $0) })
            #expect(try await f.count("SELECT count(*) FROM builds") == 2)
            #expect(try await f.count("SELECT count(*) FROM cron WHERE prev_run IS NULL") == 3)
            #expect(f.log.contains("INFO submitted 2 build(s)"))
            #expect(f.log.all.last == "INFO stopping scheduler")
        }
    }

    /// Between passes the service sleeps for the interval, but a shutdown ends the sleep.
    @Test func gracefulShutdownWhileWaitingForTheNextPassEndsAtOnce() async throws {
        try await SchedulerFixture.with { f in
            let service = SchedulerService(scheduler: f.scheduler(), interval: .seconds(3600), logger: f.log.logger)
            let group = ServiceGroup(configuration: ServiceGroupConfiguration(services: [service], logger: quietLogger))
            let started = ContinuousClock.now
            try await withThrowingTaskGroup(of: Void.self) { tasks in
                tasks.addTask { try await group.run() }
                try await waitFor { f.log.contains("DEBUG no crons due") }
                await group.triggerGracefulShutdown()
                try await tasks.waitForAll()
            }
            #expect(ContinuousClock.now - started < .seconds(60))
            #expect(f.log.all.last == "INFO stopping scheduler")
        }
    }

    /// Passes repeat every interval: a cron that becomes due later is picked up by a later pass.
    @Test func passesRepeatEveryInterval() async throws {
        try await SchedulerFixture.with { f in
            let alice = try await f.addUser("alice")
            let service = SchedulerService(scheduler: f.scheduler(), interval: .milliseconds(200), logger: f.log.logger)
            let group = ServiceGroup(configuration: ServiceGroupConfiguration(services: [service], logger: quietLogger))
            try await withThrowingTaskGroup(of: Void.self) { tasks in
                tasks.addTask { try await group.run() }
                try await waitFor { f.log.contains("DEBUG no crons due") }  // the first pass is over
                try await f.addCron("late", user: alice, nextRun: Date() - 1)
                try await waitFor { try await f.count("SELECT count(*) FROM builds") == 1 }
                await group.triggerGracefulShutdown()
                try await tasks.waitForAll()
            }
            #expect(try await f.queuedBuilds().count == 1)
        }
    }
}
