import Testing
@testable import DjinnRunner

// MARK: - Plans and a simulated shell

private let setupStage = RunnerPlan.Stage(
    id: 1, name: "setup - #7", canFail: false,
    jobs: [.init(id: 10, name: "create-driver"), .init(id: 11, name: "clone.1")]
)

/// setup + two stages of two jobs each, with the given `can_fail` flags.
private func plan(canFail: (Bool, Bool)) throws -> RunnerPlan {
    try RunnerPlan(buildNumber: 7, stages: [
        setupStage,
        .init(id: 2, name: "build", canFail: canFail.0, jobs: [.init(id: 20, name: "compile"), .init(id: 21, name: "lint")]),
        .init(id: 3, name: "test", canFail: canFail.1, jobs: [.init(id: 30, name: "unit"), .init(id: 31, name: "e2e")]),
    ])
}

/// Where a simulated run is cut short.
private enum CancelPoint: Hashable {
    case beforeStart
    case awaitingDriverCreation
    case creatingDriver
    case awaitingJobStart(Int64)
    case runningJob(Int64)
}

private struct Simulation {
    var machine: RunnerStateMachine
    var actions: [RunnerAction] = []
    var executed: [Int64] = []
}

/// Performs the machine's actions as the worker would: creation succeeds unless
/// `creationFails`, each job succeeds unless listed in `failing`, and the cancel (if any)
/// arrives at `cancelAt`. Late reports of aborted work are sent and must be ignored.
private func simulate(
    _ plan: RunnerPlan, failing: Set<Int64> = [], creationFails: Bool = false,
    cancel: (CancelPoint, CancelReason)? = nil
) throws -> Simulation {
    var simulation = Simulation(machine: RunnerStateMachine(plan: plan))
    var queue: [RunnerAction] = []

    func send(_ event: RunnerEvent, _ simulation: inout Simulation, _ queue: inout [RunnerAction]) throws -> RunnerStep {
        let step = try simulation.machine.handle(event)
        simulation.actions += step.actions
        queue += step.actions
        return step
    }
    func cancelIfDue(_ point: CancelPoint, _ simulation: inout Simulation, _ queue: inout [RunnerAction]) throws -> Bool {
        guard let cancel, cancel.0 == point else { return false }
        let step = try send(.cancelled(cancel.1), &simulation, &queue)
        #expect(!step.isIgnored)
        return true
    }

    if try cancelIfDue(.beforeStart, &simulation, &queue) { return simulation }
    _ = try send(.start, &simulation, &queue)
    while !queue.isEmpty {
        let action = queue.removeFirst()
        switch action {
        case .createDriver:
            let wasCancelled = try cancelIfDue(.awaitingDriverCreation, &simulation, &queue)
            let started = try send(.createDriverStarted, &simulation, &queue)
            #expect(started.isIgnored == wasCancelled)
            if started.isIgnored { continue }
            let cancelledDuring = try cancelIfDue(.creatingDriver, &simulation, &queue)
            let outcome = try send(
                creationFails ? .createDriverFailed(reason: "boom") : .createDriverSucceeded, &simulation, &queue
            )
            #expect(outcome.isIgnored == cancelledDuring)
        case .startJob(let id):
            let wasCancelled = try cancelIfDue(.awaitingJobStart(id), &simulation, &queue)
            let started = try send(.jobStarted(id), &simulation, &queue)
            #expect(started.isIgnored == wasCancelled)
            if started.isIgnored { continue }
            simulation.executed.append(id)
            let cancelledDuring = try cancelIfDue(.runningJob(id), &simulation, &queue)
            let success = !failing.contains(id)
            let finished = try send(
                .jobFinished(id, success: success, errorText: success ? nil : "exit status 1"), &simulation, &queue
            )
            #expect(finished.isIgnored == cancelledDuring)
        case .destroyDriver:
            _ = try send(.driverDestroyed, &simulation, &queue)
        case .recordBuildStarted, .abortDriverCreation, .writeDriverOutput, .abortJob, .recordJob, .writeBuildOutput,
            .finishBuild:
            break
        }
    }
    return simulation
}

/// The final status of each job from the `recordJob(…, .finishedNow)` actions.
private func finalStatuses(_ actions: [RunnerAction]) -> [Int64: BuildStatus] {
    var statuses: [Int64: BuildStatus] = [:]
    for case .recordJob(let id, let status, .finishedNow) in actions {
        #expect(statuses[id] == nil, "job \(id) finished twice")
        statuses[id] = status
    }
    return statuses
}

// MARK: - Tests

