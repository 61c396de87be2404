import DjinnRedis
import DjinnTesting
import Foundation
import Testing

@testable import DjinnQueue

@Suite struct ProducerTests {
    @Test func enqueueWritesCurlyqsExactLayout() async throws {
        let client = try await testClient()
        let queue = testQueue()
        let keys = QueueKeys(queue: queue)
        let producer = QueueProducer(client: client, queue: queue)
        let before = Int64(nowSeconds() * 1000)
        let result = try await producer.enqueue([1, 2, 3])
        #expect(result.enqueued)
        // A generated id is a lowercase UUID v4.
        #expect(result.id.count == 36 && result.id == result.id.lowercased())
        #expect(Array(result.id)[14] == "4")
        // Byte for byte the envelope Go writes, and the id at the tail of Q:active.
        #expect(try await client.command(["HGET", keys.data, result.id]).bytes
            == Envelope(id: result.id, data: [1, 2, 3], attempt: 0).encoded())
        #expect(try await client.strings(["LRANGE", keys.active, 0, -1]) == [result.id])
        // Extras: the ready time; no options.
        let readyAt = try await client.command(["HGET", keys.enqueuedAt, result.id]).int64 ?? 0
        #expect(readyAt >= before && readyAt <= Int64(nowSeconds() * 1000))
        #expect(try await client.command(["HEXISTS", keys.options, result.id]).int == 0)
        #expect(try await client.queueKeys(queue) == [keys.active, keys.data, keys.enqueuedAt].sorted())
        await client.close()
    }

    @Test func callerChosenIDsAreDeduplicated() async throws {
        let client = try await testClient()
        let queue = testQueue()
        let keys = QueueKeys(queue: queue)
        let producer = QueueProducer(client: client, queue: queue)
        #expect(try await producer.enqueue([1], id: "build-1") == EnqueueResult(id: "build-1", enqueued: true))
        #expect(try await producer.enqueue([2], id: "build-1") == EnqueueResult(id: "build-1", enqueued: false))
        #expect(try await producer.enqueue([3], id: "build-1", after: .seconds(60)).enqueued == false)
        #expect(try await client.envelope(keys, "build-1")?.data == [1])
        #expect(try await client.strings(["LRANGE", keys.active, 0, -1]) == ["build-1"])
        #expect(try await client.integer(["ZCARD", keys.scheduled]) == 0)
        // An empty id means "generate one".
        let generated = try await producer.enqueue([4], id: "")
        #expect(generated.enqueued && generated.id.count == 36)
        await client.close()
    }

    @Test func delayedJobsWaitInTheScheduledSet() async throws {
        let client = try await testClient()
        let queue = testQueue()
        let keys = QueueKeys(queue: queue)
        let producer = QueueProducer(client: client, queue: queue)
        let start = nowSeconds()
        let later = try await producer.enqueue([1], after: .seconds(90), timeout: .milliseconds(1500))
        let at = try await producer.enqueue([2], at: Date(timeIntervalSince1970: 2_000_000_000.25))
        let past = try await producer.enqueue([3], at: Date(timeIntervalSince1970: 1_000))
        let score = try await client.command(["ZSCORE", keys.scheduled, later.id]).double ?? 0
        #expect(score >= start + 89.998 && score <= nowSeconds() + 90.01)
        #expect(try await client.command(["ZSCORE", keys.scheduled, at.id]).double == 2_000_000_000.25)
        // The ready time is when it is due; the timeout is in Q:options.
        #expect(try await client.command(["HGET", keys.enqueuedAt, at.id]).int64 == 2_000_000_000_250)
        #expect(try await client.command(["HGET", keys.options, later.id]).string == "timeout_ms=1500")
        // Already due: straight to Q:active.
        #expect(try await client.strings(["LRANGE", keys.active, 0, -1]) == [past.id])
        await client.close()
    }

    @Test func batchEnqueueInOneCallPerThousandJobsKeepsOrder() async throws {
        let client = try await testClient()
        let queue = testQueue()
        let keys = QueueKeys(queue: queue)
        let producer = QueueProducer(client: client, queue: queue)
        var requests = (0..<2500).map { EnqueueRequest(data: bytes("job \($0)"), id: "id-\($0)") }
        requests.append(EnqueueRequest(data: [9], id: "id-7"))  // duplicate within the batch
        requests.append(EnqueueRequest(data: [8], after: .seconds(30)))
        requests.append(EnqueueRequest(data: [7], timeout: .seconds(2)))
        let results = try await producer.enqueueBatch(requests)
        #expect(results.count == 2503)
        #expect(results.prefix(2500).map(\.id) == (0..<2500).map { "id-\($0)" })
        #expect(results.prefix(2500).allSatisfy { $0.enqueued })
        #expect(results[2500] == EnqueueResult(id: "id-7", enqueued: false))
        #expect(results[2501].enqueued && results[2502].enqueued)
        #expect(try await client.strings(["LRANGE", keys.active, 0, -1]) == (0..<2500).map { "id-\($0)" } + [results[2502].id])
        #expect(try await client.integer(["ZCARD", keys.scheduled]) == 1)
        #expect(try await client.envelope(keys, "id-7")?.data == bytes("job 7"))
        #expect(try await client.command(["HGET", keys.options, results[2502].id]).string == "timeout_ms=2000")
        #expect(try await producer.enqueueBatch([]) == [])
        await client.close()
    }

    @Test func reusingTheIDOfAFinishedJobStartsClean() async throws {
        let client = try await testClient()
        let queue = testQueue()
        let keys = QueueKeys(queue: queue)
        // Leftovers of an earlier job with this id that a Go consumer acked (it knows nothing
        // of our hashes).
        _ = try await client.command(["HSET", keys.options, "x", "timeout_ms=5"])
        _ = try await client.command(["HSET", keys.errors, "x", "old"])
        _ = try await client.command(["HSET", keys.deaths, "x", "2"])
        let producer = QueueProducer(client: client, queue: queue)
        #expect(try await producer.enqueue([1], id: "x").enqueued)
        #expect(try await client.integer(["HEXISTS", keys.options, "x"]) == 0)
        #expect(try await client.integer(["HEXISTS", keys.errors, "x"]) == 0)
        #expect(try await client.integer(["HEXISTS", keys.deaths, "x"]) == 0)
        await client.close()
    }
}
