import DjinnRedis
import DjinnTesting
import Testing

@testable import DjinnQueue

/// Each Lua script against its documented contract (QueueScripts.swift, docs/queue.md).
@Suite struct ScriptTests {
    private func message(_ id: String, attempt: Int64 = 0) -> [UInt8] {
        Envelope(id: id, data: [1], attempt: attempt).encoded()
    }

    @Test func reserveTakesFromTheHeadWithoutRotatingAndNeedsRegistration() async throws {
        let client = try await testClient()
        let keys = QueueKeys(queue: testQueue())
        let inflight = keys.inflight(consumerID: "c1")
        let reserveKeys: [any RedisArgumentConvertible] = [keys.consumers, keys.active, inflight, keys.data, keys.enqueuedAt,
                                                           keys.options]
        _ = try await client.pipeline([
            ["RPUSH", keys.active, "a", "b", "c", "d"],
            ["HSET", keys.data, "a", message("a"), "b", message("b"), "d", message("d")],
            ["HSET", keys.enqueuedAt, "a", "1700000000000"],
            ["HSET", keys.options, "b", "timeout_ms=5"],
        ])
        await #expect(throws: RedisError.server("DJINNQ_UNREGISTERED consumer is not registered")) {
            try await client.evalScript(QueueScripts.reserve, keys: reserveKeys, args: [2])
        }
        _ = try await client.command(["ZADD", keys.consumers, 1, inflight])
        let first = try await client.evalScript(QueueScripts.reserve, keys: reserveKeys, args: [3])
        let jobs = try QueueConsumer.reservedJobs(from: first)
        #expect(jobs == [
            ReservedJob(id: "a", message: message("a"), enqueuedAtMilliseconds: 1_700_000_000_000, timeout: nil),
            ReservedJob(id: "b", message: message("b"), enqueuedAtMilliseconds: nil, timeout: .milliseconds(5)),
            ReservedJob(id: "c", message: nil, enqueuedAtMilliseconds: nil, timeout: nil),
        ])
        #expect(try await client.strings(["LRANGE", keys.active, 0, -1]) == ["d"])
        #expect(try await client.strings(["SMEMBERS", inflight]).sorted() == ["a", "b", "c"])
        let rest = try QueueConsumer.reservedJobs(from: try await client.evalScript(QueueScripts.reserve, keys: reserveKeys, args: [3]))
        #expect(rest.map(\.id) == ["d"])
        #expect(try await client.evalScript(QueueScripts.reserve, keys: reserveKeys, args: [3]) == .array([]))
        await client.close()
    }

    @Test func settleAppliesOnlyToJobsStillHeld() async throws {
        let client = try await testClient()
        let keys = QueueKeys(queue: testQueue())
        let inflight = keys.inflight(consumerID: "c1")
        let settleKeys: [any RedisArgumentConvertible] = [inflight, keys.data, keys.scheduled, keys.dead, keys.active, keys.errors,
                                                          keys.deaths, keys.enqueuedAt, keys.options]
        _ = try await client.pipeline([
            ["SADD", inflight, "ack", "retry", "kill", "keep", "requeue1", "requeue2"],
            ["HSET", keys.data, "ack", message("ack"), "retry", message("retry"), "kill", message("kill"),
             "keep", "garbage", "requeue1", message("requeue1"), "requeue2", message("requeue2")],
            ["HSET", keys.errors, "ack", "old"], ["HSET", keys.deaths, "ack", "1"],
            ["HSET", keys.enqueuedAt, "ack", "5", "retry", "5"], ["HSET", keys.options, "ack", "timeout_ms=1"],
            ["RPUSH", keys.active, "other"],
        ])
        let args: [any RedisArgumentConvertible] = [
            1_700_000_000,
            "ack", "ack", "", "", "",
            "retry", "retry", message("retry", attempt: 1), 1_700_000_009, "boom",
            "kill", "kill", message("kill", attempt: 6), "", "dead now",
            "kill", "keep", "", "", "undecodable",
            "requeue", "requeue2", "", "", "",
            "requeue", "requeue1", "", "", "",
            "ack", "not-held", "", "", "",
        ]
        let reply = try await client.evalScript(QueueScripts.settle, keys: settleKeys, args: args)
        #expect(reply == .array([1, 1, 1, 1, 1, 1, 0].map { RESPValue.integer($0) }))
        #expect(try await client.integer(["SCARD", inflight]) == 0)
        // ack: the message and every extra entry are gone
        for key in [keys.data, keys.errors, keys.deaths, keys.enqueuedAt, keys.options] {
            #expect(try await client.integer(["HEXISTS", key, "ack"]) == 0)
        }
        // retry
        #expect(try await client.command(["ZSCORE", keys.scheduled, "retry"]).double == 1_700_000_009)
        #expect(try await client.envelope(keys, "retry")?.attempt == 1)
        #expect(try await client.command(["HGET", keys.errors, "retry"]).string == "boom")
        #expect(try await client.command(["HGET", keys.enqueuedAt, "retry"]).string == "1700000009000")
        // kill, with and without a new message
        #expect(try await client.command(["ZSCORE", keys.dead, "kill"]).double == 1_700_000_000)
        #expect(try await client.envelope(keys, "kill")?.attempt == 6)
        #expect(try await client.command(["HGET", keys.data, "keep"]).string == "garbage")
        #expect(try await client.command(["HGET", keys.errors, "keep"]).string == "undecodable")
        // requeue: at the head, in the order that leaves requeue1 first
        #expect(try await client.strings(["LRANGE", keys.active, 0, -1]) == ["requeue1", "requeue2", "other"])
        // Settling again changes nothing.
        let again = try await client.evalScript(QueueScripts.settle, keys: settleKeys, args: args)
        #expect(again == .array([0, 0, 0, 0, 0, 0, 0].map { RESPValue.integer($0) }))
        #expect(try await client.integer(["LLEN", keys.active]) == 3)
        await client.close()
    }

    @Test func enqueueDueMovesOnlyDueJobsToTheTail() async throws {
        let client = try await testClient()
        let keys = QueueKeys(queue: testQueue())
        _ = try await client.pipeline([
            ["ZADD", keys.scheduled, 10, "b", 5, "a", 20.5, "c", 30, "d"],
            ["RPUSH", keys.active, "x"],
        ])
        #expect(try await client.evalScript(QueueScripts.enqueueDue, keys: [keys.scheduled, keys.active], args: ["20.5", 2]).int == 2)
        #expect(try await client.evalScript(QueueScripts.enqueueDue, keys: [keys.scheduled, keys.active], args: ["20.5", 2]).int == 1)
        #expect(try await client.strings(["LRANGE", keys.active, 0, -1]) == ["x", "a", "b", "c"])
        #expect(try await client.strings(["ZRANGE", keys.scheduled, 0, -1]) == ["d"])
        await client.close()
    }

    @Test func custodianRequeuesAtTheHeadCountsDeathsAndRespectsEachConsumersExpiry() async throws {
        let client = try await testClient()
        let keys = QueueKeys(queue: testQueue())
        let now = 1_000_000
        let me = keys.inflight(consumerID: "me")
        let ours = keys.inflight(consumerID: "ours-dead")
        let oursAlive = keys.inflight(consumerID: "ours-alive")
        let goAlive = keys.inflight(consumerID: "go-alive")
        let goDead = keys.inflight(consumerID: "go-dead")
        let gone = keys.inflight(consumerID: "gone")
        _ = try await client.pipeline([
            ["ZADD", keys.consumers, now - 100, me, now - 15, ours, now - 14, oursAlive, now - 119, goAlive, now - 120, goDead],
            ["HSET", keys.consumerExpiry, me, 15, ours, 15, oursAlive, 15, gone, 15],
            ["SADD", me, "mine"], ["SADD", ours, "o1", "o2"], ["SADD", oursAlive, "alive"], ["SADD", goAlive, "g1"],
            ["SADD", goDead, "g2", "vanished"],
            ["HSET", keys.data, "mine", "m", "o1", "m", "o2", "m", "alive", "m", "g1", "m", "g2", "m"],
            ["HSET", keys.deaths, "o2", 2],
            ["RPUSH", keys.active, "queued"],
        ])
        let recoverKeys: [any RedisArgumentConvertible] = [keys.consumers, keys.consumerExpiry, keys.active, keys.dead, keys.data,
                                                           keys.errors, keys.deaths]
        // First pass: stale consumers are only reported, with their scores.
        let seen = try await client.evalScript(QueueScripts.recoverOrphans, keys: recoverKeys, args: [now, me, 100, 120, 3])
        #expect(seen == .array([.integer(0), .integer(0), .integer(0), .bulk(string: goDead), .bulk(string: "\(now - 120)"),
                                .bulk(string: ours), .bulk(string: "\(now - 15)")]))
        #expect(try await client.integer(["LLEN", keys.active]) == 1)
        // A confirmation with another score (the consumer heartbeated meanwhile) is no confirmation.
        let moved = try await client.evalScript(QueueScripts.recoverOrphans, keys: recoverKeys,
                                                args: [now, me, 100, 120, 3, ours, now - 30])
        #expect(moved.array?.prefix(3) == [.integer(0), .integer(0), .integer(0)])
        // Confirmed with the same scores: dead.
        let reply = try await client.evalScript(QueueScripts.recoverOrphans, keys: recoverKeys,
                                                args: [now, me, 100, 120, 3, ours, now - 15, goDead, now - 120])
        #expect(reply == .array([.integer(2), .integer(1), .integer(2)]))
        // o1 and g2 back at the head; o2 died a third time; "vanished" had no data: dropped.
        let head = try await client.strings(["LRANGE", keys.active, 0, -1])
        #expect(Set(head.prefix(2)) == ["o1", "g2"] && head.last == "queued" && head.count == 3)
        #expect(try await client.command(["ZSCORE", keys.dead, "o2"]).int == now)
        #expect(try await client.command(["HGET", keys.errors, "o2"]).string
            == "poison pill: consumers died 3 times while holding the job")
        #expect(try await client.command(["HGET", keys.deaths, "o1"]).int == 1)
        // The caller, live consumers and Go consumers younger than 120 s are untouched.
        #expect(try await client.strings(["ZRANGE", keys.consumers, 0, -1]).sorted() == [goAlive, me, oursAlive].sorted())
        #expect(try await client.strings(["SMEMBERS", me]) == ["mine"])
        #expect(try await client.strings(["SMEMBERS", goAlive]) == ["g1"])
        // Expiry entries of removed consumers (and of ones gone without us) are dropped.
        #expect(try await client.strings(["HKEYS", keys.consumerExpiry]).sorted() == [me, oursAlive].sorted())

        // The job limit: one job per pass, the consumer stays until drained.
        _ = try await client.pipeline([["ZADD", keys.consumers, 0, ours], ["SADD", ours, "p1", "p2"],
                                       ["HSET", keys.data, "p1", "m", "p2", "m"]])
        let drain: [any RedisArgumentConvertible] = [now, me, 1, 120, 0, ours, 0]
        let stillThere: [RESPValue] = [.bulk(string: ours), .bulk(string: "0")]
        #expect(try await client.evalScript(QueueScripts.recoverOrphans, keys: recoverKeys, args: drain)
            == .array([.integer(1), .integer(0), .integer(0)] + stillThere))
        #expect(try await client.command(["ZSCORE", keys.consumers, ours]).int == 0)
        #expect(try await client.evalScript(QueueScripts.recoverOrphans, keys: recoverKeys, args: drain)
            == .array([.integer(1), .integer(0), .integer(0)] + stillThere))
        #expect(try await client.evalScript(QueueScripts.recoverOrphans, keys: recoverKeys, args: drain)
            == .array([.integer(0), .integer(0), .integer(1)]))
        await client.close()
    }

    @Test func heartbeatsAndTheCustodianUseTheServersClock() async throws {
        let client = try await testClient()
        let keys = QueueKeys(queue: testQueue())
        let me = keys.inflight(consumerID: "me"), other = keys.inflight(consumerID: "other")
        let serverNow = Double(try await client.strings(["TIME"])[0])!
        let written = try await client.evalScript(QueueScripts.heartbeat, keys: [keys.consumers, keys.consumerExpiry], args: [other, 15])
        #expect(Double(written.int ?? 0) >= serverNow && Double(written.int ?? 0) <= serverNow + 2)
        #expect(try await client.command(["ZSCORE", keys.consumers, other]).int == written.int)
        #expect(try await client.command(["HGET", keys.consumerExpiry, other]).int == 15)
        let recoverKeys: [any RedisArgumentConvertible] = [keys.consumers, keys.consumerExpiry, keys.active, keys.dead, keys.data,
                                                           keys.errors, keys.deaths]
        // Fresh by the server's clock: not dead.
        #expect(try await client.evalScript(QueueScripts.recoverOrphans, keys: recoverKeys, args: ["", me, 10, 120, 3])
            == .array([.integer(0), .integer(0), .integer(0)]))
        // 16 s old by the server's clock: stale, and dead once confirmed.
        _ = try await client.command(["ZADD", keys.consumers, Int(serverNow) - 16, other])
        #expect(try await client.evalScript(QueueScripts.recoverOrphans, keys: recoverKeys, args: ["", me, 10, 120, 3])
            == .array([.integer(0), .integer(0), .integer(0), .bulk(string: other), .bulk(string: "\(Int(serverNow) - 16)")]))
        #expect(try await client.evalScript(QueueScripts.recoverOrphans, keys: recoverKeys,
                                            args: ["", me, 10, 120, 3, other, Int(serverNow) - 16])
            == .array([.integer(0), .integer(0), .integer(1)]))
        await client.close()
    }

    @Test func reconcileAndDeregisterPutUnknownJobsBack() async throws {
        let client = try await testClient()
        let keys = QueueKeys(queue: testQueue())
        let inflight = keys.inflight(consumerID: "c")
        _ = try await client.pipeline([
            ["SADD", inflight, "known1", "known2", "lost"], ["RPUSH", keys.active, "next"],
            ["ZADD", keys.consumers, 1, inflight], ["HSET", keys.consumerExpiry, inflight, 15],
        ])
        #expect(try await client.evalScript(QueueScripts.reconcile, keys: [inflight, keys.active], args: ["known1", "known2"]).int == 1)
        #expect(try await client.strings(["LRANGE", keys.active, 0, -1]) == ["lost", "next"])
        #expect(try await client.strings(["SMEMBERS", inflight]).sorted() == ["known1", "known2"])
        let requeued = try await client.evalScript(
            QueueScripts.deregister, keys: [keys.consumers, keys.consumerExpiry, inflight, keys.active], args: [inflight])
        #expect(requeued.int == 2)
        #expect(try await client.integer(["LLEN", keys.active]) == 4)
        #expect(try await client.queueKeys(keys.queue) == [keys.active])
        await client.close()
    }
}
