/// Why a run was cut short.
public enum CancelReason: Sendable, Hashable {
    /// A kill message with the build's secret arrived (spec §4.7).
    case killed
    /// The build's deadline passed, or driver creation exceeded its own time limit.
    case timedOut

    public var status: BuildStatus {
        switch self {
        case .killed: return .killed
        case .timedOut: return .timedOut
        }
    }
}

/// What the I/O shell reports to the runner.
public enum RunnerEvent: Sendable, Hashable {
    /// The shell is ready to run the build (first event).
    case start
    /// The shell is about to create the driver (after `.createDriver`). Create it only if
    /// this event was accepted (it is ignored when a cancel came first).
    case createDriverStarted
    case createDriverSucceeded
    /// Creating the driver failed; `reason` is the error text (written to the driver output).
    case createDriverFailed(reason: String)
    /// The shell is about to execute the job it was told to start. Execute it only if this
    /// event was accepted (it is ignored when a cancel came first).
    case jobStarted(Int64)
    /// The job's script ended: `success` false for a non-zero exit or a driver error;
    /// `errorText` is the recorded error (e.g. `exit status 2`), if any.
    case jobFinished(Int64, success: Bool, errorText: String?)
    /// Kill or timeout. The first one wins; later ones (and ones after the build's status
    /// is decided) are ignored.
    case cancelled(CancelReason)
    /// The driver is destroyed (after `.destroyDriver`).
    case driverDestroyed
}

/// When a job record also stamps a time column with "now".
public enum JobTimestamp: Sendable, Hashable {
    /// Set `started_at` (the job began).
    case startedNow
    /// Set `finished_at` (the job has its final status and output).
    case finishedNow
}

/// What the I/O shell must do, in order.
public enum RunnerAction: Sendable, Hashable {
    /// builds: status `running`, started_at = now.
    case recordBuildStarted
    /// Create the driver; report `.createDriverStarted`, then the outcome.
    case createDriver
    /// Stop the driver creation in progress (its outcome will be ignored).
    case abortDriverCreation
    /// Text for the driver output (create-driver job and build output).
    case writeDriverOutput(String)
    /// Execute this job; report `.jobStarted` first, then `.jobFinished`.
    case startJob(Int64)
    /// Stop this running job's processes now (its `.jobFinished` will be ignored). The
    /// records that follow do not need to wait for the processes to be gone.
    case abortJob(Int64)
    /// build_jobs: write the job row with this status (and output); stamp the time column.
    case recordJob(Int64, BuildStatus, JobTimestamp)
    /// The runner's own lines for the build output (`error: job … failed: …`).
    case writeBuildOutput(String)
    /// Destroy the driver (also after a failed or aborted creation: clean up what exists).
    /// Report `.driverDestroyed`.
    case destroyDriver
    /// builds: status, output, finished_at = now. Always the last action.
    case finishBuild(BuildStatus)
}

/// The result of one event.
public enum RunnerStep: Sendable, Hashable {
    case perform([RunnerAction])
    /// The event was expected to be possible (a late report of aborted work, a second cancel,
    /// a cancel after the outcome was decided) and changes nothing.
    case ignored(String)

    public var actions: [RunnerAction] {
        if case .perform(let actions) = self { return actions }
        return []
    }

    public var isIgnored: Bool {
        if case .ignored = self { return true }
        return false
    }
}

/// An event that cannot happen in the current state: a bug in the shell. The state machine
/// is unchanged.
public struct RunnerEventRejected: Error, Hashable, CustomStringConvertible {
    public let event: RunnerEvent
    public let state: String

    public var description: String { "runner: event \(event) is impossible while \(state)" }
}

