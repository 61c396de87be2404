import Foundation

/// An error from the PostgreSQL client. Never carries the password: messages coming
/// from libpq or the server are scrubbed of it before they are stored.
public struct PostgresError: Error, Sendable, CustomStringConvertible, Equatable {
    public enum Kind: Sendable, Equatable {
        /// The configuration cannot be used (bad `addr`).
        case configuration
        /// Connecting failed, or the connection broke (SQLSTATE class 08, 57P01…57P03).
        case connection
        /// The server rejected a statement (constraint violation, syntax error …).
        case query
        /// A value could not be decoded into the requested Swift type.
        case decode
        /// The connection or pool was closed by its owner.
        case closed
    }

    public var kind: Kind
    /// The five-character SQLSTATE (`PG_DIAG_SQLSTATE`), e.g. `23505` for a unique violation.
    public var sqlState: String?
    public var message: String
    public var detail: String?
    public var hint: String?
    /// The constraint a violation names (`PG_DIAG_CONSTRAINT_NAME`), if any.
    public var constraint: String?

    public init(
        kind: Kind, sqlState: String? = nil, message: String, detail: String? = nil,
        hint: String? = nil, constraint: String? = nil
    ) {
        self.kind = kind
        self.sqlState = sqlState
        self.message = message
        self.detail = detail
        self.hint = hint
        self.constraint = constraint
    }

    public var description: String {
        var text = "postgres \(kind.label) error"
        if let sqlState { text += " \(sqlState)" }
        text += ": \(message)"
        if let detail { text += " (detail: \(detail))" }
        if let hint { text += " (hint: \(hint))" }
        return text
    }

    /// SQLSTATEs that mean the session is gone: connection exceptions (class 08) and
    /// the operator-intervention codes for a terminated backend or a server going down.
    public static func isConnectionFailure(sqlState: String?) -> Bool {
        guard let sqlState else { return false }
        return sqlState.hasPrefix("08") || ["57P01", "57P02", "57P03"].contains(sqlState)
    }

    public static let uniqueViolation = "23505"
    public static let syntaxError = "42601"
    public static let queryCanceled = "57014"

    /// Removes every occurrence of `secret` from `text` (no-op for an empty secret).
    static func scrub(_ text: String, secret: String) -> String {
        guard !secret.isEmpty else { return text }
        return text.replacingOccurrences(of: secret, with: "***")
    }

    /// A copy with `secret` scrubbed from every text field.
    func scrubbed(of secret: String) -> PostgresError {
        guard !secret.isEmpty else { return self }
        var copy = self
        copy.message = Self.scrub(message, secret: secret)
        copy.detail = detail.map { Self.scrub($0, secret: secret) }
        copy.hint = hint.map { Self.scrub($0, secret: secret) }
        copy.constraint = constraint.map { Self.scrub($0, secret: secret) }
        return copy
    }
}

extension PostgresError.Kind {
    var label: String {
        switch self {
        case .configuration: return "configuration"
        case .connection: return "connection"
        case .query: return "query"
        case .decode: return "decode"
        case .closed: return "closed"
        }
    }
}
