import Crypto
import DjinnConfig
import DjinnCrypto
import DjinnJobs
import DjinnNotify
import DjinnTesting
import Foundation
import Testing

@testable import DjinnConsumer

/// The `images` event after a download (spec §7 step 5) to a namespace webhook, through
/// DjinnNotify's webhook delivery, against a local receiver.
@Suite struct ImageEventTests {
    @Test func downloadedImageInANamespaceIsAnnounced() async throws {
        let server = try await TestHTTPServer.shared()
        let receiver = try await HelperServer.launch("webhook_receiver.py")
        defer { receiver.stop() }
        let cipher = try DjinnCipher(block: "0123456789abcdef", salt: "consumer-events")
        try await withDatabaseAndStore { database, store in
            let namespaceID = try await database.pool.query(
                "INSERT INTO namespaces (user_id, name, path, level) VALUES ($1, 'imgs', 'imgs', 1) RETURNING id", [database.userID]
            )[0].decode(Int64.self, at: 0)
            try await database.pool.execute("""
                INSERT INTO namespace_webhooks (user_id, author_id, namespace_id, payload_url, secret, ssl, events, active)
                VALUES ($1, $1, $2, $3, $4, false, 512, true), ($1, $1, $2, $5, NULL, false, 4, true)
                """, [database.userID, namespaceID, "http://127.0.0.1:\(receiver.port)/images-hook",
                      cipher.encrypt(Array("img-secret".utf8)), "http://127.0.0.1:\(receiver.port)/builds-only"])
            let url = server.url("/image.qcow2?size=4096")
            let (imageID, downloadID) = try await database.addImage(hash: "evt-hash", source: url)
            try await database.pool.execute("UPDATE images SET namespace_id = $1 WHERE id = $2", [namespaceID, imageID])

            let events = ImageEventPublisher(
                database: database.pool, cipher: cipher, apiServer: "https://api.djinn", concurrency: 2, logger: quietLogger)
            let handler = DownloadJobHandler(
                database: database.pool, store: StoreSettings(path: store.path),
                downloader: ImageDownloader(options: .init(connectTimeout: .seconds(5)), logger: quietLogger),
                events: events, logger: quietLogger)
            try await handler.perform(DownloadJob(id: downloadID, imageID: imageID, source: url))
            await events.queue.waitUntilIdle()
            await events.shutdown()

            let records = receiver.recorded()
            #expect(records.map { $0["path"] as? String } == ["/images-hook"])
            let record = try #require(records.first)
            let body = try #require(record["body"] as? String)
            let headers = try #require(record["headers"] as? [[String]])
            func header(_ name: String) -> String? { headers.first { $0.first?.lowercased() == name.lowercased() }?.last }
            #expect(header("X-Djinn-CI-Event") == "images")
            let mac = HMAC<SHA256>.authenticationCode(for: Array(body.utf8), using: SymmetricKey(data: Array("img-secret".utf8)))
            #expect(header("X-Djinn-CI-Signature") == "sha256=" + mac.map { String(format: "%02x", $0) }.joined())
            let payload = try #require(try JSONSerialization.jsonObject(with: Data(body.utf8)) as? [String: Any])
            #expect(payload["action"] as? String == "downloaded")
            let image = try #require(payload["image"] as? [String: Any])
            #expect(image["id"] as? Int == Int(imageID))
            #expect(image["namespace_id"] as? Int == Int(namespaceID))
            #expect(image["url"] as? String == "https://api.djinn/images/\(imageID)")
            #expect((image["user"] as? [String: Any])?["username"] as? String == "ann")
            #expect((image["namespace"] as? [String: Any])?["path"] as? String == "imgs")
            let download = try #require(image["download"] as? [String: Any])
            #expect(download["error"] is NSNull)
            #expect(download["finished_at"] is String)

            let rows = try await database.pool.query("SELECT event, response_code FROM namespace_webhook_deliveries")
            #expect(try rows.map { try $0.decode(Int64.self, column: "event") } == [512])
            #expect(try rows.map { try $0.decode(Int64?.self, column: "response_code") } == [200])
        }
    }
}
