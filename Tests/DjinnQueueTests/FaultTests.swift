import DjinnRedis
import DjinnTesting
import Foundation
import Testing

@testable import DjinnQueue

@Suite struct FaultTests {
    /// A consumer that dies mid-job (no cleanup, heartbeat stops): another consumer's
    /// custodian puts the job back and it completes there.
    @Test func aCrashedConsumersJobCompletesOnAnotherConsumer() async throws {
        let client = try await testClient()
        let queue = testQueue()
        let keys = QueueKeys(queue: queue)
        try await QueueProducer(client: client, queue: queue).enqueue([1], id: "X")
        let startedOnA = Gate()
        let a = RunningConsumer(client: client, queue: queue, options: fastOptions()) { _ in
            startedOnA.open()
            try await Task.sleep(for: .seconds(120))
        }
        #expect(await eventually { startedOnA.isOpen })
        try await a.crash()
        let crashedAt = ContinuousClock.now
        #expect(try await client.strings(["SMEMBERS", a.consumer.inflightKey]) == ["X"])

        let deathsSeen = Recorder<Int>()
        let completed = Gate()
        let b = RunningConsumer(client: client, queue: queue, options: fastOptions()) { job in
            deathsSeen.append(try await client.command(["HGET", keys.deaths, job.id]).int ?? 0)
            completed.open()
        }
        #expect(await eventually(timeout: .seconds(30)) { completed.isOpen })
        let recovery = ContinuousClock.now - crashedAt
        // Expiry 2 s (+1 s of whole-second scores), custodian every 0.3 s, confirmation 2.5 s.
        #expect(recovery < .seconds(8), "\(recovery)")
        #expect(deathsSeen.all == [1])
        // A is gone from the registry; X was acked and its extras cleaned.
        #expect(await eventually { (try? await client.integer(["HLEN", keys.data])) == 0 })
        #expect(try await client.integer(["HEXISTS", keys.deaths, "X"]) == 0)
        #expect(try await client.command(["ZSCORE", keys.consumers, a.consumer.inflightKey]).isNull)
        #expect(try await client.integer(["EXISTS", a.consumer.inflightKey]) == 0)
        #expect(try await client.integer(["HEXISTS", keys.consumerExpiry, a.consumer.inflightKey]) == 0)
        try await b.stop()
        #expect(try await client.queueKeys(queue) == [])
        await client.close()
    }

