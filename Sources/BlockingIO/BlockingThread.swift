import Foundation

/// A thread of its own for blocking C calls (libpq, hiredis, waitpid …).
///
/// Swift's cooperative pool has one thread per core (two on the CI machine); a blocking
/// call there stalls every task. Each connection owns one `BlockingThread`, runs its
/// calls on it in submission order, and async callers suspend on a continuation until
/// the result is back.
public final class BlockingThread: @unchecked Sendable {
    // Guarded by `condition`.
    private let condition = NSCondition()
    private var pending: [@Sendable () -> Void] = []
    private var head = 0
    private var closed = false
    private var finished = false

    public let name: String

    public init(name: String) {
        self.name = name
        let thread = Thread { [self] in self.loop() }
        thread.name = name
        thread.start()
    }

    /// Runs `body` on this thread and returns its result to the awaiting task.
    /// Throws `BlockingThreadError.shutDown` once `shutdown()` was called.
    public func run<T: Sendable>(_ body: @escaping @Sendable () throws -> T) async throws -> T {
        try await withCheckedThrowingContinuation { (continuation: CheckedContinuation<T, Error>) in
            let accepted = enqueue {
                do { continuation.resume(returning: try body()) } catch { continuation.resume(throwing: error) }
            }
            if !accepted { continuation.resume(throwing: BlockingThreadError.shutDown(name)) }
        }
    }

    /// Fire-and-forget submission (used from deinit paths where nobody awaits).
    @discardableResult
    public func submit(_ body: @escaping @Sendable () -> Void) -> Bool {
        enqueue(body)
    }

    /// Stops accepting work; work already queued still runs, then the thread exits.
    public func shutdown() {
        condition.lock()
        closed = true
        condition.broadcast()
        condition.unlock()
    }

    /// Waits (blocking the caller) until the thread has exited. Test and teardown use only.
    public func join() {
        condition.lock()
        while !finished { condition.wait() }
        condition.unlock()
    }

    private func enqueue(_ body: @escaping @Sendable () -> Void) -> Bool {
        condition.lock()
        defer { condition.unlock() }
        if closed { return false }
        pending.append(body)
        condition.signal()
        return true
    }

    private func loop() {
        while true {
            condition.lock()
            while head == pending.count && !closed { condition.wait() }
            if head == pending.count {  // closed and drained
                finished = true
                condition.broadcast()
                condition.unlock()
                return
            }
            let work = pending[head]
            head += 1
            if head > 64 && head * 2 > pending.count {  // compact occasionally
                pending.removeFirst(head)
                head = 0
            }
            condition.unlock()
            work()
        }
    }
}

public enum BlockingThreadError: Error, CustomStringConvertible, Equatable {
    case shutDown(String)

    public var description: String {
        switch self {
        case .shutDown(let name): return "\(name): thread is shut down"
        }
    }
}
