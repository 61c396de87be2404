import DjinnPostgres
import DjinnRedis
import Foundation

/// A build as `djinnctl build show` prints it. Secrets (the build secret, variables, keys)
/// are not loaded.
public struct BuildDetails: Sendable, Equatable {
    public var id: Int64
    public var number: Int64
    public var owner: UserRecord
    /// `path@owner` of the build's namespace.
    public var namespace: String?
    public var status: BuildStatus
    public var output: String?
    public var pinned: Bool
    public var createdAt: Date
    public var startedAt: Date?
    public var finishedAt: Date?
    public var trigger: Trigger?
    public var tags: [String]
    public var driver: Driver?
    public var stages: [Stage]
    public var artifacts: [Artifact]

    public struct Trigger: Sendable, Equatable {
        public var type: BuildTrigger.Kind
        public var comment: String
        /// The JSON text of `build_triggers.data`.
        public var data: String
    }

    public struct Driver: Sendable, Equatable {
        public var type: String
        /// The JSON text of `build_drivers.config`.
        public var config: String
    }

    public struct Stage: Sendable, Equatable {
        public var id: Int64
        public var name: String
        public var canFail: Bool
        public var jobs: [Job]
    }

    public struct Job: Sendable, Equatable {
        public var id: Int64
        public var name: String
        public var status: BuildStatus
        public var startedAt: Date?
        public var finishedAt: Date?
    }

    public struct Artifact: Sendable, Equatable {
        public var id: Int64
        public var jobID: Int64
        public var jobName: String
        public var source: String
        public var name: String
        public var hash: String
        public var size: Int64?
        public var deleted: Bool
    }
}

/// Where a build stands, for following it: its status and each job's status and output length.
public struct BuildSnapshot: Sendable, Equatable {
    public var status: BuildStatus
    public var output: String?
    /// In execution order (stage order, then job order within the stage).
    public var jobs: [JobState]

    public struct JobState: Sendable, Equatable {
        public var id: Int64
        public var stage: String
        public var name: String
        public var status: BuildStatus
        /// In characters (code points), as PostgreSQL's `length` counts them.
        public var outputLength: Int

        public init(id: Int64, stage: String, name: String, status: BuildStatus, outputLength: Int) {
            self.id = id
            self.stage = stage
            self.name = name
            self.status = status
            self.outputLength = outputLength
        }
    }

    public init(status: BuildStatus, output: String? = nil, jobs: [JobState]) {
        self.status = status
        self.output = output
        self.jobs = jobs
    }
}

/// Reads builds back (`djinnctl build show`, `-follow`) and kills running ones.
public struct BuildStore: Sendable {
    public let database: any PostgresQueryable

    public init(_ database: any PostgresQueryable) {
        self.database = database
    }

