import DjinnJobs
import DjinnManifest
import DjinnPostgres
import Foundation
import Logging

/// A build to create: who submits it, what it runs, why, and how it is tagged.
public struct BuildRequest: Sendable {
    /// The submitting user (`users.id`). The build belongs to the namespace owner when the
    /// manifest names a namespace, else to this user.
    public var userID: Int64
    public var manifest: Manifest
    public var trigger: BuildTrigger
    /// De-duplicated, empty ones dropped.
    public var tags: [String]

    public init(userID: Int64, manifest: Manifest, trigger: BuildTrigger, tags: [String] = []) {
        self.userID = userID
        self.manifest = manifest
        self.trigger = trigger
        self.tags = tags
    }
}

/// A build that has been written (and, after `submit`, queued).
public struct CreatedBuild: Sendable, Equatable {
    public var id: Int64
    /// Per owner: 1, 2, 3 …
    public var number: Int64
    /// The owner: the namespace's owner, or the submitter.
    public var userID: Int64
    public var namespaceID: Int64?
    /// The queue it goes to, e.g. `builds_qemu-x86_64`.
    public var queue: String
}

/// Creates builds exactly as Djinn's server does (spec §6.4–6.5, intended form) and queues
/// them: every row in one transaction, then the gob `Payload{Host, BuildID}` on
/// `builds_<driver>`. Nothing is written or queued when anything fails before the commit; a
/// build that cannot be queued after it is marked failed, never left queued forever.
///
/// Build numbers are per owner and never repeat: a transaction-scoped advisory lock on the
/// owner (`OwnerLock`) is taken before the number is taken, so concurrent submissions for one
/// owner queue up behind each other for that moment.
public struct BuildSubmitter: Sendable {
    public let pool: PostgresPool
    public let enqueuer: any BuildEnqueuer
    /// Queue keys builds may go to (`docker`, `os`, `qemu-x86_64`, `ssh`): the scheduler's
    /// `drivers`, djinnctl's `-driver-list`.
    public let enabledDrivers: Set<String>
    /// The payload's `Host`: the submitting server's URL, `djinn-scheduler` for cron builds.
    public let host: String
    private let logger: Logger

    public init(pool: PostgresPool, enqueuer: any BuildEnqueuer, enabledDrivers: Set<String>, host: String, logger: Logger) {
        self.pool = pool
        self.enqueuer = enqueuer
        self.enabledDrivers = enabledDrivers
        self.host = host
        self.logger = logger
    }

    /// Creates the build in one transaction, then queues it.
    public func submit(_ request: BuildRequest) async throws -> CreatedBuild {
        try BuildQueue.check(key: BuildQueue.key(for: request.manifest.driver), enabled: enabledDrivers)
        let build = try await pool.withTransaction { connection in
            try await create(request, on: connection)
        }
        try await enqueue(build)
        return build
    }

    /// Writes every row of a build on `connection`, which must be in a transaction the caller
    /// commits before calling `enqueue` (the scheduler adds its `cron_builds` row to it).
    public func create(_ request: BuildRequest, on connection: PostgresConnection) async throws -> CreatedBuild {
        let manifest = request.manifest
        let queueKey = BuildQueue.key(for: manifest.driver)
        try BuildQueue.check(key: queueKey, enabled: enabledDrivers)
        guard let driverType = BuildQueue.driverType(forKey: queueKey) else { throw BuildSubmissionError.unknownDriver(queueKey) }

        var clock = TimestampSequence()
        let createdAt = clock.next()
        let users = UserStore(connection)
        guard let submitter = try await users.find(id: request.userID) else {
            throw BuildSubmissionError.userNotFound(request.userID)
        }

        // Owner and namespace.
        var owner = submitter
        var namespace: NamespaceRecord?
        var path: NamespacePath?
        if !manifest.namespace.isEmpty {
            do {
                path = try NamespacePath(parsing: manifest.namespace)
            } catch {
                throw BuildSubmissionError.invalidNamespace(error.message)
            }
        }
        let namespaces = NamespaceStore(connection)
        if let path { owner = try await namespaces.owner(of: path, submitter: submitter) }
        // Serialises this owner's submissions: namespace creation and numbering below.
        try await OwnerLock.acquire(ownerID: owner.id, on: connection)
        if let path {
            namespace = try await namespaces.resolve(path, owner: owner, submitter: submitter, createdAt: createdAt)
        }

        let number = try await connection.query(
            "SELECT COALESCE(MAX(number), 0) + 1 FROM builds WHERE user_id = $1", [owner.id]
        )[0].decode(Int64.self, at: 0)

        let buildID = try await connection.query("""
            INSERT INTO builds (user_id, namespace_id, number, manifest, status, secret, created_at, pinned)
            VALUES ($1, $2, $3, $4, 'queued', $5, $6, false)
            RETURNING id
            """, [owner.id, namespace?.id, number, manifest.encoded(), RandomHex.make(byteCount: 16), createdAt]
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
                [submitter.id, buildID, tag, createdAt])
        }

        var driverConfig = manifest.driver
        if driverType == .qemu { driverConfig["arch"] = "x86_64" }
        try await connection.execute(
            "INSERT INTO build_drivers (build_id, type, config) VALUES ($1, $2, $3)",
            [buildID, driverType.rawValue, GoJSON.object(driverConfig)])

