import DjinnPostgres
import Logging

/// Applies `DjinnSchema.migrations` that a database has not recorded yet.
///
/// Several processes may migrate at once (two hosts upgraded together): a session-level
/// advisory lock serialises them, and each migration runs in its own transaction
/// together with the row that records it, so a failure leaves neither behind.
public struct Migrator: Sendable {
    public let pool: PostgresPool
    public let logger: Logger

    public init(pool: PostgresPool, logger: Logger) {
        self.pool = pool
        self.logger = logger
    }

    public struct Report: Sendable, Equatable {
        /// Migrations applied by this run, in order.
        public var applied: [String]
        /// Migrations that were already recorded.
        public var alreadyApplied: [String]
    }

    public func migrate() async throws -> Report {
        try await pool.withConnection { connection in
            _ = try await connection.query("SELECT pg_advisory_lock($1)", [DjinnSchema.advisoryLockKey])
            do {
                let report = try await migrate(on: connection)
                _ = try await connection.query("SELECT pg_advisory_unlock($1)", [DjinnSchema.advisoryLockKey])
                return report
            } catch {
                // The lock is per session: closing a broken session releases it too.
                _ = try? await connection.query("SELECT pg_advisory_unlock($1)", [DjinnSchema.advisoryLockKey])
                throw error
            }
        }
    }

    private func migrate(on connection: PostgresConnection) async throws -> Report {
        try await connection.executeScript(DjinnSchema.bookkeepingSQL)
        let recorded = Set(try await connection.query("SELECT id FROM djinn_migrations").map {
            try $0.decode(String.self, at: 0)
        })
        var report = Report(applied: [], alreadyApplied: [])
        for migration in DjinnSchema.migrations {
            if recorded.contains(migration.id) {
                report.alreadyApplied.append(migration.id)
                continue
            }
            logger.info("applying migration \(migration.id)")
            try await connection.withTransaction { tx in
                try await tx.executeScript(migration.sql)
                _ = try await tx.execute(
                    "INSERT INTO djinn_migrations (id, applied_at) VALUES ($1, now() AT TIME ZONE 'UTC')", [migration.id])
            }
            report.applied.append(migration.id)
        }
        // Grants are re-applied every run: roles created after the first migration get theirs.
        try await connection.executeScript(DjinnSchema.grantsSQL)
        return report
    }
}