    /// Stages and jobs in execution order (`created_at`, then `id`), as the worker runs them.
    public func details(buildID: Int64) async throws -> BuildDetails? {
        let rows = try await database.query("""
            SELECT b.id, b.number, b.status, b.output, COALESCE(b.pinned, false) AS pinned, b.created_at, b.started_at,
                   b.finished_at, u.id AS user_id, u.username, u.email, n.path AS namespace_path, nu.username AS namespace_owner
            FROM builds b
            JOIN users u ON u.id = b.user_id
            LEFT JOIN namespaces n ON n.id = b.namespace_id
            LEFT JOIN users nu ON nu.id = n.user_id
            WHERE b.id = $1
            """, [buildID])
        guard let row = rows.first else { return nil }
        var namespace: String?
        if let path = try row.decode(String?.self, column: "namespace_path") {
            namespace = path + "@" + (try row.decode(String?.self, column: "namespace_owner") ?? "?")
        }
        var details = BuildDetails(
            id: try row.decode(Int64.self, column: "id"),
            number: try row.decode(Int64.self, column: "number"),
            owner: UserRecord(
                id: try row.decode(Int64.self, column: "user_id"), username: try row.decode(String.self, column: "username"),
                email: try row.decode(String.self, column: "email")),
            namespace: namespace,
            status: try row.decode(BuildStatus?.self, column: "status") ?? .queued,
            output: try row.decode(String?.self, column: "output"),
            pinned: try row.decode(Bool.self, column: "pinned"),
            createdAt: try row.decode(Date.self, column: "created_at"),
            startedAt: try row.decode(Date?.self, column: "started_at"),
            finishedAt: try row.decode(Date?.self, column: "finished_at"),
            trigger: nil, tags: [], driver: nil, stages: [], artifacts: [])

        details.trigger = try await database.query(
            "SELECT type, comment, data::text AS data FROM build_triggers WHERE build_id = $1 ORDER BY id LIMIT 1", [buildID]
        ).first.map { row in
            BuildDetails.Trigger(
                type: try row.decode(BuildTrigger.Kind.self, column: "type"), comment: try row.decode(String.self, column: "comment"),
                data: try row.decode(String.self, column: "data"))
        }
        details.tags = try await database.query("SELECT name FROM build_tags WHERE build_id = $1 ORDER BY id", [buildID])
            .map { try $0.decode(String.self, at: 0) }
        details.driver = try await database.query(
            "SELECT type::text AS type, config::text AS config FROM build_drivers WHERE build_id = $1 ORDER BY id LIMIT 1", [buildID]
        ).first.map { BuildDetails.Driver(type: try $0.decode(String.self, column: "type"), config: try $0.decode(String.self, column: "config")) }

        var stageIndex: [Int64: Int] = [:]
        for row in try await database.query(
            "SELECT id, name, can_fail FROM build_stages WHERE build_id = $1 ORDER BY created_at, id", [buildID])
        {
            let id = try row.decode(Int64.self, column: "id")
            stageIndex[id] = details.stages.count
            details.stages.append(BuildDetails.Stage(
                id: id, name: try row.decode(String.self, column: "name"), canFail: try row.decode(Bool.self, column: "can_fail"), jobs: []))
        }
        for row in try await database.query("""
            SELECT id, stage_id, name, status, started_at, finished_at FROM build_jobs
            WHERE build_id = $1 ORDER BY created_at, id
            """, [buildID])
        {
            guard let index = stageIndex[try row.decode(Int64.self, column: "stage_id")] else { continue }
            details.stages[index].jobs.append(BuildDetails.Job(
                id: try row.decode(Int64.self, column: "id"), name: try row.decode(String.self, column: "name"),
                status: try row.decode(BuildStatus?.self, column: "status") ?? .queued,
                startedAt: try row.decode(Date?.self, column: "started_at"), finishedAt: try row.decode(Date?.self, column: "finished_at")))
        }
        details.artifacts = try await database.query("""
            SELECT a.id, a.job_id, j.name AS job_name, a.source, a.name, a.hash, a.size, a.deleted_at IS NOT NULL AS deleted
            FROM build_artifacts a JOIN build_jobs j ON j.id = a.job_id
            WHERE a.build_id = $1 ORDER BY j.created_at, j.id, a.id
            """, [buildID]).map { row in
            BuildDetails.Artifact(
                id: try row.decode(Int64.self, column: "id"), jobID: try row.decode(Int64.self, column: "job_id"),
                jobName: try row.decode(String.self, column: "job_name"), source: try row.decode(String.self, column: "source"),
                name: try row.decode(String.self, column: "name"), hash: try row.decode(String.self, column: "hash"),
                size: try row.decode(Int64?.self, column: "size"), deleted: try row.decode(Bool.self, column: "deleted"))
        }
        return details
    }

    /// The build's status and its jobs' statuses and output lengths, in execution order.
    public func snapshot(buildID: Int64) async throws -> BuildSnapshot? {
        // The build first: once it reads finished, the job rows read after it are final.
        guard let build = try await database.query("SELECT status, output FROM builds WHERE id = $1", [buildID]).first else {
            return nil
        }
        let jobs = try await database.query("""
            SELECT j.id, s.name AS stage, j.name, j.status, COALESCE(length(j.output), 0) AS output_length
            FROM build_jobs j JOIN build_stages s ON s.id = j.stage_id
            WHERE j.build_id = $1 ORDER BY s.created_at, s.id, j.created_at, j.id
            """, [buildID]).map { row in
            BuildSnapshot.JobState(
                id: try row.decode(Int64.self, column: "id"), stage: try row.decode(String.self, column: "stage"),
                name: try row.decode(String.self, column: "name"),
                status: try row.decode(BuildStatus?.self, column: "status") ?? .queued,
                outputLength: try row.decode(Int.self, column: "output_length"))
        }
        return BuildSnapshot(
            status: try build.decode(BuildStatus?.self, column: "status") ?? .queued,
            output: try build.decode(String?.self, column: "output"), jobs: jobs)
    }

    /// A job's output from character `offset` (0-based) on.
    public func jobOutput(jobID: Int64, from offset: Int) async throws -> String {
        try await database.query(
            "SELECT COALESCE(substr(output, $2), '') FROM build_jobs WHERE id = $1", [jobID, offset + 1]
        ).first?.decode(String.self, at: 0) ?? ""
    }

    public enum KillOutcome: Sendable, Equatable {
        /// Published on `kill-<id>`; `receivers` workers were listening.
        case sent(receivers: Int)
        /// Only running builds can be killed (spec §3.8).
        case notRunning(BuildStatus)
    }

    /// Publishes the build's secret on `kill-<id>` if it is running (nil: no such build).
    public func kill(buildID: Int64, redis: RedisClient) async throws -> KillOutcome? {
        guard let row = try await database.query("SELECT status, secret FROM builds WHERE id = $1", [buildID]).first else {
            return nil
        }
        let status = try row.decode(BuildStatus?.self, column: "status") ?? .queued
        guard status == .running else { return .notRunning(status) }
        let secret = try row.decode(String?.self, column: "secret") ?? ""
        return .sent(receivers: try await redis.publish(secret, to: "kill-\(buildID)"))
    }
}