        try await copyVariablesAndKeys(buildID: buildID, ownerID: owner.id, namespaceID: namespace?.id, manifest: manifest, on: connection)
        try await linkObjects(
            buildID: buildID, ownerID: owner.id, namespaceID: namespace?.id, manifest: manifest, clock: &clock, on: connection)

        let plan = BuildPlan(manifest: manifest, buildNumber: number)
        var stageIDs: [String: Int64] = [:]
        for stage in plan.stages {
            stageIDs[stage.name] = try await connection.query(
                "INSERT INTO build_stages (build_id, name, can_fail, created_at) VALUES ($1, $2, $3, $4) RETURNING id",
                [buildID, stage.name, stage.canFail, clock.next()]
            )[0].decode(Int64.self, at: 0)
        }
        for job in plan.jobs {
            guard let stageID = stageIDs[job.stage] else { continue }
            let jobID = try await connection.query("""
                INSERT INTO build_jobs (build_id, stage_id, name, commands, status, created_at)
                VALUES ($1, $2, $3, $4, 'queued', $5)
                RETURNING id
                """, [buildID, stageID, job.name, job.commands.joined(separator: "\n"), clock.next()]
            )[0].decode(Int64.self, at: 0)
            for artifact in job.artifacts {
                try await connection.execute("""
                    INSERT INTO build_artifacts (user_id, build_id, job_id, hash, source, name, created_at)
                    VALUES ($1, $2, $3, $4, $5, $6, $7)
                    """, [owner.id, buildID, jobID, RandomHex.make(byteCount: 16), artifact.source, artifact.name, clock.next()])
            }
        }

        return CreatedBuild(
            id: buildID, number: number, userID: owner.id, namespaceID: namespace?.id, queue: BuildQueue.name(forKey: queueKey))
    }

    /// The owner's variables and keys outside any namespace plus those of the build's
    /// namespace, then the manifest's env. Masked values and keys stay encrypted.
    private func copyVariablesAndKeys(
        buildID: Int64, ownerID: Int64, namespaceID: Int64?, manifest: Manifest, on connection: PostgresConnection
    ) async throws {
        try await connection.execute("""
            INSERT INTO build_variables (build_id, variable_id, key, value, masked)
            SELECT $1, id, key, value, COALESCE(masked, false) FROM variables
            WHERE (user_id = $2 AND namespace_id IS NULL) OR namespace_id = $3
            ORDER BY id
            """, [buildID, ownerID, namespaceID])
        for entry in manifest.env {
            try await connection.execute(
                "INSERT INTO build_variables (build_id, variable_id, key, value, masked) VALUES ($1, NULL, $2, $3, false)",
                [buildID, entry.key, entry.value])
        }
        try await connection.execute("""
            INSERT INTO build_keys (build_id, key_id, name, key, config, location)
            SELECT $1, id, name, key, config, '/root/.ssh/' || name FROM keys
            WHERE (user_id = $2 AND namespace_id IS NULL) OR namespace_id = $3
            ORDER BY id
            """, [buildID, ownerID, namespaceID])
    }

    /// Objects named in the manifest, looked up only in the build's scope (owner outside any
    /// namespace, or the build's namespace; Djinn's query also matched every object of the
    /// namespace). `source` is where to place it, `name` the object's name.
    private func linkObjects(
        buildID: Int64, ownerID: Int64, namespaceID: Int64?, manifest: Manifest, clock: inout TimestampSequence,
        on connection: PostgresConnection
    ) async throws {
        for (name, destination) in manifest.objects.sortedEntries {
            try await connection.execute("""
                INSERT INTO build_objects (build_id, object_id, source, name, created_at)
                SELECT $1, id, $2, name, $3 FROM objects
                WHERE name = $4 AND deleted_at IS NULL AND ((user_id = $5 AND namespace_id IS NULL) OR namespace_id = $6)
                ORDER BY id
                """, [buildID, destination, clock.next(), name, ownerID, namespaceID])
        }
    }

    /// Puts a committed build on its queue; if that fails, marks the build failed with the
    /// reason (in `output`) and throws `BuildSubmissionError.enqueueFailed`.
    public func enqueue(_ build: CreatedBuild) async throws {
        let payload = BuildPayload(host: host, buildID: build.id).gobEncoded()
        do {
            try await enqueuer.enqueue(queue: build.queue, payload: payload)
        } catch {
            let reason = "\(error)"
            logger.error("could not queue build", metadata: ["build_id": "\(build.id)", "queue": "\(build.queue)", "error": "\(reason)"])
            let markedFailed = await markFailed(build, reason: "could not queue the build on \(build.queue): \(reason)")
            throw BuildSubmissionError.enqueueFailed(
                buildID: build.id, number: build.number, queue: build.queue, reason: reason, markedFailed: markedFailed)
        }
    }

    /// In a task of its own so that a cancelled submitter still records the failure.
    private func markFailed(_ build: CreatedBuild, reason: String) async -> Bool {
        let pool = self.pool
        let logger = self.logger
        return await Task {
            do {
                try await pool.execute(
                    "UPDATE builds SET status = 'failed', output = $2, finished_at = $3 WHERE id = $1 AND status = 'queued'",
                    [build.id, reason, Date()])
                return true
            } catch {
                logger.error("could not mark an unqueued build failed", metadata: ["build_id": "\(build.id)", "error": "\(error)"])
                return false
            }
        }.value
    }
}
