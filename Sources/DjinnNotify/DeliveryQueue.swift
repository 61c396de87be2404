import Foundation
import Logging
import Synchronization

/// How often and how patiently an outbound call is retried.
public struct RetryPolicy: Sendable, Equatable {
    /// Attempts in all (the first included).
    public var attempts: Int
    /// Wait before the second attempt; doubled before each later one.
    public var initialDelay: Duration

    public init(attempts: Int = 4, initialDelay: Duration = .seconds(2)) {
        self.attempts = max(1, attempts)
        self.initialDelay = initialDelay
    }

    /// The wait before attempt `attempt` (2, 3, …).
    public func delay(before attempt: Int) -> Duration {
        initialDelay * (1 << min(max(0, attempt - 2), 16))
    }
}

/// Background work (mail, webhooks, commit statuses) that must never hold up a build.
///
/// `submit` returns at once. At most `concurrency` items run at the same time; items of one
/// `lane` run one after the other in submission order (a build's commit statuses must
/// arrive in order). `shutdown(grace:)` stops taking work, lets running and waiting items
/// finish within the grace period, then cancels what is left (an HTTP or SMTP call in
/// progress is aborted) and waits for it to unwind.
public final class DeliveryQueue: Sendable {
    private struct State {
        var accepting = true
        var tasks: [UInt64: Task<Void, Never>] = [:]
        var laneTails: [String: (id: UInt64, task: Task<Void, Never>)] = [:]
        var nextID: UInt64 = 0
    }

    private let state = Mutex(State())
    private let permits: Permits
    private let logger: Logger

    public init(concurrency: Int, logger: Logger) {
        permits = Permits(max(1, concurrency))
        self.logger = logger
    }

    /// Queues `work`; dropped (with a log line) after shutdown began.
    public func submit(lane: String? = nil, _ label: String, _ work: @escaping @Sendable () async -> Void) {
        let permits = self.permits
        let accepted = state.withLock { state -> Bool in
            guard state.accepting else { return false }
            let id = state.nextID
            state.nextID += 1
            let previous = lane.flatMap { state.laneTails[$0]?.task }
            let task = Task { [weak self] in
                await previous?.value
                if !Task.isCancelled {
                    await permits.acquire()
                    if !Task.isCancelled { await work() }
                    await permits.release()
                }
                self?.finished(id: id, lane: lane)
            }
            state.tasks[id] = task
            if let lane { state.laneTails[lane] = (id, task) }
            return true
        }
        if !accepted { logger.warning("shutting down: not sending \(label)") }
    }

    private func finished(id: UInt64, lane: String?) {
        state.withLock { state in
            state.tasks[id] = nil
            if let lane, state.laneTails[lane]?.id == id { state.laneTails[lane] = nil }
        }
    }

    /// Items queued or running.
    public var pending: Int { state.withLock { $0.tasks.count } }

    /// Waits until nothing is queued or running (tests, and the grace period).
    public func waitUntilIdle() async {
        while true {
            let tasks = state.withLock { Array($0.tasks.values) }
            if tasks.isEmpty { return }
            for task in tasks { await task.value }
        }
    }

    /// Stops taking work; waits at most `grace` for what is queued, then cancels the rest.
    public func shutdown(grace: Duration) async {
        state.withLock { $0.accepting = false }
        let logger = self.logger
        let deadline = Task { [weak self] in
            do { try await Task.sleep(for: grace) } catch { return }
            guard let self else { return }
            let left = self.state.withLock { Array($0.tasks.values) }
            if left.isEmpty { return }
            logger.warning("shutting down: cancelling \(left.count) notification(s) still in progress")
            for task in left { task.cancel() }
        }
        await waitUntilIdle()
        deadline.cancel()
    }
}

/// A counting semaphore for tasks.
private actor Permits {
    private var available: Int
    private var waiters: [CheckedContinuation<Void, Never>] = []

    init(_ count: Int) { available = count }

    func acquire() async {
        if available > 0 {
            available -= 1
            return
        }
        await withCheckedContinuation { waiters.append($0) }
    }

    func release() {
        if waiters.isEmpty {
            available += 1
        } else {
            waiters.removeFirst().resume()
        }
    }
}