@Suite struct RunnerStateMachineTests {
    @Test func planFindsTheCreateDriverJobOnlyInTheSetupStageOfThisBuild() throws {
        #expect(try plan(canFail: (false, false)).createDriverJobID == 10)
        let otherNumber = try RunnerPlan(buildNumber: 8, stages: [setupStage])
        #expect(otherNumber.createDriverJobID == nil)
        let elsewhere = try RunnerPlan(buildNumber: 7, stages: [
            .init(id: 2, name: "build", canFail: false, jobs: [.init(id: 20, name: "create-driver")])
        ])
        #expect(elsewhere.createDriverJobID == nil)
        #expect(throws: RunnerPlanError.duplicateJobID(20)) {
            try RunnerPlan(buildNumber: 7, stages: [
                .init(id: 2, name: "a", canFail: false, jobs: [.init(id: 20, name: "x")]),
                .init(id: 3, name: "b", canFail: false, jobs: [.init(id: 20, name: "y")]),
            ])
        }
    }

    @Test func passingBuildEmitsEveryWriteInOrder() throws {
        let run = try simulate(try plan(canFail: (false, false)))
        #expect(run.actions == [
            .recordBuildStarted, .createDriver,
            .recordJob(10, .running, .startedNow),
            .recordJob(10, .passed, .finishedNow),
            .startJob(11), .recordJob(11, .running, .startedNow), .recordJob(11, .passed, .finishedNow),
            .startJob(20), .recordJob(20, .running, .startedNow), .recordJob(20, .passed, .finishedNow),
            .startJob(21), .recordJob(21, .running, .startedNow), .recordJob(21, .passed, .finishedNow),
            .startJob(30), .recordJob(30, .running, .startedNow), .recordJob(30, .passed, .finishedNow),
            .startJob(31), .recordJob(31, .running, .startedNow), .recordJob(31, .passed, .finishedNow),
            .destroyDriver, .finishBuild(.passed),
        ])
        #expect(run.executed == [11, 20, 21, 30, 31])  // create-driver is the creation, not a script
        #expect(run.machine.isFinished)
        #expect(run.machine.buildStatus == .passed)
    }

    @Test func failedJobStopsTheBuildAndFailsEveryLaterJob() throws {
        let run = try simulate(try plan(canFail: (false, false)), failing: [20])
        #expect(run.executed == [11, 20])
        #expect(Array(run.actions.drop(while: { $0 != .startJob(20) })) == [
            .startJob(20), .recordJob(20, .running, .startedNow), .recordJob(20, .failed, .finishedNow),
            .writeBuildOutput("\nerror: job compile in stage build failed: exit status 1\n"),
            .recordJob(21, .failed, .finishedNow), .recordJob(30, .failed, .finishedNow),
            .recordJob(31, .failed, .finishedNow),
            .destroyDriver, .finishBuild(.failed),
        ])
    }

    @Test func failureWithoutErrorTextWritesOnlyTheBlankLine() throws {
        var machine = RunnerStateMachine(plan: try plan(canFail: (false, false)))
        _ = try machine.handle(.start)
        _ = try machine.handle(.createDriverStarted)
        _ = try machine.handle(.createDriverSucceeded)
        _ = try machine.handle(.jobStarted(11))
        let step = try machine.handle(.jobFinished(11, success: false, errorText: nil))
        #expect(step.actions.contains(.writeBuildOutput("\n")))
        #expect(step.actions.last == .destroyDriver)
    }

    @Test func failureInCanFailStageGivesPassedWithFailuresAndContinues() throws {
        let run = try simulate(try plan(canFail: (true, false)), failing: [20])
        #expect(run.executed == [11, 20, 21, 30, 31])
        #expect(finalStatuses(run.actions)[20] == .passedWithFailures)
        #expect(run.actions.last == .finishBuild(.passedWithFailures))
        #expect(!run.actions.contains { if case .writeBuildOutput = $0 { return true } else { return false } })
    }

    @Test func driverCreationFailureFailsEveryJob() throws {
        let run = try simulate(try plan(canFail: (true, true)), creationFails: true)
        #expect(run.executed.isEmpty)
        #expect(run.actions == [
            .recordBuildStarted, .createDriver,
            .recordJob(10, .running, .startedNow),
            .writeDriverOutput("boom\n"),
            .recordJob(10, .failed, .finishedNow), .recordJob(11, .failed, .finishedNow),
            .recordJob(20, .failed, .finishedNow), .recordJob(21, .failed, .finishedNow),
            .recordJob(30, .failed, .finishedNow), .recordJob(31, .failed, .finishedNow),
            .destroyDriver, .finishBuild(.failed),
        ])
    }

    @Test func killWhileAJobRunsAbortsItAndGivesEveryUnfinishedJobTheStatus() throws {
        let run = try simulate(try plan(canFail: (false, false)), cancel: (.runningJob(21), .killed))
        #expect(Array(run.actions.drop(while: { $0 != .startJob(21) })) == [
            .startJob(21), .recordJob(21, .running, .startedNow),
            .abortJob(21),
            .recordJob(21, .killed, .finishedNow), .recordJob(30, .killed, .finishedNow),
            .recordJob(31, .killed, .finishedNow),
            .destroyDriver, .finishBuild(.killed),
        ])
    }

    @Test func timeoutDuringDriverCreationAbortsIt() throws {
        let run = try simulate(try plan(canFail: (false, false)), cancel: (.creatingDriver, .timedOut))
        #expect(run.actions == [
            .recordBuildStarted, .createDriver, .recordJob(10, .running, .startedNow),
            .abortDriverCreation,
            .recordJob(10, .timedOut, .finishedNow), .recordJob(11, .timedOut, .finishedNow),
            .recordJob(20, .timedOut, .finishedNow), .recordJob(21, .timedOut, .finishedNow),
            .recordJob(30, .timedOut, .finishedNow), .recordJob(31, .timedOut, .finishedNow),
            .destroyDriver, .finishBuild(.timedOut),
        ])
    }

    @Test func killBeforeTheRunStartsFinishesWithoutADriver() throws {
        let run = try simulate(try plan(canFail: (false, false)), cancel: (.beforeStart, .killed))
        #expect(!run.actions.contains(.destroyDriver))
        #expect(!run.actions.contains(.recordBuildStarted))
        #expect(run.actions.last == .finishBuild(.killed))
        #expect(finalStatuses(run.actions).count == 6)
    }

    @Test func jobsWithoutCommandsPassWithoutRunning() throws {
        let plan = try RunnerPlan(buildNumber: 1, stages: [
            .init(id: 1, name: "setup - #1", canFail: false, jobs: [.init(id: 1, name: "create-driver")]),
            .init(id: 2, name: "s", canFail: false, jobs: [
                .init(id: 2, name: "empty", hasCommands: false), .init(id: 3, name: "real"),
                .init(id: 4, name: "empty too", hasCommands: false),
            ]),
        ])
        let run = try simulate(plan)
        #expect(run.executed == [3])
        #expect(run.actions == [
            .recordBuildStarted, .createDriver, .recordJob(1, .running, .startedNow), .recordJob(1, .passed, .finishedNow),
            .recordJob(2, .passed, .finishedNow), .startJob(3), .recordJob(3, .running, .startedNow),
            .recordJob(3, .passed, .finishedNow), .recordJob(4, .passed, .finishedNow),
            .destroyDriver, .finishBuild(.passed),
        ])
    }

    @Test func buildWithoutCreateDriverJobStillCreatesTheDriver() throws {
        let plan = try RunnerPlan(buildNumber: 1, stages: [
            .init(id: 2, name: "s", canFail: false, jobs: [.init(id: 3, name: "only")])
        ])
        let run = try simulate(plan)
        #expect(run.actions == [
            .recordBuildStarted, .createDriver, .startJob(3), .recordJob(3, .running, .startedNow),
            .recordJob(3, .passed, .finishedNow), .destroyDriver, .finishBuild(.passed),
        ])
        let empty = try simulate(try RunnerPlan(buildNumber: 1, stages: []))
        #expect(empty.actions == [.recordBuildStarted, .createDriver, .destroyDriver, .finishBuild(.passed)])
    }

    /// Every combination of `can_fail` flags and pass/fail outcomes, without and with a kill
    /// or timeout at every point of the run, against an independent statement of the rules.
    @Test func everyOutcomeCombinationMatchesTheRules() async throws {
        let jobIDs: [Int64] = [11, 20, 21, 30, 31]
        var points: [CancelPoint?] = [nil, .beforeStart, .awaitingDriverCreation, .creatingDriver]
        for id in jobIDs { points += [.awaitingJobStart(id), .runningJob(id)] }
        var scenarios = 0
        for canFail in [(false, false), (false, true), (true, false), (true, true)] {
            let plan = try plan(canFail: canFail)
            let stageCanFail: [Int64: Bool] = [11: false, 20: canFail.0, 21: canFail.0, 30: canFail.1, 31: canFail.1]
            for mask in 0..<(1 << jobIDs.count) {
                let failing = Set(jobIDs.enumerated().filter { mask & (1 << $0.offset) != 0 }.map(\.element))
                await Task.yield()  // long CPU work: let timing-sensitive tests run
                for creationFails in [false, true] {
                    for point in points {
                        for reason in [CancelReason.killed, .timedOut] {
                            if point == nil && reason == .timedOut { continue }
                            let cancel = point.map { ($0, reason) }
                            let run = try simulate(plan, failing: failing, creationFails: creationFails, cancel: cancel)
                            let expected = expectedOutcome(
                                jobIDs: jobIDs, canFail: stageCanFail, failing: failing,
                                creationFails: creationFails, cancel: cancel
                            )
                            // A cancel at a point the run never reaches does not happen.
                            guard expected.cancelReached || cancel == nil else { continue }
                            scenarios += 1
                            #expect(run.executed == expected.executed, "\(canFail) \(failing) \(String(describing: cancel))")
                            #expect(finalStatuses(run.actions) == expected.statuses)
                            #expect(run.actions.last == .finishBuild(expected.build))
                            #expect(run.machine.buildStatus == expected.build)
                            #expect(run.machine.jobStatuses == expected.statuses)
                            checkActionInvariants(run.actions, plan: plan)
                        }
                    }
                }
            }
        }
        #expect(scenarios > 1000)
    }
}

