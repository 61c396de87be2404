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
        // More sleepers than cooperative threads: if they ran on the pool they would serialise.
        let threads = (0..<8).map { BlockingThread(name: "sleeper-\($0)") }
        defer { threads.forEach { $0.shutdown() } }
        let start = ContinuousClock.now
        try await withThrowingTaskGroup(of: Void.self) { group in
            for t in threads { group.addTask { try await t.run { _ = usleep(300_000) } } }
            try await group.waitForAll()
        }
        #expect(ContinuousClock.now - start < .milliseconds(1500))
    }

    @Test func rejectsWorkAfterShutdown() async throws {
        let thread = BlockingThread(name: "test-shutdown")
        thread.shutdown()
        thread.join()
        await #expect(throws: BlockingThreadError.shutDown("test-shutdown")) { try await thread.run { 1 } }
    }
}
