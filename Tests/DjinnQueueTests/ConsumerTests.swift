import DjinnRedis
import DjinnTesting
import Foundation
import Synchronization
import Testing

@testable import DjinnQueue

@Suite struct ConsumerTests {
    @Test func everyJobIsHandledExactlyOnceByManyConsumers() async throws {
        let client = try await testClient(connections: 8)
        let queue = testQueue()
        let producer = QueueProducer(client: client, queue: queue)
        let consumers = 4, jobsPerConsumer = 2000, total = consumers * jobsPerConsumer
        let seen = Recorder<String>()
        let running = (0..<consumers).map { _ in
            RunningConsumer(client: client, queue: queue, options: fastOptions(concurrency: 8)) { job in
                seen.append(String(decoding: job.data, as: UTF8.self))
            }
        }
        // Producers race the consumers.
        let requests = (0..<total).map { EnqueueRequest(data: bytes("job-\($0)")) }
        for start in stride(from: 0, to: total, by: 500) {
            _ = try await producer.enqueueBatch(Array(requests[start..<min(start + 500, total)]))
        }
        #expect(await eventually(timeout: .seconds(60)) { seen.count >= total })
        try await Task.sleep(for: .milliseconds(300))  // let stragglers show up if there were any
        for consumer in running { try await consumer.stop() }

        let handled = seen.all
        #expect(handled.count == total)
        #expect(Set(handled).count == total)
        #expect(Set(handled) == Set((0..<total).map { "job-\($0)" }))
        // Nothing left: every key of the queue is gone (acks clean the extras, consumers deregister).
        #expect(try await client.queueKeys(queue) == [])
        await client.close()
    }

    @Test func oneConsumerWithOneSlotRunsJobsInEnqueueOrder() async throws {
        let client = try await testClient()
        let queue = testQueue()
        let producer = QueueProducer(client: client, queue: queue)
        _ = try await producer.enqueueBatch((0..<150).map { EnqueueRequest(data: [UInt8($0)]) })
        let order = Recorder<Int>()
        let consumer = RunningConsumer(client: client, queue: queue, options: fastOptions(concurrency: 1)) { job in
            order.append(Int(job.data[0]))
        }
        // More arrive while it runs, one at a time.
        for value in 150..<250 { try await producer.enqueue([UInt8(value)]) }
        #expect(await eventually { order.count == 250 })
        try await consumer.stop()
        #expect(order.all == Array(0..<250))
        await client.close()
    }