/// Drives one build (spec §4.3, §4.4 and the Intended answer to open question 1): the pure
/// decisions, with every database write, driver call and output line expressed as a
/// `RunnerAction` the shell performs in order.
///
/// Rules:
/// * `start` → build running; create the driver. The create-driver job is marked `running`
///   (with `started_at`) when creation starts — Go writes `queued` there (§12 item 13).
/// * Creation fails → build `failed`; every unfinished job (create-driver included) gets
///   `failed` and `finished_at`; destroy the driver; finish.
/// * Creation succeeds → create-driver `passed`; then every other job in stage order, one at
///   a time. A job without commands passes without being executed.
/// * A failed job is `passed_with_failures` in a `can_fail` stage, else `failed`. A `failed`
///   job makes the build `failed`: a blank line and `error: job J in stage S failed: ERR` go
///   to the build output, later jobs never run and get `failed` with `finished_at`.
/// * Kill/timeout → the in-flight work is aborted, build `killed`/`timed_out`, and every job
///   not finished (the running one first) gets that status with `finished_at`.
/// * Build status = max(`running`, every job's final status).
public struct RunnerStateMachine: Sendable, Hashable {
    public let plan: RunnerPlan
    /// `queued` before `start`, then `running`, then the final status.
    public private(set) var buildStatus: BuildStatus = .queued
    /// The in-memory status of every job (what the rows say once the actions are performed).
    public private(set) var jobStatuses: [Int64: BuildStatus]
    /// True once `.finishBuild` was emitted.
    public var isFinished: Bool { phase == .finished }

    private enum Phase: Hashable {
        case notStarted
        case awaitingDriverCreation
        case creatingDriver
        case awaitingJobStart(Int)  // index into plan.jobs
        case runningJob(Int)
        case destroyingDriver
        case finished
    }

    /// Reports that may still arrive from work that was aborted.
    private enum LateReport: Hashable {
        case driverCreationStarted
        case driverCreationOutcome
        case jobStarted(Int64)
        case jobFinished(Int64)
    }

    private var phase: Phase = .notStarted
    private var finishedJobs: Set<Int64> = []
    private var lateReports: Set<LateReport> = []

    public init(plan: RunnerPlan) {
        self.plan = plan
        var statuses: [Int64: BuildStatus] = [:]
        for scheduled in plan.jobs { statuses[scheduled.job.id] = .queued }
        self.jobStatuses = statuses
    }

    public mutating func handle(_ event: RunnerEvent) throws(RunnerEventRejected) -> RunnerStep {
        switch (event, phase) {
        case (.start, .notStarted):
            buildStatus = .running
            phase = .awaitingDriverCreation
            return .perform([.recordBuildStarted, .createDriver])

        case (.createDriverStarted, .awaitingDriverCreation):
            phase = .creatingDriver
            guard let id = plan.createDriverJobID else { return .perform([]) }
            jobStatuses[id] = .running
            return .perform([.recordJob(id, .running, .startedNow)])

        case (.createDriverSucceeded, .creatingDriver):
            var actions: [RunnerAction] = []
            if let id = plan.createDriverJobID { actions.append(complete(id, .passed)) }
            return .perform(actions + advance(from: 0))

        case (.createDriverFailed(let reason), .creatingDriver):
            buildStatus = .failed
            var actions: [RunnerAction] = [.writeDriverOutput(reason + "\n")]
            actions += finishUnfinishedJobs(.failed)
            phase = .destroyingDriver
            actions.append(.destroyDriver)
            return .perform(actions)

        case (.jobStarted(let id), .awaitingJobStart(let index)) where plan.jobs[index].job.id == id:
            phase = .runningJob(index)
            jobStatuses[id] = .running
            return .perform([.recordJob(id, .running, .startedNow)])

        case (.jobFinished(let id, let success, let errorText), .runningJob(let index))
        where plan.jobs[index].job.id == id:
            let scheduled = plan.jobs[index]
            let status: BuildStatus = success ? .passed : (scheduled.stageCanFail ? .passedWithFailures : .failed)
            var actions = [complete(id, status)]
            guard status == .failed else { return .perform(actions + advance(from: index + 1)) }
            // Intended (open question 1, pre-2023 Go): stop after the job that failed the build.
            var lines = "\n"
            if let errorText {
                lines += "error: job \(scheduled.job.name) in stage \(scheduled.stageName) failed: \(errorText)\n"
            }
            actions.append(.writeBuildOutput(lines))
            actions += finishUnfinishedJobs(.failed)
            phase = .destroyingDriver
            actions.append(.destroyDriver)
            return .perform(actions)

        case (.cancelled(let reason), _):
            return cancel(reason, event: event)

        case (.driverDestroyed, .destroyingDriver):
            phase = .finished
            return .perform([.finishBuild(buildStatus)])

        default:
            if let late = lateReport(for: event), lateReports.remove(late) != nil {
                // An ignored start means the work is never done, so no outcome will follow.
                if late == .driverCreationStarted { lateReports.remove(.driverCreationOutcome) }
                return .ignored("\(event) arrived after the run was cut short")
            }
            throw RunnerEventRejected(event: event, state: stateDescription)
        }
    }

