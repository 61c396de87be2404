import Crypto
import DjinnTesting
import Foundation
import Testing

@testable import DjinnNotify

/// WebhookDispatcher against a local HTTP receiver (scripts/testservers/webhook_receiver.py)
/// and a real database.
@Suite struct WebhookDeliveryTests {
    func dispatcher(_ d: NotifyDatabase, queue: DeliveryQueue, attempts: Int = 3, timeout: Duration = .seconds(60)) -> WebhookDispatcher {
        WebhookDispatcher(
            database: d.pool, cipher: testCipher, poster: HTTPPoster(), queue: queue,
            retry: RetryPolicy(attempts: attempts, initialDelay: .milliseconds(50)), timeout: timeout, logger: quietLogger)
    }

    @Test func signedDeliveryIsRecorded() async throws {
        let receiver = try await HelperServer.launch("webhook_receiver.py")
        defer { receiver.stop() }
        try await NotifyDatabase.with { d in
            let hook = try await d.addWebhook(url: "http://127.0.0.1:\(receiver.port)/hook", secret: "hook-secret", events: 4 | 2)
            try await d.addWebhook(url: "http://127.0.0.1:\(receiver.port)/other-events", secret: nil, events: 512)
            try await d.addWebhook(url: "http://127.0.0.1:\(receiver.port)/inactive", secret: nil, events: 4, active: false)
            let queue = DeliveryQueue(concurrency: 2, logger: quietLogger)
            let payload = EventPayloads.build(sampleBuild(), apiServer: "https://api.djinn")
            let before = Date()
            await dispatcher(d, queue: queue).dispatch(.buildFinished, namespaceID: d.namespaceID, payload: payload)
            await queue.waitUntilIdle()

            let records = receiver.recorded()
            #expect(records.count == 1)
            let record = try #require(records.first)
            #expect(record["path"] as? String == "/hook")
            let body = try #require(record["body"] as? String)
            #expect(body == payload.encoded() + "\n")
            #expect(recordedHeader(record, "X-Djinn-CI-Event") == "build.finished")
            #expect(recordedHeader(record, "X-Djinn-CI-Hook-ID") == "\(hook)")
            #expect(recordedHeader(record, "User-Agent") == "Djinn-CI-Hook")
            #expect(recordedHeader(record, "Content-Type") == "application/json; charset=utf-8")
            #expect(recordedHeader(record, "Content-Length") == "\(body.utf8.count)")
            // The receiver's check: HMAC-SHA256 of the raw body with the shared secret.
            let mac = HMAC<SHA256>.authenticationCode(for: Array(body.utf8), using: SymmetricKey(data: Array("hook-secret".utf8)))
            #expect(recordedHeader(record, "X-Djinn-CI-Signature") == "sha256=" + mac.map { String(format: "%02x", $0) }.joined())

            let rows = try await d.deliveries()
            #expect(rows.count == 1)
            let row = try #require(rows.first)
            #expect(row.webhookID == hook)
            #expect(row.eventID.count == 36 && UUID(uuidString: row.eventID) != nil)
            #expect(row.event == 4)
            #expect(row.redelivery == false)
            #expect(row.error == nil)
            #expect(row.responseCode == 200)
            #expect(row.responseBody == "ok")
            #expect(row.responseHeaders?.contains("X-Receiver: djinn-test\r\n") == true)
            #expect(row.requestBody == body)
            #expect(row.requestHeaders.contains("X-Djinn-CI-Signature: sha256="))
            #expect(row.duration >= 0 && row.duration < 5_000)
            #expect(abs(row.createdAt.timeIntervalSince(before)) < 10)
        }
    }

