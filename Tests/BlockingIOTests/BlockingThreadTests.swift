import Foundation
import Testing
@testable import BlockingIO

@Suite struct BlockingThreadTests {
    @Test func runsWorkInSubmissionOrderOffTheCallerThread() async throws {
        let thread = BlockingThread(name: "test-order")
        defer { thread.shutdown() }
        let other = BlockingThread(name: "test-other")
        defer { other.shutdown() }
        let first = try await thread.run { UInt(pthread_self()) }
        let second = try await thread.run { UInt(pthread_self()) }
        let elsewhere = try await other.run { UInt(pthread_self()) }
        #expect(first == second)
        #expect(first != elsewhere)
        var results: [Int] = []
        for i in 0..<100 { results.append(try await thread.run { i }) }
        #expect(results == Array(0..<100))
    }

    @Test func propagatesErrors() async throws {
        struct Boom: Error {}
        let thread = BlockingThread(name: "test-error")
        defer { thread.shutdown() }
        await #expect(throws: Boom.self) { try await thread.run { throw Boom() } }
    }

    @Test func blockingCallsDoNotStallTheCooperativePool() async throws {
        // Eight blocking calls that each return only once all eight are blocked at the same
        // time: with more calls than cooperative threads (two here) that is only possible
        // when each runs on a thread of its own. Serialised, every wait would time out.
        let threads = (0..<8).map { BlockingThread(name: "barrier-\($0)") }
        defer { threads.forEach { $0.shutdown() } }
        let barrier = CountingBarrier(parties: 8)
        let met = try await withThrowingTaskGroup(of: Bool.self) { group in
            for t in threads { group.addTask { try await t.run { barrier.arriveAndWait(timeout: 20) } } }
            return try await group.reduce(true) { $0 && $1 }
        }
        #expect(met)
    }

    @Test func rejectsWorkAfterShutdown() async throws {
        let thread = BlockingThread(name: "test-shutdown")
        thread.shutdown()
        thread.join()
        await #expect(throws: BlockingThreadError.shutDown("test-shutdown")) { try await thread.run { 1 } }
    }
}

/// Blocks each arriving thread until `parties` threads have arrived (or the timeout passes).
final class CountingBarrier: @unchecked Sendable {
    private let condition = NSCondition()
    private var arrived = 0
    private let parties: Int

    init(parties: Int) { self.parties = parties }

    /// True when every party arrived before `timeout` seconds.
    func arriveAndWait(timeout: TimeInterval) -> Bool {
        condition.lock()
        defer { condition.unlock() }
        arrived += 1
        condition.broadcast()
        let deadline = Date(timeIntervalSinceNow: timeout)
        while arrived < parties {
            if !condition.wait(until: deadline) { return arrived >= parties }
        }
        return true
    }
}
