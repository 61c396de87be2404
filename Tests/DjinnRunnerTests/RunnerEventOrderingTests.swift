import Testing
@testable import DjinnRunner

/// Explores every sequence of events the machine accepts (or explicitly ignores) for small
/// plans, trying every possible event in every state: impossible events must be rejected
/// without changing anything, and every complete run must leave consistent records.
@Suite struct RunnerEventOrderingTests {
    struct Statistics {
        var states = 0
        var completeRuns = 0
        var rejected = 0
        var ignored = 0
    }

    static func alphabet(for plan: RunnerPlan) -> [RunnerEvent] {
        var events: [RunnerEvent] = [
            .start, .createDriverStarted, .createDriverSucceeded, .createDriverFailed(reason: "no"),
            .cancelled(.killed), .cancelled(.timedOut), .driverDestroyed,
            .jobStarted(999), .jobFinished(999, success: true, errorText: nil),
        ]
        for scheduled in plan.jobs {
            let id = scheduled.job.id
            events += [
                .jobStarted(id), .jobFinished(id, success: true, errorText: nil),
                .jobFinished(id, success: false, errorText: "exit status 3"),
            ]
        }
        return events
    }

    func explore(
        _ machine: RunnerStateMachine, log: [RunnerAction], alphabet: [RunnerEvent], plan: RunnerPlan,
        statistics: inout Statistics
    ) {
        statistics.states += 1
        if machine.isFinished {
            statistics.completeRuns += 1
            check(log: log, machine: machine, plan: plan)
        }
        for event in alphabet {
            var next = machine
            do {
                let step = try next.handle(event)
                switch step {
                case .perform(let actions):
                    #expect(!machine.isFinished, "nothing is performed after the build finished")
                    explore(next, log: log + actions, alphabet: alphabet, plan: plan, statistics: &statistics)
                case .ignored:
                    statistics.ignored += 1
                    #expect(next.buildStatus == machine.buildStatus)
                    #expect(next.jobStatuses == machine.jobStatuses)
                    #expect(next.isFinished == machine.isFinished)
                    // Ignoring a late report consumes it (the state changes, and this terminates);
                    // ignoring a cancel after the outcome changes nothing at all.
                    if next != machine {
                        explore(next, log: log, alphabet: alphabet, plan: plan, statistics: &statistics)
                    }
                }
            } catch {
                statistics.rejected += 1
                #expect(next == machine, "a rejected event changes nothing")
            }
        }
    }

    func check(log: [RunnerAction], machine: RunnerStateMachine, plan: RunnerPlan) {
        var finals: [Int64: BuildStatus] = [:]
        var running: Int64?
        var startRequested: Set<Int64> = []
        for action in log {
            switch action {
            case .recordJob(let id, _, .startedNow):
                #expect(running == nil, "one job at a time")
                running = id
            case .recordJob(let id, let status, .finishedNow):
                #expect(finals[id] == nil)
                #expect(status.isFinal)
                finals[id] = status
                if running == id { running = nil }
            case .startJob(let id):
                #expect(startRequested.insert(id).inserted)
                #expect(plan.jobs.first { $0.job.id == id }.map { finals[$0.job.id] == nil } == true)
            default:
                break
            }
        }
        #expect(running == nil)
        #expect(Set(finals.keys) == Set(plan.jobs.map(\.job.id)))
        #expect(finals == machine.jobStatuses)
        guard case .finishBuild(let build)? = log.last else {
            Issue.record("a complete run ends with finishBuild")
            return
        }
        #expect(build == machine.buildStatus)
        #expect(log.filter { if case .finishBuild = $0 { return true } else { return false } }.count == 1)
        if log.first == .recordBuildStarted {
            #expect(build == finals.values.reduce(BuildStatus.running) { $0.combined(with: $1) })
            #expect(log.dropLast().last == .destroyDriver)
        }
        // After a job that failed the build, nothing else starts.
        if let failedAt = log.firstIndex(where: {
            if case .recordJob(_, .failed, .finishedNow) = $0 { return true } else { return false }
        }) {
            #expect(!log[failedAt...].contains { if case .startJob = $0 { return true } else { return false } })
        }
    }

    @Test(arguments: [(false, false), (false, true), (true, false), (true, true)])
    func everyEventOrderingOfTwoStagesOfTwoJobs(canFail: (Bool, Bool)) throws {
        let plan = try RunnerPlan(buildNumber: 3, stages: [
            .init(id: 1, name: "a", canFail: canFail.0, jobs: [.init(id: 1, name: "a1"), .init(id: 2, name: "a2")]),
            .init(id: 2, name: "b", canFail: canFail.1, jobs: [.init(id: 3, name: "b1"), .init(id: 4, name: "b2")]),
        ])
        var statistics = Statistics()
        explore(RunnerStateMachine(plan: plan), log: [], alphabet: Self.alphabet(for: plan), plan: plan, statistics: &statistics)
        #expect(statistics.completeRuns > 100)
        #expect(statistics.rejected > statistics.states)
        #expect(statistics.ignored > 0)
    }

    @Test func everyEventOrderingWithASetupStage() throws {
        let plan = try RunnerPlan(buildNumber: 3, stages: [
            .init(id: 1, name: "setup - #3", canFail: false, jobs: [
                .init(id: 1, name: "create-driver"), .init(id: 2, name: "clone.1"),
            ]),
            .init(id: 2, name: "b", canFail: true, jobs: [
                .init(id: 3, name: "b1"), .init(id: 4, name: "nothing", hasCommands: false),
            ]),
        ])
        var statistics = Statistics()
        explore(RunnerStateMachine(plan: plan), log: [], alphabet: Self.alphabet(for: plan), plan: plan, statistics: &statistics)
        #expect(statistics.completeRuns > 20)
    }

    @Test func lateReportsAreIgnoredOnlyOnce() throws {
        let plan = try RunnerPlan(buildNumber: 1, stages: [
            .init(id: 1, name: "s", canFail: false, jobs: [.init(id: 1, name: "j")])
        ])
        var machine = RunnerStateMachine(plan: plan)
        _ = try machine.handle(.start)
        _ = try machine.handle(.createDriverStarted)
        _ = try machine.handle(.createDriverSucceeded)
        _ = try machine.handle(.jobStarted(1))
        #expect(try machine.handle(.cancelled(.killed)).actions.first == .abortJob(1))
        #expect(try machine.handle(.cancelled(.timedOut)).isIgnored)
        #expect(try machine.handle(.jobFinished(1, success: true, errorText: nil)).isIgnored)
        #expect(throws: RunnerEventRejected.self) { try machine.handle(.jobFinished(1, success: true, errorText: nil)) }
        #expect(try machine.handle(.driverDestroyed).actions == [.finishBuild(.killed)])
        #expect(try machine.handle(.cancelled(.killed)).isIgnored)
        #expect(throws: RunnerEventRejected.self) { try machine.handle(.start) }
    }
}