    @Test func failuresAreRetriedAndMarkedAsRedeliveries() async throws {
        let receiver = try await HelperServer.launch("webhook_receiver.py")
        defer { receiver.stop() }
        try await NotifyDatabase.with { d in
            try await d.addWebhook(url: "http://127.0.0.1:\(receiver.port)/flaky/2", secret: nil, events: 2)
            try await d.addWebhook(url: "http://127.0.0.1:\(try unusedLoopbackPort())/refused", secret: nil, events: 2)
            let queue = DeliveryQueue(concurrency: 2, logger: quietLogger)
            await dispatcher(d, queue: queue).dispatch(.buildStarted, namespaceID: d.namespaceID, payload: .object([]))
            await queue.waitUntilIdle()

            let rows = try await d.deliveries()
            let flaky = rows.filter { $0.requestBody == "{}\n" && $0.responseCode != nil }
            #expect(flaky.map(\.responseCode) == [503, 503, 200])
            #expect(flaky.map(\.redelivery) == [false, true, true])
            #expect(Set(flaky.map(\.eventID)).count == 1)
            let refused = rows.filter { $0.responseCode == nil }
            #expect(refused.count == 3)
            #expect(refused.allSatisfy { $0.error?.isEmpty == false && $0.responseHeaders == nil })
            #expect(refused.map(\.redelivery) == [false, true, true])
            // Both webhooks got the same event id.
            #expect(Set(rows.map(\.eventID)).count == 1)
        }
    }

    @Test func aHangingReceiverIsAbandonedAtShutdownWithinTheGrace() async throws {
        let receiver = try await HelperServer.launch("webhook_receiver.py")
        defer { receiver.stop() }
        try await NotifyDatabase.with { d in
            try await d.addWebhook(url: "http://127.0.0.1:\(receiver.port)/hang", secret: nil, events: 4)
            let queue = DeliveryQueue(concurrency: 2, logger: quietLogger)
            let started = ContinuousClock.now
            await dispatcher(d, queue: queue).dispatch(.buildFinished, namespaceID: d.namespaceID, payload: .null)
            // dispatch returns at once: the delivery runs in the background.
            #expect(ContinuousClock.now - started < .seconds(2))
            _ = try await receiver.waitForRecords(1)
            let stopping = ContinuousClock.now
            await queue.shutdown(grace: .milliseconds(500))
            #expect(ContinuousClock.now - stopping < .seconds(3))
            #expect(queue.pending == 0)
            let rows = try await d.deliveries()
            #expect(rows.count == 1)
            #expect(rows.first?.responseCode == nil)
            #expect(rows.first?.error?.contains("cancelled") == true)
        }
    }

    @Test func aSlowReceiverTimesOut() async throws {
        let receiver = try await HelperServer.launch("webhook_receiver.py")
        defer { receiver.stop() }
        try await NotifyDatabase.with { d in
            try await d.addWebhook(url: "http://127.0.0.1:\(receiver.port)/hang", secret: nil, events: 4)
            let queue = DeliveryQueue(concurrency: 1, logger: quietLogger)
            await dispatcher(d, queue: queue, attempts: 1, timeout: .seconds(1)).dispatch(.buildFinished, namespaceID: d.namespaceID, payload: .null)
            await queue.waitUntilIdle()
            let row = try #require(try await d.deliveries().first)
            #expect(row.error?.lowercased().contains("timed out") == true, "\(row.error ?? "")")
            #expect(row.duration >= 900 && row.duration < 5_000, "duration \(row.duration) ms")
        }
    }
}

@Suite struct DeliveryQueueTests {
    @Test func lanesKeepOrderAndConcurrencyIsBounded() async throws {
        let queue = DeliveryQueue(concurrency: 2, logger: quietLogger)
        let log = LockedLog()
        for i in 0..<6 {
            queue.submit(lane: "a", "a\(i)") {
                log.enter()
                try? await Task.sleep(for: .milliseconds(Int.random(in: 1...15)))
                log.append("a\(i)")
                log.leave()
            }
            queue.submit("free\(i)") {
                log.enter()
                try? await Task.sleep(for: .milliseconds(10))
                log.leave()
            }
        }
        await queue.waitUntilIdle()
        #expect(log.entries == (0..<6).map { "a\($0)" })
        #expect(log.peak <= 2)
    }
}

final class LockedLog: @unchecked Sendable {
    private let lock = NSLock()
    private var items: [String] = []
    private var running = 0
    private(set) var peak = 0

    func append(_ item: String) { lock.withLock { items.append(item) } }
    var entries: [String] { lock.withLock { items } }
    func enter() { lock.withLock { running += 1; peak = max(peak, running) } }
    func leave() { lock.withLock { running -= 1 } }
}
