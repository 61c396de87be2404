import DjinnPostgres
import Foundation

/// `users` rows: looking up submitters and namespace owners, and adding users for local use.
public struct UserStore: Sendable {
    public let database: any PostgresQueryable

    /// `database` may be a pool, or a connection inside a transaction.
    public init(_ database: any PostgresQueryable) {
        self.database = database
    }

    /// A user that has not been deleted.
    public func find(id: Int64) async throws -> UserRecord? {
        try await database.query(
            "SELECT id, username, email FROM users WHERE id = $1 AND deleted_at IS NULL", [id]
        ).first.map(Self.record)
    }

    /// A user that has not been deleted.
    public func find(username: String) async throws -> UserRecord? {
        try await database.query(
            "SELECT id, username, email FROM users WHERE username = $1 AND deleted_at IS NULL", [username]
        ).first.map(Self.record)
    }

    /// Adds a verified user with no password (so no one can log in as it through the server;
    /// builds can be submitted for it with djinnctl).
    public func add(username: String, email: String) async throws -> UserRecord {
        guard !username.isEmpty, !username.contains(where: { $0.isWhitespace || $0 == "@" || $0 == "/" }) else {
            throw UserError.invalidUsername(username)
        }
        guard email.contains("@"), !email.contains(where: \.isWhitespace) else { throw UserError.invalidEmail(email) }
        let now = Date()
        do {
            let rows = try await database.query("""
                INSERT INTO users (email, username, password, verified, created_at, updated_at)
                VALUES ($1, $2, $3, true, $4, $4)
                RETURNING id, username, email
                """, [email, username, [UInt8](), now])
            return try Self.record(rows[0])
        } catch let error as PostgresError where error.sqlState == PostgresError.uniqueViolation {
            throw UserError.exists(username: username, email: email)
        }
    }

    static func record(_ row: PostgresRow) throws -> UserRecord {
        UserRecord(
            id: try row.decode(Int64.self, column: "id"),
            username: try row.decode(String.self, column: "username"),
            email: try row.decode(String.self, column: "email"))
    }
}

public enum UserError: Error, Sendable, Equatable, CustomStringConvertible {
    case invalidUsername(String)
    case invalidEmail(String)
    case exists(username: String, email: String)

    public var description: String {
        switch self {
        case .invalidUsername(let name): "invalid username \"\(name)\": it must be non-empty, without spaces, @ or /"
        case .invalidEmail(let email): "invalid email \"\(email)\""
        case .exists(let username, let email): "a user named \(username) or with email \(email) already exists"
        }
    }
}
