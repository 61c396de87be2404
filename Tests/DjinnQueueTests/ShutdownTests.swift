import DjinnRedis
import DjinnTesting
import Foundation
import Testing

@testable import DjinnQueue

@Suite struct ShutdownTests {
    /// One worker and three slots: A runs, B and C wait reserved in the local buffer.
    @Test func unstartedJobsGoBackAtOnceAndRunningOnesFinishWithinGrace() async throws {
        let client = try await testClient()
        let queue = testQueue()
        let keys = QueueKeys(queue: queue)
        let producer = QueueProducer(client: client, queue: queue)
        let ids = ["A", "B", "C", "D", "E"]
        for id in ids { try await producer.enqueue(bytes(id), id: id) }
        let release = Gate()
        let started = Recorder<String>()
        var options = fastOptions(concurrency: 3)
        options.shutdownGrace = .seconds(20)
        let consumer = RunningConsumer(client: client, queue: queue, options: options, workerCount: 1) { job in
            started.append(job.id)
            try await release.wait()
        }
        #expect(await eventually { started.all == ["A"] })
        #expect(await eventually {
            (try? await client.strings(["SMEMBERS", consumer.consumer.inflightKey]).sorted()) == ["A", "B", "C"]
        })
        #expect(try await client.strings(["LRANGE", keys.active, 0, -1]) == ["D", "E"])

        consumer.consumer.shutdown()
        // B and C are back at the head, in order, right away; A is still held.
        #expect(await eventually(timeout: .seconds(2)) {
            (try? await client.strings(["LRANGE", keys.active, 0, -1])) == ["B", "C", "D", "E"]
        })
        #expect(try await client.strings(["SMEMBERS", consumer.consumer.inflightKey]) == ["A"])
        #expect(try await client.envelope(keys, "B")?.attempt == 0)
        try await Task.sleep(for: .milliseconds(200))
        #expect(started.all == ["A"])  // nothing new started

        release.open()
        try await consumer.task.value
        // A was acked; the consumer is gone from Q:consumers and its set deleted.
        #expect(try await client.integer(["HEXISTS", keys.data, "A"]) == 0)
        #expect(try await client.integer(["ZCARD", keys.consumers]) == 0)
        #expect(try await client.integer(["EXISTS", consumer.consumer.inflightKey]) == 0)
        #expect(try await client.integer(["HLEN", keys.consumerExpiry]) == 0)
        #expect(try await client.strings(["LRANGE", keys.active, 0, -1]) == ["B", "C", "D", "E"])
        await client.close()
    }

    @Test func aHandlerStillRunningAfterGraceIsCancelledAndItsJobRequeued() async throws {
        let client = try await testClient()
        let queue = testQueue()
        let keys = QueueKeys(queue: queue)
        let producer = QueueProducer(client: client, queue: queue)
        try await producer.enqueue([1], id: "slow")
        try await producer.enqueue([2], id: "next")
        var options = fastOptions(concurrency: 1)
        options.shutdownGrace = .milliseconds(300)
        options.maxAttempts = 0  // a failure would kill it: an interruption must not count
        let cancelled = Recorder<String>()
        let started = Gate()
        let consumer = RunningConsumer(client: client, queue: queue, options: options) { job in
            started.open()
            do { try await Task.sleep(for: .seconds(60)) } catch {
                cancelled.append(job.id)
                throw error
            }
        }
        #expect(await eventually { started.isOpen })
        let start = ContinuousClock.now
        try await consumer.stop()
        let took = ContinuousClock.now - start
        #expect(took >= .milliseconds(290) && took < .seconds(5), "\(took)")
        #expect(cancelled.all == ["slow"])
        // Back at the head, attempt unchanged, no error, not dead.
        #expect(try await client.strings(["LRANGE", keys.active, 0, -1]) == ["slow", "next"])
        #expect(try await client.envelope(keys, "slow")?.attempt == 0)
        #expect(try await client.integer(["ZCARD", keys.dead]) == 0)
        #expect(try await client.integer(["HEXISTS", keys.errors, "slow"]) == 0)
        #expect(try await client.integer(["ZCARD", keys.consumers]) == 0)
        await client.close()
    }

    @Test func cancellingTheRunTaskStopsAtOnceAndRequeues() async throws {
        let client = try await testClient()
        let queue = testQueue()
        let keys = QueueKeys(queue: queue)
        try await QueueProducer(client: client, queue: queue).enqueue([1], id: "job")
        var options = fastOptions(concurrency: 2)
        options.shutdownGrace = .seconds(60)
        let started = Gate()
        let consumer = RunningConsumer(client: client, queue: queue, options: options) { _ in
            started.open()
            try await Task.sleep(for: .seconds(60))
        }
        #expect(await eventually { started.isOpen })
        let start = ContinuousClock.now
        consumer.task.cancel()
        try await consumer.task.value
        #expect(ContinuousClock.now - start < .seconds(3))
        #expect(try await client.strings(["LRANGE", keys.active, 0, -1]) == ["job"])
        #expect(try await client.integer(["ZCARD", keys.consumers]) == 0)
        await client.close()
    }

    @Test func aHandlerThatSucceedsDespiteCancellationIsAcked() async throws {
        let client = try await testClient()
        let queue = testQueue()
        let keys = QueueKeys(queue: queue)
        try await QueueProducer(client: client, queue: queue).enqueue([1], id: "stubborn")
        var options = fastOptions()
        options.shutdownGrace = .milliseconds(100)
        let started = Gate()
        let consumer = RunningConsumer(client: client, queue: queue, options: options) { _ in
            started.open()
            // Ignores cancellation and finishes its work.
            await Task.detached { try? await Task.sleep(for: .milliseconds(500)) }.value
        }
        #expect(await eventually { started.isOpen })
        try await consumer.stop()
        #expect(try await client.integer(["HEXISTS", keys.data, "stubborn"]) == 0)
        #expect(try await client.integer(["LLEN", keys.active]) == 0)
        await client.close()
    }

    @Test func shutdownBeforeRunAndRunTwice() async throws {
        let client = try await testClient()
        let queue = testQueue()
        let early = QueueConsumer(client: client, queue: queue, logger: quietLogger) { _ in }
        early.shutdown()
        try await early.run()  // returns at once
        await #expect(throws: QueueConsumerError.alreadyStarted) { try await early.run() }
        #expect(try await client.queueKeys(queue) == [])

        // Shutdown right after start, before any job: returns promptly, nothing left behind.
        let consumer = RunningConsumer(client: client, queue: queue, options: fastOptions()) { _ in }
        #expect(await eventually { (try? await client.integer(["ZCARD", QueueKeys(queue: queue).consumers])) == 1 })
        let start = ContinuousClock.now
        try await consumer.stop()
        #expect(ContinuousClock.now - start < .seconds(2))
        #expect(try await client.queueKeys(queue) == [])
        await client.close()
    }
}
