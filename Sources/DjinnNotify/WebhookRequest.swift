import Crypto
import Foundation

/// One HTTP header as sent or received.
public struct HTTPHeader: Sendable, Equatable {
    public var name: String
    public var value: String

    public init(_ name: String, _ value: String) {
        self.name = name
        self.value = value
    }

    /// `Name: value\r\n` per header, sorted by name (then value): how
    /// `namespace_webhook_deliveries` stores request and response headers.
    public static func block(_ headers: [HTTPHeader]) -> String {
        headers.sorted { ($0.name, $0.value) < ($1.name, $1.value) }.map { "\($0.name): \($0.value)\r\n" }.joined()
    }
}

/// What is POSTed to one webhook for one event (spec §4.9): the payload JSON and a newline,
/// the fixed headers, and the signature when the webhook has a secret.
public struct WebhookRequest: Sendable, Equatable {
    public var url: String
    public var headers: [HTTPHeader]
    public var body: [UInt8]

    public static let userAgent = "Djinn-CI-Hook"

    public init(url: String, event: WebhookEvent, hookID: Int64, secret: [UInt8]?, payload: JSONValue) {
        self.url = url
        body = Array((payload.encoded() + "\n").utf8)
        headers = [
            HTTPHeader("Accept", "*/*"),
            HTTPHeader("Content-Length", String(body.count)),
            HTTPHeader("Content-Type", "application/json; charset=utf-8"),
            HTTPHeader("User-Agent", Self.userAgent),
            HTTPHeader("X-Djinn-CI-Event", event.rawValue),
            HTTPHeader("X-Djinn-CI-Hook-ID", String(hookID)),
        ]
        if let secret, !secret.isEmpty {
            headers.append(HTTPHeader("X-Djinn-CI-Signature", Self.signature(secret: secret, body: body)))
        }
    }

    /// `sha256=<hex HMAC-SHA256(secret, body)>`.
    public static func signature(secret: [UInt8], body: [UInt8]) -> String {
        let mac = HMAC<SHA256>.authenticationCode(for: body, using: SymmetricKey(data: secret))
        return "sha256=" + mac.map { String(format: "%02x", $0) }.joined()
    }
}