    /// Each consumer that takes the job dies; on the third death the job goes to the dead set
    /// instead of being requeued again.
    @Test func aJobWhoseConsumersKeepDyingIsAPoisonPill() async throws {
        let client = try await testClient()
        let queue = testQueue()
        let keys = QueueKeys(queue: queue)
        try await QueueProducer(client: client, queue: queue).enqueue([1], id: "poison")
        let starts = Recorder<String>()
        let handler: QueueConsumer.Handler = { job in
            starts.append(job.id)
            try await Task.sleep(for: .seconds(120))
        }
        for death in 1...3 {
            let victim = RunningConsumer(client: client, queue: queue, options: fastOptions(), handler: handler)
            #expect(await eventually(timeout: .seconds(20)) { starts.count == death })
            try await victim.crash()
        }
        let survivor = RunningConsumer(client: client, queue: queue, options: fastOptions(), handler: handler)
        #expect(await eventually(timeout: .seconds(20)) {
            (try? await client.command(["ZSCORE", keys.dead, "poison"]).double) != nil
        })
        #expect(starts.count == 3)
        #expect(try await client.command(["HGET", keys.errors, "poison"]).string
            == "poison pill: consumers died 3 times while holding the job")
        #expect(try await client.command(["HGET", keys.deaths, "poison"]).int == 3)
        #expect(try await client.envelope(keys, "poison")?.attempt == 0)
        #expect(try await client.integer(["LLEN", keys.active]) == 0)
        // Only the survivor is still registered.
        #expect(await eventually { (try? await client.integer(["ZCARD", keys.consumers])) == 1 })
        let detail = try #require(try await QueueInspector(client: client).deadJob(queue: queue, id: "poison"))
        #expect(detail.deaths == 3)
        try await survivor.stop()
        await client.close()
    }

    /// Go v0.4.0 consumers heartbeat every 60 s and record no expiry: they are only dead
    /// after 120 s, whatever our own expiry is.
    @Test func goConsumersAreGivenGosExpiry() async throws {
        let client = try await testClient()
        let queue = testQueue()
        let keys = QueueKeys(queue: queue)
        let now = Int(nowSeconds())
        let message = Envelope(id: "j", data: [1], attempt: 0).encoded()
        let busyGo = keys.inflight(consumerID: "go-busy")
        let deadGo = keys.inflight(consumerID: "go-dead")
        _ = try await client.pipeline([
            ["HSET", keys.data, "busy-job", message, "orphan", message],
            ["ZADD", keys.consumers, now - 60, busyGo, now - 121, deadGo],
            ["SADD", busyGo, "busy-job"],
            ["SADD", deadGo, "orphan"],
        ])
        let handled = Recorder<String>()
        let consumer = RunningConsumer(client: client, queue: queue, options: fastOptions()) { job in
            handled.append(job.id)
        }
        #expect(await eventually { handled.all == ["orphan"] })
        try await Task.sleep(for: .seconds(1))  // a few more custodian passes
        #expect(handled.all == ["orphan"])
        #expect(try await client.strings(["SMEMBERS", busyGo]) == ["busy-job"])
        #expect(try await client.command(["ZSCORE", keys.consumers, busyGo]).int == now - 60)
        #expect(try await client.command(["ZSCORE", keys.consumers, deadGo]).isNull)
        try await consumer.stop()
        await client.close()
    }

    /// A stale consumer is taken for dead only if it is still stale, with the same heartbeat,
    /// after the confirmation delay (after an outage every heartbeat is stale, live
    /// consumers' too, until they get through again).
    @Test func aStaleConsumerIsConfirmedDeadBeforeItsJobsAreTaken() async throws {
        let client = try await testClient()
        let queue = testQueue()
        let keys = QueueKeys(queue: queue)
        let stale = keys.inflight(consumerID: "stale")
        _ = try await client.pipeline([
            ["HSET", keys.data, "orphan", Envelope(id: "orphan", data: [1], attempt: 0).encoded()],
            ["ZADD", keys.consumers, Int(nowSeconds()) - 60, stale],
            ["HSET", keys.consumerExpiry, stale, 2],
            ["SADD", stale, "orphan"],
        ])
        let handledAt = Recorder<ContinuousClock.Instant>()
        let startedAt = ContinuousClock.now
        let consumer = RunningConsumer(client: client, queue: queue, options: fastOptions()) { _ in
            handledAt.append(.now)
        }
        #expect(await eventually { handledAt.count == 1 })
        let delay = try #require(handledAt.all.first) - startedAt
        let confirmation = consumer.consumer.deathConfirmationDelay
        #expect(delay >= confirmation && delay < confirmation + .seconds(2), "\(delay)")
        try await consumer.stop()
        await client.close()
    }

    @Test func aConsumerTakenForDeadRegistersAgainAndGoesOn() async throws {
        let client = try await testClient()
        let queue = testQueue()
        let keys = QueueKeys(queue: queue)
        var options = fastOptions()
        options.heartbeatInterval = .seconds(60)  // only the reserve script notices
        options.consumerExpiry = .seconds(120)
        let handled = Recorder<String>()
        let consumer = RunningConsumer(client: client, queue: queue, options: options) { job in
            handled.append(job.id)
        }
        #expect(await eventually { (try? await client.integer(["ZCARD", keys.consumers])) == 1 })
        // A custodian somewhere removed it.
        _ = try await client.command(["ZREM", keys.consumers, consumer.consumer.inflightKey])
        try await QueueProducer(client: client, queue: queue).enqueue([1], id: "after")
        #expect(await eventually { handled.all == ["after"] })
        #expect(try await client.command(["ZSCORE", keys.consumers, consumer.consumer.inflightKey]).double != nil)
        try await consumer.stop()
        await client.close()
    }

    /// Redis is down longer than the consumers' expiry while they run jobs: afterwards every
    /// heartbeat is stale, but nothing runs twice and nothing is lost.
    @Test func anOutageLongerThanTheExpiryMakesNoLiveConsumerLookDead() async throws {
        let services = try await PrivateServices.start(postgres: false)
        do {
            let client = try await RedisClient.connect(services.endpoints.redisConfiguration, logger: quietLogger)
            let queue = testQueue()
            let keys = QueueKeys(queue: queue)
            let started = Recorder<String>()
            let finished = Recorder<String>()
            // Custodians often, heartbeats rarely: right after the restart a custodian would
            // find the other consumer's heartbeat stale if it did not wait.
            var options = fastOptions(concurrency: 2)
            options.heartbeatInterval = .seconds(1)
            options.custodianInterval = .milliseconds(100)
            let consumers = (0..<2).map { _ in
                RunningConsumer(client: client, queue: queue, options: options) { job in
                    started.append(job.id)
                    try await Task.sleep(for: .seconds(5))
                    finished.append(job.id)
                }
            }
            _ = try await QueueProducer(client: client, queue: queue).enqueueBatch(
                (0..<4).map { EnqueueRequest(data: [1], id: "job-\($0)") })
            #expect(await eventually { started.count == 4 })
            try await services.stopRedis()
            try await Task.sleep(for: .seconds(3))  // > consumerExpiry (2 s)
            try await services.startRedis()
            #expect(await eventually(timeout: .seconds(30)) { finished.count == 4 })
            #expect(await eventually { (try? await client.integer(["HLEN", keys.data])) == 0 })
            try await Task.sleep(for: .seconds(3))  // custodian passes after the restart
            #expect(started.all.sorted() == (0..<4).map { "job-\($0)" })
            #expect(try await client.integer(["LLEN", keys.active]) == 0)
            for consumer in consumers { try await consumer.stop() }
            await client.close()
            try await services.shutdown()
        } catch {
            try? await services.shutdown()
            throw error
        }
    }

    /// Jobs keep flowing while the Redis server is stopped and started again: consumers and
    /// producers resume, every job is handled, nothing is lost (the test Redis runs with
    /// appendonly).
    @Test func aRedisRestartMidStreamLosesNothing() async throws {
        let services = try await PrivateServices.start(postgres: false)
        do {
            let client = try await RedisClient.connect(services.endpoints.redisConfiguration, logger: quietLogger,
                                                       maximumConnections: 6)
            let queue = testQueue()
            let keys = QueueKeys(queue: queue)
            let handled = Recorder<String>()
            let consumers = (0..<2).map { _ in
                RunningConsumer(client: client, queue: queue, options: fastOptions(concurrency: 4)) { job in
                    handled.append(job.id)
                    try await Task.sleep(for: .milliseconds(Int.random(in: 0...3)))
                }
            }
            let total = 3000
            let enqueued = Recorder<Int>()
            let producer = Task {
                let producer = QueueProducer(client: client, queue: queue)
                for start in stride(from: 0, to: total, by: 25) {
                    let batch = (start..<min(start + 25, total)).map { EnqueueRequest(data: [1], id: "job-\($0)") }
                    // Unknown outcome on a connection error: send again, the ids de-duplicate.
                    while (try? await producer.enqueueBatch(batch)) == nil {
                        try? await Task.sleep(for: .milliseconds(100))
                    }
                    enqueued.append(batch.count)
                    try? await Task.sleep(for: .milliseconds(2))
                }
            }
            #expect(await eventually { enqueued.count >= 20 })
            let enqueuedBeforeOutage = enqueued.count
            try await services.stopRedis()
            try await Task.sleep(for: .milliseconds(800))
            try await services.startRedis()
            await producer.value
            #expect(enqueuedBeforeOutage < total / 25, "the outage happened mid-stream")

            let expected = Set((0..<total).map { "job-\($0)" })
            #expect(await eventually(timeout: .seconds(60)) { Set(handled.all).isSuperset(of: expected) })
            for consumer in consumers { try await consumer.stop() }
            let all = handled.all
            #expect(Set(all) == expected)
            // At-least-once: a few may run twice (e.g. an ack lost with the server).
            #expect(all.count - expected.count < 100, "\(all.count - expected.count) duplicates")
            #expect(try await client.integer(["LLEN", keys.active]) == 0)
            #expect(try await client.integer(["HLEN", keys.data]) == 0)
            #expect(try await client.integer(["ZCARD", keys.dead]) == 0)
            #expect(try await client.integer(["ZCARD", keys.consumers]) == 0)
            await client.close()
            try await services.shutdown()
        } catch {
            try? await services.shutdown()
            throw error
        }
    }
}
