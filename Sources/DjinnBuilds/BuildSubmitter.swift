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

    public init(id: Int64, number: Int64, userID: Int64, namespaceID: Int64?, queue: String) {
        self.id = id
        self.number = number
        self.userID = userID
        self.namespaceID = namespaceID
        self.queue = queue
    }
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
        guard BuildQueue.driverType(forKey: queueKey) != nil else { throw BuildSubmissionError.unknownDriver(queueKey) }

        let start = Date()
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
        try await OwnerLock.acquire(ownerIDs: [owner.id], on: connection)
        if let path {
            namespace = try await namespaces.resolve(path, owner: owner, submitter: submitter, createdAt: start)
        }

        let number = try await BuildNumbers.last(ownerIDs: [owner.id], on: connection)[owner.id, default: 0] + 1
        let rows = try BuildRows.queued(request, ownerID: owner.id, namespaceID: namespace?.id, number: number, start: start)
        let buildID = try await BuildRowWriter.write([rows], on: connection)[0]
        return CreatedBuild(
            id: buildID, number: number, userID: owner.id, namespaceID: namespace?.id, queue: BuildQueue.name(forKey: queueKey))
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

    /// Puts committed builds on their queues, one batch per queue (DjinnQueue's batch enqueue:
    /// one script call per 1,000 jobs). One entry per build, in order: nil when it was queued,
    /// else the error; a build that could not be queued is marked failed with the reason,
    /// exactly as `enqueue(_:)` does for one.
    public func enqueue(_ builds: [CreatedBuild]) async -> [BuildSubmissionError?] {
        var results = [BuildSubmissionError?](repeating: nil, count: builds.count)
        var byQueue: [String: [Int]] = [:]
        var queueOrder: [String] = []
        for (index, build) in builds.enumerated() {
            if byQueue[build.queue] == nil { queueOrder.append(build.queue) }
            byQueue[build.queue, default: []].append(index)
        }
        for queue in queueOrder {
            let indices = byQueue[queue]!
            let errors = await enqueuer.enqueue(
                queue: queue, payloads: indices.map { BuildPayload(host: host, buildID: builds[$0].id).gobEncoded() })
            for (index, error) in zip(indices, errors) {
                guard let error else { continue }
                let build = builds[index]
                let reason = "\(error)"
                logger.error("could not queue build", metadata: ["build_id": "\(build.id)", "queue": "\(build.queue)", "error": "\(reason)"])
                let markedFailed = await markFailed(build, reason: "could not queue the build on \(build.queue): \(reason)")
                results[index] = .enqueueFailed(
                    buildID: build.id, number: build.number, queue: build.queue, reason: reason, markedFailed: markedFailed)
            }
        }
        return results
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