    // MARK: - Steps

    /// Starts the first unfinished job at or after `index`, passing jobs without commands on
    /// the way; destroys the driver when none is left.
    private mutating func advance(from index: Int) -> [RunnerAction] {
        var actions: [RunnerAction] = []
        var next = index
        while next < plan.jobs.count {
            let job = plan.jobs[next].job
            if finishedJobs.contains(job.id) {
                next += 1
            } else if !job.hasCommands {
                actions.append(complete(job.id, .passed))
                next += 1
            } else {
                phase = .awaitingJobStart(next)
                actions.append(.startJob(job.id))
                return actions
            }
        }
        // Every job passed or passed with failures; with no jobs at all the build passed.
        buildStatus = buildStatus.combined(with: .passed)
        phase = .destroyingDriver
        actions.append(.destroyDriver)
        return actions
    }

    private mutating func cancel(_ reason: CancelReason, event: RunnerEvent) -> RunnerStep {
        var actions: [RunnerAction] = []
        switch phase {
        case .notStarted:
            // Killed before it ran: no driver to destroy.
            buildStatus = reason.status
            actions += finishUnfinishedJobs(reason.status)
            phase = .finished
            actions.append(.finishBuild(buildStatus))
            return .perform(actions)
        case .awaitingDriverCreation:
            lateReports.formUnion([.driverCreationStarted, .driverCreationOutcome])
        case .creatingDriver:
            lateReports.insert(.driverCreationOutcome)
            actions.append(.abortDriverCreation)
        case .awaitingJobStart(let index):
            lateReports.insert(.jobStarted(plan.jobs[index].job.id))
        case .runningJob(let index):
            let id = plan.jobs[index].job.id
            lateReports.insert(.jobFinished(id))
            actions.append(.abortJob(id))
        case .destroyingDriver, .finished:
            return .ignored("\(event) arrived after the build's status was decided (\(buildStatus))")
        }
        buildStatus = reason.status
        actions += finishUnfinishedJobs(reason.status)
        phase = .destroyingDriver
        actions.append(.destroyDriver)
        return .perform(actions)
    }

    private mutating func complete(_ id: Int64, _ status: BuildStatus) -> RunnerAction {
        jobStatuses[id] = status
        finishedJobs.insert(id)
        buildStatus = buildStatus.combined(with: status)
        return .recordJob(id, status, .finishedNow)
    }

    /// Gives every job not yet finished, in plan order, the final status.
    private mutating func finishUnfinishedJobs(_ status: BuildStatus) -> [RunnerAction] {
        var actions: [RunnerAction] = []
        for scheduled in plan.jobs where !finishedJobs.contains(scheduled.job.id) {
            actions.append(complete(scheduled.job.id, status))
        }
        return actions
    }

    // MARK: - Late reports

    private func lateReport(for event: RunnerEvent) -> LateReport? {
        switch event {
        case .createDriverStarted: return .driverCreationStarted
        case .createDriverSucceeded, .createDriverFailed: return .driverCreationOutcome
        case .jobStarted(let id): return .jobStarted(id)
        case .jobFinished(let id, _, _): return .jobFinished(id)
        case .start, .cancelled, .driverDestroyed: return nil
        }
    }

    private var stateDescription: String {
        switch phase {
        case .notStarted: return "not started"
        case .awaitingDriverCreation: return "waiting for driver creation to start"
        case .creatingDriver: return "creating the driver"
        case .awaitingJobStart(let index): return "waiting for job \(plan.jobs[index].job.id) to start"
        case .runningJob(let index): return "running job \(plan.jobs[index].job.id)"
        case .destroyingDriver: return "destroying the driver"
        case .finished: return "finished (\(buildStatus))"
        }
    }
}