    @Test func aRetriedJobWaitsInTheScheduledSetWithAttemptPlusOne() async throws {
        let client = try await testClient()
        let queue = testQueue()
        let keys = QueueKeys(queue: queue)
        var options = fastOptions()
        options.schedulerInterval = .seconds(60)  // keep it in Q:scheduled while we look
        let runs = Recorder<Double>()
        let consumer = RunningConsumer(client: client, queue: queue, options: options) { job in
            runs.append(nowSeconds())
            throw TestFailure(text: "failure \(job.attempt)")
        }
        let job = try await QueueProducer(client: client, queue: queue).enqueue([7])
        var score: Double?
        #expect(await eventually {
            score = try? await client.command(["ZSCORE", keys.scheduled, job.id]).double
            return score != nil
        })
        // Due floor(run + (1 + r) · 2^0 / 2 s): whole seconds, within a second of the run.
        let run = try #require(runs.all.first)
        let due = try #require(score)
        #expect(due >= floor(run) && due <= run + 1, "run \(run), due \(due)")
        #expect(due == due.rounded(.down))
        #expect(try await client.envelope(keys, job.id) == Envelope(id: job.id, data: [7], attempt: 1))
        #expect(try await client.command(["HGET", keys.errors, job.id]).string == "failure 0")
        #expect(try await client.command(["HGET", keys.enqueuedAt, job.id]).int64 == Int64(due) * 1000)
        #expect(try await client.integer(["LLEN", keys.active]) == 0)
        #expect(try await client.integer(["SCARD", consumer.consumer.inflightKey]) == 0)
        try await consumer.stop()
        await client.close()
    }

    @Test func failedJobsRetryWithBackoffThenDieWithTheirLastError() async throws {
        let client = try await testClient()
        let queue = testQueue()
        let keys = QueueKeys(queue: queue)
        var options = fastOptions()
        options.maxAttempts = 2
        let attempts = Recorder<(Int, Double)>()
        let consumer = RunningConsumer(client: client, queue: queue, options: options) { job in
            attempts.append((job.attempt, nowSeconds()))
            throw TestFailure(text: "failure \(job.attempt)")
        }
        let job = try await QueueProducer(client: client, queue: queue).enqueue([7])
        // Runs at most maxAttempts + 1 times, then dies with attempt 3 and the last error.
        #expect(await eventually(timeout: .seconds(15)) {
            (try? await client.command(["ZSCORE", keys.dead, job.id]).double) != nil
        })
        #expect(attempts.all.map(\.0) == [0, 1, 2])
        // Backoff: up to 1 s after the first failure, up to 2 s after the second (whole-second
        // scores, scheduler every 0.1 s).
        let gaps = zip(attempts.all.dropFirst(), attempts.all).map { $0.1 - $1.1 }
        #expect(gaps.count == 2 && gaps[0] < 1.5 && gaps[1] < 2.5, "\(gaps)")
        #expect(try await client.envelope(keys, job.id) == Envelope(id: job.id, data: [7], attempt: 3))
        #expect(try await client.command(["HGET", keys.errors, job.id]).string == "failure 2")
        #expect(try await client.integer(["ZCARD", keys.scheduled]) == 0)
        let dead = try await QueueInspector(client: client).deadJobs(queue: queue)
        #expect(dead.map(\.id) == [job.id] && dead.first?.attempt == 3 && dead.first?.lastError == "failure 2")
        try await consumer.stop()
        await client.close()
    }

    @Test func permanentFailureGoesStraightToTheDeadSet() async throws {
        let client = try await testClient()
        let queue = testQueue()
        let keys = QueueKeys(queue: queue)
        let runs = Recorder<Int>()
        let consumer = RunningConsumer(client: client, queue: queue, options: fastOptions()) { job in
            runs.append(job.attempt)
            throw JobFailure.permanent("payload is not a build")
        }
        let job = try await QueueProducer(client: client, queue: queue).enqueue([1])
        #expect(await eventually { (try? await client.command(["ZSCORE", keys.dead, job.id]).double) != nil })
        #expect(runs.all == [0])
        #expect(try await client.command(["HGET", keys.errors, job.id]).string == "permanent failure: payload is not a build")
        #expect(try await client.envelope(keys, job.id)?.attempt == 1)
        try await consumer.stop()
        await client.close()
    }

    @Test func aHandlerPastItsTimeLimitIsCancelledAndCountsAsFailed() async throws {
        let client = try await testClient()
        let queue = testQueue()
        let keys = QueueKeys(queue: queue)
        var options = fastOptions(concurrency: 2)
        options.maxAttempts = 0
        options.jobTimeout = .seconds(30)
        let cancelled = Recorder<String>()
        let consumer = RunningConsumer(client: client, queue: queue, options: options) { job in
            if job.data == [1] {
                #expect(job.timeout == .milliseconds(200))
                do { try await Task.sleep(for: .seconds(20)) } catch {
                    cancelled.append(job.id)
                    throw error
                }
            }
        }
        let producer = QueueProducer(client: client, queue: queue)
        let slow = try await producer.enqueue([1], timeout: .milliseconds(200))
        let quick = try await producer.enqueue([2])
        let start = ContinuousClock.now
        #expect(await eventually { (try? await client.command(["ZSCORE", keys.dead, slow.id]).double) != nil })
        #expect(ContinuousClock.now - start < .seconds(5))
        #expect(cancelled.all == [slow.id])
        #expect(try await client.command(["HGET", keys.errors, slow.id]).string == "timed out after 0.200s")
        // The quick one (with the 30 s default limit) simply succeeded.
        #expect(await eventually { (try? await client.integer(["HEXISTS", keys.data, quick.id])) == 0 })
        try await consumer.stop()
        await client.close()
    }

    @Test func theDefaultTimeLimitAppliesWithRetries() async throws {
        let client = try await testClient()
        let queue = testQueue()
        let keys = QueueKeys(queue: queue)
        var options = fastOptions()
        options.maxAttempts = 1
        options.jobTimeout = .milliseconds(100)
        let attempts = Recorder<Int>()
        let consumer = RunningConsumer(client: client, queue: queue, options: options) { job in
            attempts.append(job.attempt)
            if job.attempt == 0 { try await Task.sleep(for: .seconds(20)) }
        }
        let job = try await QueueProducer(client: client, queue: queue).enqueue([1])
        #expect(await eventually { attempts.count == 2 })
        #expect(await eventually { (try? await client.integer(["HEXISTS", keys.data, job.id])) == 0 })
        #expect(attempts.all == [0, 1])
        try await consumer.stop()
        await client.close()
    }

    @Test func malformedMessagesDieWithTheReasonAndTheConsumerGoesOn() async throws {
        let client = try await testClient()
        let queue = testQueue()
        let keys = QueueKeys(queue: queue)
        let handled = Recorder<String>()
        let consumer = RunningConsumer(client: client, queue: queue, options: fastOptions()) { job in
            handled.append(job.id)
        }
        // Garbage and a missing message, pushed by hand.
        _ = try await client.command(["HSET", keys.data, "garbage", "this is not msgpack"])
        _ = try await client.command(["RPUSH", keys.active, "garbage", "ghost"])
        let good = try await QueueProducer(client: client, queue: queue).enqueue([1])
        #expect(await eventually { handled.all == [good.id] })
        #expect(await eventually { (try? await client.integer(["ZCARD", keys.dead])) == 2 })
        let garbageError = try await client.command(["HGET", keys.errors, "garbage"]).string ?? ""
        #expect(garbageError.hasPrefix("undecodable message: envelope: expected a map at byte 0"), "\(garbageError)")
        #expect(try await client.command(["HGET", keys.data, "garbage"]).string == "this is not msgpack")  // kept as is
        #expect(try await client.command(["HGET", keys.errors, "ghost"]).string == "message missing from Q:data")
        try await consumer.stop()
        await client.close()
    }

    @Test func goWrittenJobsAreConsumed() async throws {
        let client = try await testClient()
        let queue = testQueue()
        let keys = QueueKeys(queue: queue)
        let id = "6ba7b810-9dad-11d1-80b4-00c04fd430c8"
        // Exactly what Go's curlyq producer does: HSETNX, then RPUSH (spec §3.2 and §3.3), with
        // the BuildPayload gob fixture of §3.6 as data and Attempt 1.
        let payload = hexBytes("2a ff81 03 01 01 07") + bytes("Payload") + hexBytes("01 ff82 00 01 02 01 04") + bytes("Host")
            + hexBytes("01 0c 00 01 07") + bytes("BuildID") + hexBytes("01 04 00 00 00 1b ff82 01 14")
            + bytes("https://djinn-ci.com") + hexBytes("01 54 00")
        #expect(payload.count == 43 + 28)
        let message = hexBytes("83 a2 4944 d9 24") + bytes(id) + hexBytes("a4 44617461 c4")
            + [UInt8(payload.count)] + payload + hexBytes("a7 417474656d7074 d3 0000000000000001")
        #expect(try await client.command(["HSETNX", keys.data, id, message]).int == 1)
        #expect(try await client.command(["RPUSH", keys.active, id]).int == 1)
        let received = Recorder<QueueJob>()
        let consumer = RunningConsumer(client: client, queue: queue, options: fastOptions()) { job in
            received.append(job)
        }
        #expect(await eventually { received.count == 1 })
        let job = try #require(received.all.first)
        #expect(job.id == id && job.attempt == 1 && job.data == payload && job.enqueuedAt == nil)
        #expect(job.envelope == Envelope(id: id, data: payload, attempt: 1))
        // Acked the curlyq way: gone from Q:data and the in-flight set.
        #expect(await eventually { (try? await client.integer(["HLEN", keys.data])) == 0 })
        try await consumer.stop()
        #expect(try await client.queueKeys(queue) == [])
        await client.close()
    }

    @Test func delayedJobsRunWhenDue() async throws {
        let client = try await testClient()
        let queue = testQueue()
        let started = Recorder<Double>()
        let consumer = RunningConsumer(client: client, queue: queue, options: fastOptions()) { _ in
            started.append(nowSeconds())
        }
        let enqueuedAt = nowSeconds()
        try await QueueProducer(client: client, queue: queue).enqueue([1], after: .milliseconds(700))
        #expect(await eventually { started.count == 1 })
        let delay = started.all[0] - enqueuedAt
        #expect(delay >= 0.69 && delay < 2.5, "\(delay)")
        try await consumer.stop()
        await client.close()
    }

    @Test func handlersSeeTheReadyTimeAndManySlotsRunAtOnce() async throws {
        let client = try await testClient()
        let queue = testQueue()
        let active = Atomic<Int>(0)
        let peak = Atomic<Int>(0)
        let times = Recorder<Date?>()
        let consumer = RunningConsumer(client: client, queue: queue, options: fastOptions(concurrency: 6)) { job in
            let now = active.add(1, ordering: .relaxed).newValue
            _ = peak.max(now, ordering: .relaxed)
            times.append(job.enqueuedAt)
            try await Task.sleep(for: .milliseconds(100))
            active.subtract(1, ordering: .relaxed)
        }
        let before = Date()
        _ = try await QueueProducer(client: client, queue: queue).enqueueBatch((0..<24).map { _ in EnqueueRequest(data: [1]) })
        #expect(await eventually { times.count == 24 })
        try await consumer.stop()
        #expect(peak.load(ordering: .relaxed) == 6)
        #expect(times.all.allSatisfy { ($0?.timeIntervalSince(before) ?? -1) > -0.01 && ($0?.timeIntervalSinceNow ?? 1) <= 0 })
        await client.close()
    }
}

struct TestFailure: Error, CustomStringConvertible {
    let text: String
    var description: String { text }
}