/// The rules of §4.3/§4.4 (Intended), restated independently of the state machine.
private func expectedOutcome(
    jobIDs: [Int64], canFail: [Int64: Bool], failing: Set<Int64>, creationFails: Bool,
    cancel: (CancelPoint, CancelReason)?
) -> (executed: [Int64], statuses: [Int64: BuildStatus], build: BuildStatus, cancelReached: Bool) {
    var statuses: [Int64: BuildStatus] = [:]
    let all: [Int64] = [10] + jobIDs
    func finishRest(_ status: BuildStatus) { for id in all where statuses[id] == nil { statuses[id] = status } }
    func reached(_ point: CancelPoint) -> Bool { cancel?.0 == point }

    if reached(.beforeStart) || reached(.awaitingDriverCreation) || reached(.creatingDriver) {
        finishRest(cancel!.1.status)
        return ([], statuses, cancel!.1.status, true)
    }
    if creationFails {
        finishRest(.failed)
        return ([], statuses, .failed, false)
    }
    statuses[10] = .passed
    var build = BuildStatus.running.combined(with: .passed)
    var executed: [Int64] = []
    for id in jobIDs {
        if reached(.awaitingJobStart(id)) {
            finishRest(cancel!.1.status)
            return (executed, statuses, cancel!.1.status, true)
        }
        executed.append(id)
        if reached(.runningJob(id)) {
            finishRest(cancel!.1.status)
            return (executed, statuses, cancel!.1.status, true)
        }
        let status: BuildStatus = failing.contains(id) ? (canFail[id]! ? .passedWithFailures : .failed) : .passed
        statuses[id] = status
        build = build.combined(with: status)
        if status == .failed {
            finishRest(.failed)
            return (executed, statuses, .failed, false)
        }
    }
    return (executed, statuses, build, false)
}

