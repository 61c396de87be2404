import DjinnCrypto
import DjinnPostgres
import DjinnSchema
import DjinnTesting
import Foundation
import Logging
import Testing

@testable import DjinnNotify

let quietLogger = Logger(label: "notify-test") { _ in SwiftLogNoOpLogHandler() }
let testCipher = try! DjinnCipher(block: "0123456789abcdef", salt: "notify-test-salt")

/// A migrated database of the test's own with a user (alice) and a namespace (proj).
struct NotifyDatabase: Sendable {
    let db: TestDatabase
    let pool: PostgresPool
    let userID: Int64
    let namespaceID: Int64

    static func with(_ body: (NotifyDatabase) async throws -> Void) async throws {
        let db = try await TestDatabase.create(prefix: "notify")
        let pool = PostgresPool(configuration: db.configuration, maxConnections: 4, logger: quietLogger)
        do {
            _ = try await Migrator(pool: pool, logger: quietLogger).migrate()
            let user = try await pool.query(
                "INSERT INTO users (email, username, password) VALUES ('alice@example.com', 'alice', '\\x00') RETURNING id")[0]
                .decode(Int64.self, at: 0)
            let namespace = try await pool.query("""
                INSERT INTO namespaces (user_id, name, path, level, visibility) VALUES ($1, 'proj', 'proj', 1, 'private') RETURNING id
                """, [user])[0].decode(Int64.self, at: 0)
            try await pool.execute("UPDATE namespaces SET root_id = id WHERE id = $1", [namespace])
            try await body(NotifyDatabase(db: db, pool: pool, userID: user, namespaceID: namespace))
            await pool.close()
        } catch {
            await pool.close()
            throw error
        }
    }

    @discardableResult
    func addWebhook(url: String, secret: String?, events: Int64, active: Bool = true) async throws -> Int64 {
        try await pool.query("""
            INSERT INTO namespace_webhooks (user_id, author_id, namespace_id, payload_url, secret, ssl, events, active)
            VALUES ($1, $1, $2, $3, $4, false, $5, $6) RETURNING id
            """, [userID, namespaceID, url, secret.map { testCipher.encrypt(Array($0.utf8)) }, events, active])[0]
            .decode(Int64.self, at: 0)
    }

    struct Delivery: Sendable {
        var webhookID: Int64
        var eventID: String
        var event: Int64
        var redelivery: Bool
        var error: String?
        var requestHeaders: String
        var requestBody: String
        var responseCode: Int64?
        var responseHeaders: String?
        var responseBody: String?
        var duration: Int64
        var createdAt: Date
    }

    func deliveries() async throws -> [Delivery] {
        try await pool.query("""
            SELECT webhook_id, convert_from(event_id, 'UTF8') AS event_id, event, redelivery, error, request_headers,
                request_body, response_code, response_headers, response_body, duration, created_at
            FROM namespace_webhook_deliveries ORDER BY id
            """).map { row in
            Delivery(
                webhookID: try row.decode(Int64.self, column: "webhook_id"), eventID: try row.decode(String.self, column: "event_id"),
                event: try row.decode(Int64.self, column: "event"), redelivery: try row.decode(Bool.self, column: "redelivery"),
                error: try row.decode(String?.self, column: "error"),
                requestHeaders: try row.decode(String.self, column: "request_headers"),
                requestBody: try row.decode(String.self, column: "request_body"),
                responseCode: try row.decode(Int64?.self, column: "response_code"),
                responseHeaders: try row.decode(String?.self, column: "response_headers"),
                responseBody: try row.decode(String?.self, column: "response_body"),
                duration: try row.decode(Int64.self, column: "duration"), createdAt: try row.decode(Date.self, column: "created_at"))
        }
    }
}


