import DjinnJobs
import DjinnManifest
import Foundation

/// Every row a new build gets (spec §6.5), worked out without I/O once its owner, namespace and
/// number are known. One value per build; `BuildRowWriter` writes any number of them with a
/// fixed number of statements. Both the single-build path (`BuildSubmitter.create`,
/// `createFailed`) and the scheduler's page path build their rows here, so they cannot differ.
///
/// The owner's (and namespace's) variables and keys are not listed: they are copied on the
/// server when the rows are written (`copiesOwnerSecrets`), so their values never pass through
/// this process.
public struct BuildRows: Sendable, Equatable {
    /// `builds.user_id`: the namespace's owner, or the submitter.
    public var ownerID: Int64
    /// `build_tags.user_id`: who tagged it (the submitter).
    public var submitterID: Int64
    public var namespaceID: Int64?
    public var number: Int64
    /// `builds.manifest`: the encoded manifest, or the cron's text as it is for a failed build.
    public var manifest: String
    public var status: BuildStatus
    /// The reason a failed build was recorded.
    public var output: String?
    public var secret: String
    public var createdAt: Date
    public var finishedAt: Date?
    public var trigger: BuildTrigger
    public var tags: [Tag]
    public var driver: Driver?
    /// Copy the owner's variables and keys outside any namespace plus the namespace's.
    public var copiesOwnerSecrets: Bool
    /// The manifest's env, after the copied variables.
    public var environment: [EnvironmentEntry]
    public var objects: [Object]
    /// In creation order.
    public var stages: [Stage]
    /// In creation order.
    public var jobs: [Job]
    /// `builds_<key>` for a build to queue; nil for a failed build.
    public var queue: String?

    public struct Tag: Sendable, Equatable {
        public var name: String
        public var createdAt: Date
    }

    public struct Driver: Sendable, Equatable {
        public var type: DriverType
        /// Go's JSON of the driver block.
        public var config: String
    }

    /// An object named in the manifest; linked only if one of that name exists in the build's scope.
    public struct Object: Sendable, Equatable {
        public var name: String
        public var destination: String
        public var createdAt: Date
    }

    public struct Stage: Sendable, Equatable {
        public var name: String
        public var canFail: Bool
        public var createdAt: Date
    }

    public struct Job: Sendable, Equatable {
        /// Index into `stages`.
        public var stage: Int
        public var name: String
        /// The commands, one per line.
        public var commands: String
        public var createdAt: Date
        public var artifacts: [Artifact]
    }

    public struct Artifact: Sendable, Equatable {
        public var hash: String
        public var source: String
        public var name: String
        public var createdAt: Date
    }

    /// A build to queue. Timestamps are one microsecond apart from `start` in creation order
    /// (the build, objects, then each stage, then each job followed by its artifacts), as the
    /// worker orders stages and jobs by them. `encodedManifest` is `request.manifest.encoded()`
    /// when the caller has it already (the scheduler keeps it per manifest text: encoding is
    /// the costliest part of a build's rows).
    public static func queued(
        _ request: BuildRequest, ownerID: Int64, namespaceID: Int64?, number: Int64, start: Date = Date(),
        encodedManifest: String? = nil
    ) throws(BuildSubmissionError) -> BuildRows {
        let manifest = request.manifest
        let queueKey = BuildQueue.key(for: manifest.driver)
        guard let driverType = BuildQueue.driverType(forKey: queueKey) else { throw .unknownDriver(queueKey) }
        var clock = TimestampSequence(start: start)
        let createdAt = clock.next()
        var driverConfig = manifest.driver
        if driverType == .qemu { driverConfig["arch"] = "x86_64" }
        let objects = manifest.objects.sortedEntries.map { Object(name: $0.source, destination: $0.destination, createdAt: clock.next()) }

        let plan = BuildPlan(manifest: manifest, buildNumber: number)
        let stages = plan.stages.map { Stage(name: $0.name, canFail: $0.canFail, createdAt: clock.next()) }
        var stageIndex: [String: Int] = [:]
        // A repeated name means its last stage, as when each stage's id was stored by name.
        for (index, stage) in stages.enumerated() { stageIndex[stage.name] = index }
        var jobs: [Job] = []
        for job in plan.jobs {
            guard let stage = stageIndex[job.stage] else { continue }
            let jobCreatedAt = clock.next()
            let artifacts = job.artifacts.map {
                Artifact(hash: RandomHex.make(byteCount: 16), source: $0.source, name: $0.name, createdAt: clock.next())
            }
            jobs.append(Job(stage: stage, name: job.name, commands: job.commands.joined(separator: "\n"), createdAt: jobCreatedAt, artifacts: artifacts))
        }
        return BuildRows(
            ownerID: ownerID, submitterID: request.userID, namespaceID: namespaceID, number: number, manifest: encodedManifest ?? manifest.encoded(),
            status: .queued, output: nil, secret: RandomHex.make(byteCount: 16), createdAt: createdAt, finishedAt: nil,
            trigger: request.trigger, tags: uniqueTags(request.tags).map { Tag(name: $0, createdAt: createdAt) },
            driver: Driver(type: driverType, config: GoJSON.object(driverConfig)), copiesOwnerSecrets: true,
            environment: manifest.env, objects: objects, stages: stages, jobs: jobs, queue: BuildQueue.name(forKey: queueKey))
    }

    /// A failed build recording why it could not be created: finished at once, with its trigger
    /// and tags (one microsecond apart after the build), and nothing to run.
    public static func failed(_ request: FailedBuildRequest, number: Int64, start: Date = Date()) -> BuildRows {
        var clock = TimestampSequence(start: start)
        let createdAt = clock.next()
        return BuildRows(
            ownerID: request.userID, submitterID: request.userID, namespaceID: request.namespaceID, number: number,
            manifest: request.manifestText, status: .failed, output: request.reason, secret: RandomHex.make(byteCount: 16),
            createdAt: createdAt, finishedAt: createdAt, trigger: request.trigger,
            tags: uniqueTags(request.tags).map { Tag(name: $0, createdAt: clock.next()) }, driver: nil, copiesOwnerSecrets: false,
            environment: [], objects: [], stages: [], jobs: [], queue: nil)
    }

    /// In order, first occurrence kept, empty ones dropped.
    static func uniqueTags(_ tags: [String]) -> [String] {
        var seen: Set<String> = []
        return tags.filter { !$0.isEmpty && seen.insert($0).inserted }
    }
}
