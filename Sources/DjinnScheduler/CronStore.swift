import DjinnBuilds
import DjinnPostgres
import Foundation

/// Where a due cron sits in the scheduler's order (`next_run, id`), and whose it is: enough to
/// page through the due crons of one pass, to spread them over connections and to claim one.
public struct CronKey: Sendable, Equatable, Hashable {
    public var id: Int64
    public var nextRun: Date
    /// The owner (`cron.user_id`).
    public var userID: Int64

    public init(id: Int64, nextRun: Date, userID: Int64) {
        self.id = id
        self.nextRun = nextRun
        self.userID = userID
    }
}

/// The `cron` and `cron_builds` rows: what the scheduler selects, claims and advances, and
/// what `djinnctl cron` adds, lists and removes.
public struct CronStore: Sendable {
    public let database: any PostgresQueryable

    /// `database` may be a pool, or a connection inside a transaction.
    public init(_ database: any PostgresQueryable) {
        self.database = database
    }

    static let columns = """
        c.id, c.user_id, c.author_id, c.namespace_id, c.name, c.schedule::text AS schedule, c.manifest,
        c.prev_run, c.next_run, u.username, u.email, u.deleted_at IS NOT NULL AS owner_deleted
        """

    // MARK: Scheduling

    /// Up to `limit` crons due at `now`, in `next_run, id` order, after `after` in that order
    /// (keyset paging: each due cron is seen at most once per pass, even when it cannot be
    /// claimed or its invocation fails, so a pass always ends). No locks are taken.
    public func dueBatch(now: Date, after: CronKey?, limit: Int) async throws -> [CronKey] {
        let rows: PostgresRows
        if let after {
            rows = try await database.query("""
                SELECT id, next_run, user_id FROM cron
                WHERE next_run <= $1 AND (next_run, id) > ($2, $3)
                ORDER BY next_run, id LIMIT $4
                """, [now, after.nextRun, after.id, limit])
        } else {
            rows = try await database.query(
                "SELECT id, next_run, user_id FROM cron WHERE next_run <= $1 ORDER BY next_run, id LIMIT $2", [now, limit])
        }
        return try rows.map { row in
            CronKey(id: try row.decode(Int64.self, at: 0), nextRun: try row.decode(Date.self, at: 1), userID: try row.decode(Int64.self, at: 2))
        }
    }

    /// Claims the next page: up to `limit` crons due at `now`, in `next_run, id` order after
    /// `after`, locked for the rest of the caller's transaction. Crons another transaction holds
    /// are skipped (`SKIP LOCKED`), and so are crons another scheduler advanced since this
    /// statement's snapshot (PostgreSQL rechecks `next_run <= now` on the latest row version).
    public func claimDue(now: Date, after: CronKey?, limit: Int) async throws -> [CronRecord] {
        let rows: PostgresRows
        if let after {
            rows = try await database.query("""
                SELECT \(Self.columns) FROM cron c LEFT JOIN users u ON u.id = c.user_id
                WHERE c.next_run <= $1 AND (c.next_run, c.id) > ($2, $3)
                ORDER BY c.next_run, c.id LIMIT $4
                FOR UPDATE OF c SKIP LOCKED
                """, [now, after.nextRun, after.id, limit])
        } else {
            rows = try await database.query("""
                SELECT \(Self.columns) FROM cron c LEFT JOIN users u ON u.id = c.user_id
                WHERE c.next_run <= $1
                ORDER BY c.next_run, c.id LIMIT $2
                FOR UPDATE OF c SKIP LOCKED
                """, [now, limit])
        }
        return try rows.map(Self.record)
    }

    /// Records the invocations of a page in one statement: every cron's `prev_run` and
    /// `next_run`, and a `cron_builds` link for each cron that got a build.
    public func advance(_ invocations: [(cronID: Int64, nextRun: Date, buildID: Int64?)], invokedAt: Date) async throws {
        guard !invocations.isEmpty else { return }
        let linked = invocations.filter { $0.buildID != nil }
        let counts = try await database.query("""
            WITH advanced AS (
                UPDATE cron SET prev_run = $2, next_run = a.next_run
                FROM unnest($1::int[], $3::timestamp[]) AS a(id, next_run)
                WHERE cron.id = a.id
                RETURNING cron.id
            ),
            links AS (
                INSERT INTO cron_builds (cron_id, build_id, created_at)
                SELECT l.cron_id, l.build_id, $2 FROM unnest($4::int[], $5::int[]) AS l(cron_id, build_id)
                RETURNING 1
            )
            SELECT (SELECT count(*) FROM advanced)::bigint, (SELECT count(*) FROM links)::bigint
            """, [
                PostgresArray(invocations.map(\.cronID)), invokedAt, PostgresArray(invocations.map(\.nextRun)),
                PostgresArray(linked.map(\.cronID)), PostgresArray(linked.compactMap(\.buildID)),
            ])[0]
        guard try counts.decode(Int64.self, at: 0) == Int64(invocations.count), try counts.decode(Int64.self, at: 1) == Int64(linked.count)
        else {
            throw CronStoreError.pageNotAdvanced(expected: invocations.count)
        }
    }

