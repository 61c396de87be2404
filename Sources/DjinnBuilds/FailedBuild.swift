import DjinnPostgres
import Foundation

/// A build that could not be created from its manifest (it does not parse, its driver is not
/// enabled, its namespace cannot be used …), recorded as a finished `failed` build so that the
/// reason shows where the owner looks for builds. The scheduler records one per cron
/// invocation that fails this way.
public struct FailedBuildRequest: Sendable {
    /// The build's owner (`users.id`): the cron's owner.
    public var userID: Int64
    public var namespaceID: Int64?
    /// Stored as given (it may not parse).
    public var manifestText: String
    public var trigger: BuildTrigger
    /// De-duplicated, empty ones dropped; tagged by the owner.
    public var tags: [String]
    /// Becomes the build's `output`.
    public var reason: String

    public init(userID: Int64, namespaceID: Int64?, manifestText: String, trigger: BuildTrigger, tags: [String], reason: String) {
        self.userID = userID
        self.namespaceID = namespaceID
        self.manifestText = manifestText
        self.trigger = trigger
        self.tags = tags
        self.reason = reason
    }
}

extension BuildSubmitter {
    /// Writes a `failed` build (status failed, `output` = reason, finished at once) with its
    /// trigger and tags, but no driver, stages or jobs: nothing is run or queued. Numbered like
    /// every other build of the owner, under the same owner lock `create` takes. Run it in the
    /// caller's transaction. Throws `userNotFound` if the owner's row is gone.
    public func createFailed(_ request: FailedBuildRequest, on connection: PostgresConnection) async throws -> (id: Int64, number: Int64) {
        var clock = TimestampSequence()
        let createdAt = clock.next()
        guard !(try await connection.query("SELECT id FROM users WHERE id = $1", [request.userID])).isEmpty else {
            throw BuildSubmissionError.userNotFound(request.userID)
        }
        try await OwnerLock.acquire(ownerID: request.userID, on: connection)
        let number = try await connection.query(
            "SELECT COALESCE(MAX(number), 0) + 1 FROM builds WHERE user_id = $1", [request.userID]
        )[0].decode(Int64.self, at: 0)
        let buildID = try await connection.query("""
            INSERT INTO builds (user_id, namespace_id, number, manifest, status, output, secret, created_at, started_at, finished_at, pinned)
            VALUES ($1, $2, $3, $4, 'failed', $5, $6, $7, NULL, $7, false)
            RETURNING id
            """, [request.userID, request.namespaceID, number, request.manifestText, request.reason, RandomHex.make(byteCount: 16), createdAt]
        )[0].decode(Int64.self, at: 0)
        let trigger = request.trigger
        try await connection.execute("""
            INSERT INTO build_triggers (build_id, provider_id, repo_id, type, comment, data, created_at)
            VALUES ($1, $2, $3, $4, $5, $6, $7)
            """, [buildID, trigger.providerID, trigger.repoID, trigger.type, trigger.comment, GoJSON.object(trigger.data), createdAt])
        var seenTags: Set<String> = []
        for tag in request.tags where !tag.isEmpty && seenTags.insert(tag).inserted {
            try await connection.execute(
                "INSERT INTO build_tags (user_id, build_id, name, created_at) VALUES ($1, $2, $3, $4)",
                [request.userID, buildID, tag, clock.next()])
        }
        return (buildID, number)
    }
}

/// Serialises one owner's build creation (numbers, namespace creation) until the caller's
/// transaction ends: `pg_advisory_xact_lock(key, owner id)`.
///
/// An advisory lock rather than `SELECT … FROM users FOR NO KEY UPDATE`: row locks need the
/// UPDATE privilege on `users`, which Djinn's `djinn_scheduler` role does not have (it may only
/// read users), so the scheduler could not create a single build under its own role.
enum OwnerLock {
    /// The first key of the two-key form: "djnb" (Djinn build numbers), so these locks cannot
    /// collide with other advisory locks (the migration lock uses the one-key form).
    static let key: Int32 = 0x646A_6E62

    static func acquire(ownerID: Int64, on connection: PostgresConnection) async throws {
        _ = try await connection.query("SELECT pg_advisory_xact_lock($1::int, $2::int)", [Int64(key), ownerID])
    }
}
