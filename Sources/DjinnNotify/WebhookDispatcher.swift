import DjinnCrypto
import DjinnPostgres
import Foundation
import Logging

/// An active webhook of a namespace (`namespace_webhooks`).
public struct WebhookTarget: Sendable, Equatable {
    public var id: Int64
    public var payloadURL: String
    /// Decrypted; nil when the webhook has none.
    public var secret: [UInt8]?
}

/// Delivers events to a namespace's webhooks and records every attempt in
/// `namespace_webhook_deliveries` (spec §4.9).
///
/// Each webhook gets the event in an item of its own on the delivery queue: a POST with a
/// `timeout` (60 s), retried while it fails (transport error or a status outside 2xx) up to
/// `retry.attempts` times with doubling waits. Every attempt is a row: the event's UUID as
/// text, `redelivery` true when an earlier row of the same webhook and event exists,
/// `duration` in milliseconds, `created_at` when the attempt started.
public struct WebhookDispatcher: Sendable {
    public let database: any PostgresQueryable
    public let cipher: DjinnCipher?
    public let poster: HTTPPoster
    public let queue: DeliveryQueue
    public let retry: RetryPolicy
    public let timeout: Duration
    private let logger: Logger

    public init(
        database: any PostgresQueryable, cipher: DjinnCipher?, poster: HTTPPoster, queue: DeliveryQueue,
        retry: RetryPolicy = RetryPolicy(), timeout: Duration = .seconds(60), logger: Logger
    ) {
        self.database = database
        self.cipher = cipher
        self.poster = poster
        self.queue = queue
        self.retry = retry
        self.timeout = timeout
        self.logger = logger
    }

    /// The namespace's active webhooks subscribed to `event`. A secret that cannot be
    /// decrypted leaves that webhook out (an unsigned delivery would be accepted by no one
    /// who checks, and the secret must never go out in any other form).
    public func targets(namespaceID: Int64, event: WebhookEvent) async throws -> [WebhookTarget] {
        let rows = try await database.query("""
            SELECT id, payload_url, secret FROM namespace_webhooks
            WHERE namespace_id = $1 AND active AND events & $2 <> 0 ORDER BY id
            """, [namespaceID, event.bit])
        var targets: [WebhookTarget] = []
        for row in rows {
            let id = try row.decode(Int64.self, column: "id")
            let sealed = try row.decode([UInt8]?.self, column: "secret")
            var secret: [UInt8]?
            if let sealed, !sealed.isEmpty {
                guard let cipher else {
                    logger.warning("webhook \(id): it has a secret but there is no crypto block; not delivering \(event.rawValue)")
                    continue
                }
                do {
                    secret = try cipher.decrypt(sealed)
                } catch {
                    logger.warning("webhook \(id): cannot decrypt its secret (\(error)); not delivering \(event.rawValue)")
                    continue
                }
            }
            targets.append(WebhookTarget(id: id, payloadURL: try row.decode(String.self, column: "payload_url"), secret: secret))
        }
        return targets
    }

    /// Queues the event for every matching webhook of the namespace; returns at once after
    /// reading the webhooks (a database error there is logged, and nothing is sent).
    public func dispatch(_ event: WebhookEvent, namespaceID: Int64, payload: JSONValue, lane: String? = nil) async {
        let targets: [WebhookTarget]
        do {
            targets = try await self.targets(namespaceID: namespaceID, event: event)
        } catch {
            logger.error("cannot read the webhooks of namespace \(namespaceID): \(error)")
            return
        }
        let eventID = UUID().uuidString.lowercased()
        for target in targets {
            let request = WebhookRequest(url: target.payloadURL, event: event, hookID: target.id, secret: target.secret, payload: payload)
            queue.submit(lane: lane.map { "\($0)-hook-\(target.id)" }, "\(event.rawValue) to webhook \(target.id)") {
                await self.deliver(request, event: event, eventID: eventID, hookID: target.id)
            }
        }
    }

    /// Attempts until one succeeds or the policy gives up; each attempt is recorded.
    func deliver(_ request: WebhookRequest, event: WebhookEvent, eventID: String, hookID: Int64) async {
        var logger = self.logger
        logger[metadataKey: "webhook_id"] = "\(hookID)"
        logger[metadataKey: "event"] = "\(event.rawValue)"
        for attempt in 1...retry.attempts {
            if attempt > 1 {
                do { try await Task.sleep(for: retry.delay(before: attempt)) } catch { return }
            }
            let startedAt = Date()
            let clock = ContinuousClock.now
            var response: HTTPResponse?
            var failure: String?
            do {
                response = try await poster.post(url: request.url, headers: request.headers, body: request.body, timeout: timeout)
            } catch TransportError.cancelled {
                failure = "cancelled: the daemon is shutting down"
            } catch {
                failure = "\(error)"
            }
            let elapsed = ContinuousClock.now - clock
            // Recorded even when the attempt was cut short by shutdown: in a task of its own,
            // which does not inherit the cancellation.
            let recorded = await Task { [response, failure] in
                do {
                    try await record(
                        request, hookID: hookID, event: event, eventID: eventID, response: response, error: failure,
                        duration: elapsed, createdAt: startedAt)
                    return nil as String?
                } catch {
                    return "\(error)"
                }
            }.value
            if let recorded { logger.error("cannot record the delivery: \(recorded)") }
            if let response, (200..<300).contains(response.status) {
                logger.debug("delivered (HTTP \(response.status), attempt \(attempt))")
                return
            }
            let reason = failure ?? "HTTP \(response?.status ?? 0)"
            if Task.isCancelled {
                logger.warning("delivery abandoned at shutdown: \(reason)")
                return
            }
            if attempt == retry.attempts {
                logger.warning("delivery failed \(attempt) times, giving up: \(reason)")
            } else {
                logger.info("delivery attempt \(attempt) failed, retrying: \(reason)")
            }
        }
    }

    /// One `namespace_webhook_deliveries` row.
    func record(
        _ request: WebhookRequest, hookID: Int64, event: WebhookEvent, eventID: String, response: HTTPResponse?,
        error: String?, duration: Duration, createdAt: Date
    ) async throws {
        try await database.execute("""
            INSERT INTO namespace_webhook_deliveries
                (webhook_id, event_id, event, redelivery, error, request_headers, request_body,
                 response_code, response_headers, response_body, duration, created_at)
            VALUES ($1, $2, $3,
                EXISTS (SELECT 1 FROM namespace_webhook_deliveries WHERE webhook_id = $1 AND event_id = $2),
                $4, $5, $6, $7, $8, $9, $10, $11)
            """, [
                hookID, Array(eventID.utf8), event.bit, error, HTTPHeader.block(request.headers),
                storable(request.body), response.map { Int64($0.status) },
                response.map { storable(Array(HTTPHeader.block($0.headers).utf8)) }, response.map { storable($0.body) },
                Int64(min(duration.milliseconds, Int64(Int32.max))), createdAt,
            ])
    }
}

/// Text PostgreSQL accepts: invalid UTF-8 becomes U+FFFD, NUL the letters `NUL`.
func storable(_ bytes: [UInt8]) -> String {
    String(decoding: bytes, as: UTF8.self).replacingOccurrences(of: "\u{0}", with: "NUL")
}
