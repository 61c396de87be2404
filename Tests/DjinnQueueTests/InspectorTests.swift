import DjinnRedis
import DjinnTesting
import Foundation
import Testing

@testable import DjinnQueue

@Suite struct InspectorTests {
    @Test func statsCountEveryPartOfAQueue() async throws {
        let client = try await testClient()
        let queue = testQueue()
        let keys = QueueKeys(queue: queue)
        let inspector = QueueInspector(client: client)
        let empty = try await inspector.stats(queue: queue)
        #expect(empty == QueueStats(queue: queue, ready: 0, scheduled: 0, inFlight: 0, dead: 0, consumers: 0,
                                    liveConsumers: 0, oldestReadyAge: nil))

        let producer = QueueProducer(client: client, queue: queue)
        try await producer.enqueue([1], id: "first")
        try await producer.enqueue([2], id: "second")
        try await producer.enqueue([3], id: "later", after: .seconds(600))
        // The head was ready 5 s ago.
        let readyAt = Int64(nowSeconds() * 1000) - 5000
        _ = try await client.command(["HSET", keys.enqueuedAt, "first", readyAt])
        let now = Int(nowSeconds())
        let live = keys.inflight(consumerID: "live"), stale = keys.inflight(consumerID: "stale")
        let goLive = keys.inflight(consumerID: "go")
        _ = try await client.pipeline([
            ["ZADD", keys.consumers, now, live, now - 60, stale, now - 60, goLive],
            ["HSET", keys.consumerExpiry, live, 15, stale, 15],
            ["SADD", live, "x", "y"], ["SADD", stale, "z"],
            ["ZADD", keys.dead, now, "dead-1"],
        ])
        let stats = try await inspector.stats(queue: queue)
        #expect(stats.ready == 2 && stats.scheduled == 1 && stats.inFlight == 3 && stats.dead == 1)
        #expect(stats.consumers == 3 && stats.liveConsumers == 2)
        let age = try #require(stats.oldestReadyAge)
        #expect(age >= .seconds(5) && age < .seconds(7), "\(age)")

        // A job from a Go producer at the head: age unknown.
        _ = try await client.command(["LPUSH", keys.active, "from-go"])
        #expect(try await inspector.stats(queue: queue).oldestReadyAge == nil)
        await client.close()
    }

    @Test func queuesAreDiscoveredByTheirKeys() async throws {
        let client = try await testClient()
        let prefix = testKeyPrefix("discover")
        _ = try await QueueProducer(client: client, queue: prefix + "builds_docker").enqueue([1])
        _ = try await client.command(["RPUSH", prefix + "only-active:active", "x"])
        _ = try await client.command(["SET", prefix + "not-a-queue:data", "string"])
        let names = try await QueueInspector(client: client).queueNames().filter { $0.hasPrefix(prefix) }
        #expect(names == [prefix + "builds_docker", prefix + "only-active"])
        let all = try await QueueInspector(client: client).stats().filter { $0.queue.hasPrefix(prefix) }
        #expect(all.map(\.ready) == [1, 1])
        await client.close()
    }

    @Test func deadJobsCanBeListedShownRetriedAndPurged() async throws {
        let client = try await testClient()
        let queue = testQueue()
        let keys = QueueKeys(queue: queue)
        let inspector = QueueInspector(client: client)
        // Three dead jobs: killed by a consumer, killed by Go (no error), and one with garbage.
        _ = try await client.pipeline([
            ["HSET", keys.data, "a", Envelope(id: "a", data: [1, 2], attempt: 3).encoded(),
             "b", Envelope(id: "b", data: [3], attempt: 6).encoded(), "c", "garbage"],
            ["ZADD", keys.dead, 1_700_000_000, "a", 1_700_000_100, "b", 1_700_000_200, "c"],
            ["HSET", keys.errors, "a", "build failed", "c", "undecodable message"],
            ["HSET", keys.deaths, "a", 2],
            ["HSET", keys.options, "a", "timeout_ms=100"],
        ])
        let listed = try await inspector.deadJobs(queue: queue)
        #expect(listed == [
            DeadJob(id: "c", attempt: nil, diedAt: Date(timeIntervalSince1970: 1_700_000_200), lastError: "undecodable message"),
            DeadJob(id: "b", attempt: 6, diedAt: Date(timeIntervalSince1970: 1_700_000_100), lastError: nil),
            DeadJob(id: "a", attempt: 3, diedAt: Date(timeIntervalSince1970: 1_700_000_000), lastError: "build failed"),
        ])
        #expect(try await inspector.deadJobs(queue: queue, offset: 1, limit: 1).map(\.id) == ["b"])
        #expect(try await inspector.deadJobs(queue: queue, limit: 0) == [])

        let a = try #require(try await inspector.deadJob(queue: queue, id: "a"))
        #expect(a.envelope == Envelope(id: "a", data: [1, 2], attempt: 3) && a.payload == [1, 2])
        #expect(a.lastError == "build failed" && a.deaths == 2 && a.decodeError == nil)
        #expect(a.message == Envelope(id: "a", data: [1, 2], attempt: 3).encoded())
        let c = try #require(try await inspector.deadJob(queue: queue, id: "c"))
        #expect(c.envelope == nil && c.message == bytes("garbage") && c.decodeError?.hasPrefix("envelope: ") == true)
        #expect(try await inspector.deadJob(queue: queue, id: "nope") == nil)

        // Retry: attempt 0, error and deaths cleared, at the tail of Q:active, options kept.
        _ = try await client.command(["RPUSH", keys.active, "waiting"])
        #expect(try await inspector.retryDeadJob(queue: queue, id: "a"))
        #expect(try await client.strings(["LRANGE", keys.active, 0, -1]) == ["waiting", "a"])
        #expect(try await client.envelope(keys, "a") == Envelope(id: "a", data: [1, 2], attempt: 0))
        #expect(try await client.integer(["HEXISTS", keys.errors, "a"]) == 0)
        #expect(try await client.integer(["HEXISTS", keys.deaths, "a"]) == 0)
        #expect(try await client.command(["HGET", keys.options, "a"]).string == "timeout_ms=100")
        #expect(try await client.command(["ZSCORE", keys.dead, "a"]).isNull)
        #expect(try await inspector.retryDeadJob(queue: queue, id: "a") == false)
        await #expect(throws: QueueInspectorError.self) { try await inspector.retryDeadJob(queue: queue, id: "c") }

        // Purge one, then all.
        #expect(try await inspector.purgeDeadJob(queue: queue, id: "b"))
        #expect(try await inspector.purgeDeadJob(queue: queue, id: "b") == false)
        #expect(try await client.integer(["HEXISTS", keys.data, "b"]) == 0)
        _ = try await client.command(["ZADD", keys.dead, 1, "d", 2, "e"])
        #expect(try await inspector.purgeDeadJobs(queue: queue) == 3)
        #expect(try await client.integer(["ZCARD", keys.dead]) == 0)
        #expect(try await client.integer(["HLEN", keys.errors]) == 0)
        #expect(try await client.strings(["HKEYS", keys.data]) == ["a"])
        await client.close()
    }

    @Test func aRetriedDeadJobRunsAgain() async throws {
        let client = try await testClient()
        let queue = testQueue()
        let keys = QueueKeys(queue: queue)
        let succeed = Gate()
        let runs = Recorder<Int>()
        let consumer = RunningConsumer(client: client, queue: queue, options: fastOptions()) { job in
            runs.append(job.attempt)
            if !succeed.isOpen { throw JobFailure.permanent("not yet") }
        }
        let job = try await QueueProducer(client: client, queue: queue).enqueue([1])
        #expect(await eventually { (try? await client.integer(["ZCARD", keys.dead])) == 1 })
        let inspector = QueueInspector(client: client)
        #expect(try await inspector.stats(queue: queue).dead == 1)
        #expect(try await inspector.deadJobs(queue: queue).first?.lastError == "permanent failure: not yet")
        succeed.open()
        #expect(try await inspector.retryDeadJob(queue: queue, id: job.id))
        #expect(await eventually { (try? await client.integer(["HLEN", keys.data])) == 0 })
        #expect(runs.all == [0, 0])
        try await consumer.stop()
        #expect(try await client.queueKeys(queue) == [])
        await client.close()
    }

    @Test func sweepDropsExtrasOfJobsAckedElsewhere() async throws {
        let client = try await testClient()
        let queue = testQueue()
        let keys = QueueKeys(queue: queue)
        try await QueueProducer(client: client, queue: queue).enqueue([1], id: "live", timeout: .seconds(1))
        try await QueueProducer(client: client, queue: queue).enqueue([1], id: "acked-by-go", timeout: .seconds(1))
        // A Go consumer acks: SREM + HDEL Q:data only.
        _ = try await client.command(["HDEL", keys.data, "acked-by-go"])
        _ = try await client.command(["HSET", keys.errors, "acked-by-go", "x"])
        #expect(try await QueueInspector(client: client).sweepExtras(queue: queue) == 3)
        #expect(try await client.strings(["HKEYS", keys.enqueuedAt]) == ["live"])
        #expect(try await client.strings(["HKEYS", keys.options]) == ["live"])
        #expect(try await client.integer(["HLEN", keys.errors]) == 0)
        await client.close()
    }
}