/// Properties every complete action log must have.
private func checkActionInvariants(_ actions: [RunnerAction], plan: RunnerPlan) {
    let ids = plan.jobs.map(\.job.id)
    var started: Set<Int64> = []
    var finished: Set<Int64> = []
    var startJobs: [Int64] = []
    for (index, action) in actions.enumerated() {
        switch action {
        case .recordJob(let id, let status, .startedNow):
            #expect(status == .running)
            #expect(!finished.contains(id) && started.insert(id).inserted)
        case .recordJob(let id, let status, .finishedNow):
            #expect(status.isFinal)
            #expect(finished.insert(id).inserted)
        case .startJob(let id):
            #expect(id != plan.createDriverJobID)
            startJobs.append(id)
        case .finishBuild:
            #expect(index == actions.count - 1)
        case .destroyDriver:
            #expect(actions.filter { $0 == .destroyDriver }.count == 1)
        default:
            break
        }
    }
    #expect(finished == Set(ids), "every job ends with a final status")
    #expect(startJobs == ids.filter { startJobs.contains($0) }, "jobs start in plan order")
    #expect(Set(startJobs).count == startJobs.count, "no job starts twice")
    let statuses = finalStatuses(actions)
    if case .finishBuild(let build)? = actions.last, actions.first == .recordBuildStarted {
        #expect(build == statuses.values.reduce(BuildStatus.running) { $0.combined(with: $1) })
    }
}
