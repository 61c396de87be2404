import DjinnPostgres
import DjinnRunner
import Foundation

/// The `builds` columns the worker decides on (spec §4.1 step 2).
public struct BuildRow: Sendable, Equatable {
    public var id: Int64
    /// The owner (`builds.user_id`): artifacts are stored under this id, tags written as it.
    public var userID: Int64
    public var number: Int64
    public var status: BuildStatus
    /// What a `kill-<id>` message must carry (spec §3.8); NULL reads as "".
    public var secret: String
    public var startedAt: Date?
    public var finishedAt: Date?

    public init(
        id: Int64, userID: Int64, number: Int64, status: BuildStatus, secret: String, startedAt: Date?, finishedAt: Date?
    ) {
        self.id = id
        self.userID = userID
        self.number = number
        self.status = status
        self.secret = secret
        self.startedAt = startedAt
        self.finishedAt = finishedAt
    }
}

/// A `build_variables` row; `value` is base64 AES-GCM ciphertext when `masked`.
public struct BuildVariableRow: Sendable, Equatable {
    public var key: String
    public var value: String
    public var masked: Bool
}

/// A `build_keys` row; `key` is AES-GCM ciphertext.
public struct BuildKeyRow: Sendable, Equatable {
    public var name: String
    public var encryptedKey: [UInt8]
    public var config: String
    /// Where Djinn places it in the build environment (`/root/.ssh/<name>`).
    public var location: String
}

/// A `build_objects` row joined to its `objects` row (absent when the object was deleted).
public struct BuildObjectRow: Sendable, Equatable {
    /// `build_objects.name`: the object's name.
    public var name: String
    /// `build_objects.source`: the destination the manifest asked for (spec §4.2; Go places
    /// the object at `name` instead, §12 item 12).
    public var destination: String
    /// `objects.user_id` and `objects.hash`: the file is `<objects store>/<user_id>/<hash>`.
    public var ownerID: Int64?
    public var hash: String?
}

/// A `build_artifacts` row: the file `source` of the build environment is collected after
/// its job into `<artifacts store>/<build owner>/<hash>`.
public struct BuildArtifactRow: Sendable, Equatable {
    public var id: Int64
    public var jobID: Int64
    public var source: String
    public var name: String
    public var hash: String
}

/// A job as the driver runs it.
public struct BuildJobDefinition: Sendable, Equatable {
    public var id: Int64
    public var name: String
    public var stageName: String
    /// `build_jobs.commands` split on `\n` (an empty column gives one empty command).
    public var commands: [String]
    public var artifacts: [BuildArtifactRow]
}

/// Everything a build run needs, as loaded (secrets still encrypted).
public struct BuildDefinition: Sendable {
    public var row: BuildRow
    public var plan: RunnerPlan
    public var jobs: [Int64: BuildJobDefinition]
    public var variables: [BuildVariableRow]
    public var keys: [BuildKeyRow]
    public var objects: [BuildObjectRow]
    /// `build_drivers.type` (nil when the build has no driver row).
    public var driverType: String?
    /// `build_drivers.config`: the manifest's `driver:` map (spec §5.1); empty when absent
    /// or not a JSON object of strings.
    public var driverConfig: [String: String] = [:]
    /// `builds.namespace_id` (the qemu driver looks the image up in it).
    public var namespaceID: Int64?
}

public enum BuildLoadError: Error, Equatable, CustomStringConvertible {
    case invalidPlan(String)

    public var description: String {
        switch self {
        case .invalidPlan(let reason): return "cannot run the build: \(reason)"
        }
    }
}

/// Reads builds as the worker runs them (spec §4.1–4.2): stages by `created_at`, jobs by
/// `created_at` within their stage, keyed by id (not by name, §12 item 24).
public struct BuildLoader: Sendable {
    public let database: any PostgresQueryable

    public init(_ database: any PostgresQueryable) {
        self.database = database
    }

    /// The build's row, or nil when there is none.
    public func row(buildID: Int64) async throws -> BuildRow? {
        guard let row = try await database.query("""
            SELECT id, user_id, number, status::text AS status, COALESCE(secret, '') AS secret, started_at, finished_at
            FROM builds WHERE id = $1
            """, [buildID]).first
        else { return nil }
        let statusText = try row.decode(String?.self, column: "status") ?? "queued"
        return BuildRow(
            id: try row.decode(Int64.self, column: "id"),
            userID: try row.decode(Int64.self, column: "user_id"),
            number: try row.decode(Int64.self, column: "number"),
            status: BuildStatus(rawValue: statusText) ?? .queued,
            secret: try row.decode(String.self, column: "secret"),
            startedAt: try row.decode(Date?.self, column: "started_at"),
            finishedAt: try row.decode(Date?.self, column: "finished_at"))
    }