    /// Locks the cron for the rest of the caller's transaction if it is still due at `now` and
    /// no other transaction holds it (`FOR UPDATE SKIP LOCKED`); nil otherwise. A cron another
    /// scheduler advanced after this one listed it fails the `next_run <= now` recheck, which
    /// PostgreSQL makes against the row's latest committed version.
    public func claim(id: Int64, dueBy now: Date) async throws -> CronRecord? {
        try await database.query("""
            SELECT \(Self.columns) FROM cron c LEFT JOIN users u ON u.id = c.user_id
            WHERE c.id = $1 AND c.next_run <= $2
            FOR UPDATE OF c SKIP LOCKED
            """, [id, now]).first.map(Self.record)
    }

    /// Locks the cron if its `next_run` is still exactly `nextRun` (nobody invoked it since).
    public func claim(id: Int64, nextRun: Date) async throws -> CronRecord? {
        try await database.query("""
            SELECT \(Self.columns) FROM cron c LEFT JOIN users u ON u.id = c.user_id
            WHERE c.id = $1 AND c.next_run = $2
            FOR UPDATE OF c SKIP LOCKED
            """, [id, nextRun]).first.map(Self.record)
    }

    /// Records an invocation: `prev_run`, `next_run` and, when a build was made, the
    /// `cron_builds` link, in one statement.
    public func advance(cronID: Int64, invokedAt: Date, nextRun: Date, buildID: Int64?) async throws {
        if let buildID {
            let linked = try await database.query("""
                WITH advanced AS (UPDATE cron SET prev_run = $2, next_run = $3 WHERE id = $1 RETURNING id)
                INSERT INTO cron_builds (cron_id, build_id, created_at) SELECT id, $4, $2 FROM advanced
                """, [cronID, invokedAt, nextRun, buildID]).affectedRows
            guard linked == 1 else { throw CronStoreError.cronNotFound(cronID) }
        } else {
            guard try await database.execute(
                "UPDATE cron SET prev_run = $2, next_run = $3 WHERE id = $1", [cronID, invokedAt, nextRun]) == 1
            else { throw CronStoreError.cronNotFound(cronID) }
        }
    }

    // MARK: Local administration (djinnctl cron)

    /// Adds a cron owned and authored by `user`, outside any namespace, first due at
    /// `schedule.next(after: now)`.
    public func add(user: UserRecord, name: String, schedule: CronSchedule, manifest: String, now: Date = Date()) async throws
        -> CronRecord
    {
        let nextRun = schedule.next(after: now)
        let rows = try await database.query("""
            WITH c AS (
                INSERT INTO cron (user_id, author_id, namespace_id, name, schedule, manifest, prev_run, next_run, created_at)
                VALUES ($1, $1, NULL, $2, $3, $4, NULL, $5, $6)
                RETURNING *
            )
            SELECT \(Self.columns) FROM c JOIN users u ON u.id = c.user_id
            """, [user.id, name, schedule, manifest, nextRun, now])
        return try Self.record(rows[0])
    }

    /// The user's crons (every cron when `userID` is nil), by id.
    public func list(userID: Int64?) async throws -> [CronRecord] {
        try await database.query("""
            SELECT \(Self.columns) FROM cron c LEFT JOIN users u ON u.id = c.user_id
            WHERE $1::int IS NULL OR c.user_id = $1
            ORDER BY c.id
            """, [userID]).map(Self.record)
    }

    /// The user's crons with this name (names are not unique in Djinn's schema).
    public func find(userID: Int64, name: String) async throws -> [CronRecord] {
        try await database.query("""
            SELECT \(Self.columns) FROM cron c LEFT JOIN users u ON u.id = c.user_id
            WHERE c.user_id = $1 AND c.name = $2 ORDER BY c.id
            """, [userID, name]).map(Self.record)
    }

    /// Deletes the user's cron with this id; its `cron_builds` links go with it (the builds stay).
    public func remove(id: Int64, userID: Int64) async throws -> Bool {
        try await database.execute("DELETE FROM cron WHERE id = $1 AND user_id = $2", [id, userID]) == 1
    }

    static func record(_ row: PostgresRow) throws -> CronRecord {
        let userID = try row.decode(Int64.self, column: "user_id")
        let username = try row.decode(String?.self, column: "username")
        let email = try row.decode(String?.self, column: "email")
        let deleted = try row.decode(Bool?.self, column: "owner_deleted") ?? true
        let owner: UserRecord? =
            if let username, let email, !deleted { UserRecord(id: userID, username: username, email: email) } else { nil }
        return CronRecord(
            id: try row.decode(Int64.self, column: "id"),
            userID: userID,
            authorID: try row.decode(Int64.self, column: "author_id"),
            namespaceID: try row.decode(Int64?.self, column: "namespace_id"),
            name: try row.decode(String.self, column: "name"),
            schedule: try row.decode(CronSchedule.self, column: "schedule"),
            manifest: try row.decode(String.self, column: "manifest"),
            prevRun: try row.decode(Date?.self, column: "prev_run"),
            nextRun: try row.decode(Date.self, column: "next_run"),
            owner: owner)
    }
}

public enum CronStoreError: Error, Sendable, Equatable, CustomStringConvertible {
    case cronNotFound(Int64)
    /// Fewer crons were updated than the page claimed.
    case pageNotAdvanced(expected: Int)

    public var description: String {
        switch self {
        case .cronNotFound(let id): "no cron with id \(id)"
        case .pageNotAdvanced(let expected): "could not advance all \(expected) crons of the page"
        }
    }
}
