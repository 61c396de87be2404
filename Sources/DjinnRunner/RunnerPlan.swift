/// What one build runs: its stages in order (`build_stages` by `created_at`), each with its
/// jobs in order (`build_jobs` by `created_at`). Only what the runner's decisions depend on.
public struct RunnerPlan: Sendable, Hashable {
    public struct Job: Sendable, Hashable {
        /// `build_jobs.id`; jobs are keyed by id (Go keys them by name within a stage, so a
        /// later job of the same name shadows the earlier one — spec §12 item 24).
        public let id: Int64
        public let name: String
        /// False when the job has no commands at all: it passes without being executed.
        /// (Jobs loaded from `build_jobs` always have at least one, possibly empty, command.)
        public let hasCommands: Bool

        public init(id: Int64, name: String, hasCommands: Bool = true) {
            self.id = id
            self.name = name
            self.hasCommands = hasCommands
        }
    }

    public struct Stage: Sendable, Hashable {
        public let id: Int64
        public let name: String
        /// `build_stages.can_fail`: a failed job here makes the build `passed_with_failures`.
        public let canFail: Bool
        public let jobs: [Job]

        public init(id: Int64, name: String, canFail: Bool, jobs: [Job]) {
            self.id = id
            self.name = name
            self.canFail = canFail
            self.jobs = jobs
        }
    }

    /// A job together with where it sits in the plan.
    public struct ScheduledJob: Sendable, Hashable {
        public let job: Job
        public let stageIndex: Int
        public let stageName: String
        public let stageCanFail: Bool
    }

    public let buildNumber: Int64
    public let stages: [Stage]
    /// Every job of every stage, in run order.
    public let jobs: [ScheduledJob]
    /// The job named `create-driver` in the stage named `setup - #<build number>` (spec §4.2);
    /// nil when the build has none (the driver is created all the same).
    public let createDriverJobID: Int64?

    public static let createDriverJobName = "create-driver"

    public static func setupStageName(buildNumber: Int64) -> String {
        "setup - #\(buildNumber)"
    }

    /// Throws when two jobs share an id (the runner could not tell their reports apart).
    public init(buildNumber: Int64, stages: [Stage]) throws(RunnerPlanError) {
        var scheduled: [ScheduledJob] = []
        var seen = Set<Int64>()
        var createDriver: Int64?
        let setupName = Self.setupStageName(buildNumber: buildNumber)
        for (stageIndex, stage) in stages.enumerated() {
            for job in stage.jobs {
                guard seen.insert(job.id).inserted else { throw .duplicateJobID(job.id) }
                scheduled.append(
                    ScheduledJob(job: job, stageIndex: stageIndex, stageName: stage.name, stageCanFail: stage.canFail)
                )
                if createDriver == nil && stage.name == setupName && job.name == Self.createDriverJobName {
                    createDriver = job.id
                }
            }
        }
        self.buildNumber = buildNumber
        self.stages = stages
        self.jobs = scheduled
        self.createDriverJobID = createDriver
    }
}

public enum RunnerPlanError: Error, Equatable, CustomStringConvertible {
    case duplicateJobID(Int64)

    public var description: String {
        switch self {
        case .duplicateJobID(let id): return "build job \(id) appears twice in the plan"
        }
    }
}
