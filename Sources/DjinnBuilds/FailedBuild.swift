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
        let start = Date()
        guard !(try await connection.query("SELECT id FROM users WHERE id = $1", [request.userID])).isEmpty else {
            throw BuildSubmissionError.userNotFound(request.userID)
        }
        try await OwnerLock.acquire(ownerIDs: [request.userID], on: connection)
        let number = try await BuildNumbers.last(ownerIDs: [request.userID], on: connection)[request.userID, default: 0] + 1
        let buildID = try await BuildRowWriter.write([BuildRows.failed(request, number: number, start: start)], on: connection)[0]
        return (buildID, number)
    }
}

/// Serialises one owner's build creation (numbers, namespace creation) until the caller's
/// transaction ends: `pg_advisory_xact_lock(key, owner id)`.
///
/// An advisory lock rather than `SELECT … FROM users FOR NO KEY UPDATE`: row locks need the
/// UPDATE privilege on `users`, which Djinn's `djinn_scheduler` role does not have (it may only
/// read users), so the scheduler could not create a single build under its own role.
public enum OwnerLock {
    /// The first key of the two-key form: "djnb" (Djinn build numbers), so these locks cannot
    /// collide with other advisory locks (the migration lock uses the one-key form).
    static let key: Int32 = 0x646A_6E62

    /// Takes the locks of `ownerIDs` in ascending order, in one statement. Every taker locks
    /// in that order, so two transactions that need several owners each cannot deadlock.
    public static func acquire(ownerIDs: some Collection<Int64>, on connection: PostgresConnection) async throws {
        let sorted = Array(Set(ownerIDs)).sorted()
        guard !sorted.isEmpty else { return }
        if sorted.count == 1 {
            _ = try await connection.query("SELECT pg_advisory_xact_lock($1::int, $2::int)", [Int64(key), sorted[0]])
        } else {
            // unnest yields the array's order, and the aggregate calls the function row by row.
            _ = try await connection.query(
                "SELECT count(pg_advisory_xact_lock($1::int, o::int)) FROM unnest($2::bigint[]) AS o",
                [Int64(key), PostgresArray(sorted)])
        }
    }
}

/// The highest build number of each owner so far (0 for none). Read it in a statement after
/// the one that took the owners' locks: a statement sees what was committed when it began.
public enum BuildNumbers {
    public static func last(ownerIDs: some Collection<Int64>, on connection: PostgresConnection) async throws -> [Int64: Int64] {
        let owners = Array(Set(ownerIDs)).sorted()
        guard !owners.isEmpty else { return [:] }
        var numbers: [Int64: Int64] = [:]
        // One index probe per owner (builds (user_id, number)).
        for row in try await connection.query("""
            SELECT o, COALESCE((SELECT MAX(number) FROM builds WHERE user_id = o), 0)::bigint
            FROM unnest($1::bigint[]) AS o
            """, [PostgresArray(owners)])
        {
            numbers[try row.decode(Int64.self, at: 0)] = try row.decode(Int64.self, at: 1)
        }
        return numbers
    }
}
