import DjinnPostgres
import DjinnRunner
import Foundation

/// The mutable columns of a `builds` or `build_jobs` row as the worker holds them. Every
/// write rewrites all of them (spec §4.6); the output goes as an incremental update.
public struct RecordedState: Sendable, Equatable {
    public var status: BuildStatus
    public var startedAt: Date?
    public var finishedAt: Date?

    public init(status: BuildStatus, startedAt: Date? = nil, finishedAt: Date? = nil) {
        self.status = status
        self.startedAt = startedAt
        self.finishedAt = finishedAt
    }
}

/// Every database write of the worker (spec §4.6). Writes of one build must be issued one
/// after the other (output updates are relative to what the column holds).
public struct BuildRecorder: Sendable {
    public let database: any PostgresQueryable

    public init(_ database: any PostgresQueryable) {
        self.database = database
    }

    /// builds: status, started_at, finished_at and, if given, the output update.
    public func writeBuild(id: Int64, _ state: RecordedState, output: StoredTextUpdate?) async throws {
        try await write(table: "builds", id: id, state, output: output)
    }

    /// build_jobs: status, started_at, finished_at and, if given, the output update.
    public func writeJob(id: Int64, _ state: RecordedState, output: StoredTextUpdate?) async throws {
        try await write(table: "build_jobs", id: id, state, output: output)
    }

    private func write(table: String, id: Int64, _ state: RecordedState, output: StoredTextUpdate?) async throws {
        // `table` is one of two constants above, never input.
        if let output {
            try await database.execute("""
                UPDATE \(table) SET status = $2, started_at = $3, finished_at = $4,
                    output = left(coalesce(output, ''), $5::int) || $6
                WHERE id = $1
                """, [id, state.status.rawValue, state.startedAt, state.finishedAt, output.keepCharacters, output.suffix])
        } else {
            try await database.execute(
                "UPDATE \(table) SET status = $2, started_at = $3, finished_at = $4 WHERE id = $1",
                [id, state.status.rawValue, state.startedAt, state.finishedAt])
        }
    }

    /// build_artifacts: what was stored (spec §4.8 step 3).
    public func writeArtifact(id: Int64, size: Int64, md5: [UInt8], sha256: [UInt8]) async throws {
        try await database.execute(
            "UPDATE build_artifacts SET size = $2, md5 = $3, sha256 = $4 WHERE id = $1", [id, size, md5, sha256])
    }

    /// As `writeArtifact`, also renaming the row (a glob artifact's `*` replaced, spec §5.3).
    public func writeArtifact(id: Int64, name: String, size: Int64, md5: [UInt8], sha256: [UInt8]) async throws {
        try await database.execute(
            "UPDATE build_artifacts SET name = $2, size = $3, md5 = $4, sha256 = $5 WHERE id = $1", [id, name, size, md5, sha256])
    }

    /// A further file of a glob artifact (spec §5.3: every match is collected): a new row
    /// like `id`'s (build, job, owner, source) with its own store hash and name.
    public func addArtifact(like id: Int64, hash: String, name: String, size: Int64, md5: [UInt8], sha256: [UInt8]) async throws {
        try await database.execute("""
            INSERT INTO build_artifacts (user_id, build_id, job_id, hash, source, name, size, md5, sha256, created_at)
            SELECT user_id, build_id, job_id, $2, source, $3, $4, $5, $6, now() FROM build_artifacts WHERE id = $1
            """, [id, hash, name, size, md5, sha256])
    }

    /// Spec §4.1 step 3 (intended form): tag the build `orphaned` as its owner, and put it
    /// and every job back to `queued` with no output or times, in one transaction.
    public func orphan(buildID: Int64, ownerID: Int64, on pool: PostgresPool) async throws {
        try await pool.withTransaction { connection in
            try await connection.execute(
                "INSERT INTO build_tags (user_id, build_id, name, created_at) VALUES ($1, $2, 'orphaned', $3)",
                [ownerID, buildID, Date()])
            try await Self.reset(buildID: buildID, on: connection)
        }
    }

    /// The build and its jobs back to `queued` with no output or times (a build interrupted
    /// by the worker's shutdown, requeued for the next worker), in one transaction.
    public func resetToQueued(buildID: Int64, on pool: PostgresPool) async throws {
        try await pool.withTransaction { connection in
            try await Self.reset(buildID: buildID, on: connection)
        }
    }

    private static func reset(buildID: Int64, on connection: PostgresConnection) async throws {
        try await connection.execute(
            "UPDATE build_jobs SET status = 'queued', output = NULL, started_at = NULL, finished_at = NULL WHERE build_id = $1",
            [buildID])
        try await connection.execute(
            "UPDATE builds SET status = 'queued', output = NULL, started_at = NULL, finished_at = NULL WHERE id = $1",
            [buildID])
    }

    /// Last resort when a run broke down: the build and every unfinished job `failed` with
    /// `finished_at`, and the reason appended to the build output, so no build stays
    /// `running` (spec §12 item 5).
    public func failUnfinished(buildID: Int64, reason: String) async throws {
        let now = Date()
        try await database.execute("""
            UPDATE build_jobs SET status = 'failed', output = coalesce(output, ''), finished_at = $2
            WHERE build_id = $1 AND status IN ('queued', 'running')
            """, [buildID, now])
        try await database.execute("""
            UPDATE builds SET status = 'failed', output = coalesce(output, '') || $2, finished_at = $3,
                started_at = coalesce(started_at, $3)
            WHERE id = $1
            """, [buildID, "\nerror: " + reason + "\n", now])
    }
}