    /// Stages, jobs, artifacts, variables, keys, objects and the driver type of `row`'s build.
    public func definition(of row: BuildRow) async throws -> BuildDefinition {
        let id = row.id
        var stageNames: [Int64: String] = [:]
        var stageOrder: [(id: Int64, name: String, canFail: Bool)] = []
        for stage in try await database.query(
            "SELECT id, name, can_fail FROM build_stages WHERE build_id = $1 ORDER BY created_at, id", [id])
        {
            let stageID = try stage.decode(Int64.self, column: "id")
            let name = try stage.decode(String.self, column: "name")
            stageNames[stageID] = name
            stageOrder.append((stageID, name, try stage.decode(Bool.self, column: "can_fail")))
        }

        var artifactsByJob: [Int64: [BuildArtifactRow]] = [:]
        for artifact in try await database.query(
            "SELECT id, job_id, source, name, hash FROM build_artifacts WHERE build_id = $1 AND deleted_at IS NULL ORDER BY id",
            [id])
        {
            let row = BuildArtifactRow(
                id: try artifact.decode(Int64.self, column: "id"), jobID: try artifact.decode(Int64.self, column: "job_id"),
                source: try artifact.decode(String.self, column: "source"), name: try artifact.decode(String.self, column: "name"),
                hash: try artifact.decode(String.self, column: "hash"))
            artifactsByJob[row.jobID, default: []].append(row)
        }

        var jobs: [Int64: BuildJobDefinition] = [:]
        var jobsByStage: [Int64: [RunnerPlan.Job]] = [:]
        for job in try await database.query(
            "SELECT id, stage_id, name, commands FROM build_jobs WHERE build_id = $1 ORDER BY created_at, id", [id])
        {
            let jobID = try job.decode(Int64.self, column: "id")
            let stageID = try job.decode(Int64.self, column: "stage_id")
            guard let stageName = stageNames[stageID] else { continue }
            let name = try job.decode(String.self, column: "name")
            let commands = try job.decode(String.self, column: "commands")
                .split(separator: "\n", omittingEmptySubsequences: false).map(String.init)
            jobs[jobID] = BuildJobDefinition(
                id: jobID, name: name, stageName: stageName, commands: commands, artifacts: artifactsByJob[jobID] ?? [])
            // Every job runs once, even one whose only command is empty (spec §4.3 note).
            jobsByStage[stageID, default: []].append(RunnerPlan.Job(id: jobID, name: name, hasCommands: true))
        }

        let plan: RunnerPlan
        do {
            plan = try RunnerPlan(
                buildNumber: row.number,
                stages: stageOrder.map { RunnerPlan.Stage(id: $0.id, name: $0.name, canFail: $0.canFail, jobs: jobsByStage[$0.id] ?? []) })
        } catch {
            throw BuildLoadError.invalidPlan(error.description)
        }

        let variables = try await database.query(
            "SELECT key, value, COALESCE(masked, false) AS masked FROM build_variables WHERE build_id = $1 ORDER BY id", [id]
        ).map { variable in
            BuildVariableRow(
                key: try variable.decode(String.self, column: "key"), value: try variable.decode(String.self, column: "value"),
                masked: try variable.decode(Bool.self, column: "masked"))
        }
        let keys = try await database.query(
            "SELECT name, key, config, location FROM build_keys WHERE build_id = $1 ORDER BY id", [id]
        ).map { key in
            BuildKeyRow(
                name: try key.decode(String.self, column: "name"), encryptedKey: try key.decode([UInt8].self, column: "key"),
                config: try key.decode(String.self, column: "config"), location: try key.decode(String.self, column: "location"))
        }
        let objects = try await database.query("""
            SELECT bo.name, bo.source, o.user_id, o.hash
            FROM build_objects bo LEFT JOIN objects o ON o.id = bo.object_id AND o.deleted_at IS NULL
            WHERE bo.build_id = $1 ORDER BY bo.id
            """, [id]
        ).map { object in
            BuildObjectRow(
                name: try object.decode(String.self, column: "name"), destination: try object.decode(String.self, column: "source"),
                ownerID: try object.decode(Int64?.self, column: "user_id"), hash: try object.decode(String?.self, column: "hash"))
        }
        let driver = try await database.query(
            "SELECT type::text, config::text FROM build_drivers WHERE build_id = $1 ORDER BY id LIMIT 1", [id]
        ).first
        let driverType = try driver?.decode(String.self, at: 0)
        let driverConfig = Self.driverConfig(json: try driver?.decode(String?.self, at: 1) ?? "")
        let namespaceID = try await database.query("SELECT namespace_id FROM builds WHERE id = $1", [id])
            .first?.decode(Int64?.self, at: 0)

        return BuildDefinition(
            row: row, plan: plan, jobs: jobs, variables: variables, keys: keys, objects: objects, driverType: driverType,
            driverConfig: driverConfig, namespaceID: namespaceID)
    }

    /// The string entries of a JSON object (other values are dropped).
    static func driverConfig(json: String) -> [String: String] {
        guard let data = json.data(using: .utf8),
            let object = try? JSONSerialization.jsonObject(with: data) as? [String: Any]
        else { return [:] }
        return object.compactMapValues { $0 as? String }
    }
}
