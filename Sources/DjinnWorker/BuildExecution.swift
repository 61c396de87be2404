import enum DjinnBuilds.RandomHex
import DjinnRunner
import Foundation
import Logging

/// Time limits and buffer sizes of one run.
public struct RunSettings: Sendable {
    /// The build's time limit (worker `timeout`).
    public var timeout: Duration
    /// Driver creation is limited to min(this, the time left) (spec §4.7, intended form).
    public var creationLimit: Duration
    /// How often the output of the running job (and of the build) is written while it runs.
    public var flushInterval: Duration
    public var jobOutputLimits: OutputLimits
    public var buildOutputLimits: OutputLimits

    public init(
        timeout: Duration, creationLimit: Duration = .seconds(300), flushInterval: Duration = .milliseconds(250),
        jobOutputLimits: OutputLimits = .standard, buildOutputLimits: OutputLimits = .standard
    ) {
        self.timeout = timeout
        self.creationLimit = creationLimit
        self.flushInterval = flushInterval
        self.jobOutputLimits = jobOutputLimits
        self.buildOutputLimits = buildOutputLimits
    }
}

/// How a run ended.
public enum RunOutcome: Sendable, Equatable {
    /// The build row holds its final status, output and `finished_at`.
    case finished(BuildStatus)
    /// The worker is shutting down: the build was stopped and nothing final was written; the
    /// caller resets it to `queued` for the next worker.
    case interrupted
}

/// What the runner's I/O shell hears about.
enum RunInput: Sendable {
    case runner(RunnerEvent)
    /// Driver creation took longer than its own limit.
    case creationTimedOut
    /// Time to write the live output.
    case flush
    /// The worker is shutting down: stop the build without recording an outcome.
    case interrupt
}

/// Runs one build with a `RunnerStateMachine`: feeds it events (driver and job outcomes,
/// kill, timeout) one at a time and performs the actions it returns — database writes in
/// order, driver calls, output routing. `kill()` and `interrupt()` may be called from any task.
public final class BuildExecution: Sendable {
    private let inputs: AsyncStream<RunInput>
    private let post: AsyncStream<RunInput>.Continuation
    private let context: Context

    struct Context: Sendable {
        let definition: BuildDefinition
        let setup: Result<DriverSetup, DriverError>
        let masks: [String]
        let driver: any BuildDriver
        let recorder: BuildRecorder
        let collector: ArtifactCollector
        let settings: RunSettings
        let logger: Logger
    }

    /// `setup` holds the decrypted variables, keys and objects, or why they could not be
    /// prepared (the build then fails at driver creation with that reason); `masks` are the
    /// masked variables' values.
    public init(
        definition: BuildDefinition, setup: Result<DriverSetup, DriverError>, masks: [String], driver: any BuildDriver,
        recorder: BuildRecorder, collector: ArtifactCollector, settings: RunSettings, logger: Logger
    ) {
        (inputs, post) = AsyncStream.makeStream(of: RunInput.self, bufferingPolicy: .unbounded)
        context = Context(
            definition: definition, setup: setup, masks: masks, driver: driver, recorder: recorder, collector: collector,
            settings: settings, logger: logger)
    }

    /// A kill with the right secret arrived.
    public func kill() {
        post.yield(.runner(.cancelled(.killed)))
    }

    /// The worker is shutting down and will not wait for the build.
    public func interrupt() {
        post.yield(.interrupt)
    }

    /// Runs the build to its end. Throws only when the run itself broke down (a database
    /// write that kept failing at the end, an impossible runner event); the driver is
    /// stopped and destroyed in every case.
    public func run() async throws -> RunOutcome {
        let engine = Engine(context: context, post: post)
        defer { post.finish() }
        return try await engine.run(inputs)
    }
}

/// The mutable side of a run, used by `BuildExecution.run()` only.
private final class Engine {
    let context: BuildExecution.Context
    let post: AsyncStream<RunInput>.Continuation
    let sink: OutputSink
    var machine: RunnerStateMachine
    var build = RecordedState(status: .queued)
    var jobs: [Int64: RecordedState] = [:]
    /// The stream the driver's creation output goes to.
    let driverStream: OutputStream
    /// The job whose output is live (create-driver during creation, then the running job).
    var liveJob: Int64?
    var creationTask: Task<Void, Never>?
    var creationPending = false
    var creationTimer: Task<Void, Never>?
    var jobTask: Task<Void, Never>?
    var abortTask: Task<Void, Never>?
    var timers: [Task<Void, Never>] = []
    var interrupted = false
    var outcome: BuildStatus?
    var buildID: Int64 { context.definition.row.id }
    var logger: Logger { context.logger }

    init(context: BuildExecution.Context, post: AsyncStream<RunInput>.Continuation) {
        self.context = context
        self.post = post
        self.sink = OutputSink(
            masks: context.masks, jobLimits: context.settings.jobOutputLimits,
            buildLimits: context.settings.buildOutputLimits)
        self.machine = RunnerStateMachine(plan: context.definition.plan)
        if let id = context.definition.plan.createDriverJobID {
            driverStream = .job(id)
        } else {
            driverStream = .buildOnly
        }
        for scheduled in context.definition.plan.jobs { jobs[scheduled.job.id] = RecordedState(status: .queued) }
    }

    func run(_ inputs: AsyncStream<RunInput>) async throws -> RunOutcome {
        let interval = context.settings.flushInterval
        let post = self.post
        timers.append(Task {
            while true {
                do { try await Task.sleep(for: interval) } catch { return }
                post.yield(.flush)
            }
        })
        defer {
            for timer in timers { timer.cancel() }
            creationTimer?.cancel()
        }
        do {
            try await handle(.start)
            if !machine.isFinished {
                for await input in inputs {
                    switch input {
                    case .runner(let event):
                        try await handle(event)
                    case .creationTimedOut:
                        if creationPending { try await handle(.cancelled(.timedOut)) }
                    case .flush:
                        await flushLive()
                    case .interrupt:
                        try await handleInterrupt()
                    }
                    if machine.isFinished { break }
                }
            }
        } catch {
            await stopEverything()
            throw error
        }
        if interrupted { return .interrupted }
        return .finished(outcome ?? machine.buildStatus)
    }

    // MARK: Events

    private func handle(_ event: RunnerEvent) async throws {
        var queue: [RunnerEvent] = [event]
        while !queue.isEmpty {
            let next = queue.removeFirst()
            let step = try machine.handle(next)
            if case .ignored(let why) = step {
                logger.debug("runner event ignored", metadata: ["build_id": "\(buildID)", "reason": "\(why)"])
                continue
            }
            switch next {
            case .createDriverSucceeded, .createDriverFailed:
                creationPending = false
                creationTimer?.cancel()
            case .cancelled(let reason):
                logger.debug("\(reason == .killed ? "killing" : "timing out") build \(buildID)")
            default:
                break
            }
            for action in step.actions {
                if let followUp = try await perform(action) { queue.append(followUp) }
            }
            switch next {
            case .createDriverStarted: launchCreation()
            case .jobStarted(let id): launchJob(id)
            default: break
            }
        }
    }

    private func handleInterrupt() async throws {
        var trial = machine
        guard !(try trial.handle(.cancelled(.killed))).isIgnored else { return }
        logger.info("worker shutting down: stopping build \(buildID) to requeue it")
        interrupted = true
        try await handle(.cancelled(.killed))
    }

    /// Performs one action; returns the event that reports it started, if it has one.
    private func perform(_ action: RunnerAction) async throws -> RunnerEvent? {
        switch action {
        case .recordBuildStarted:
            let now = Date()
            build = RecordedState(status: .running, startedAt: now)
            startDeadline()
            logger.debug("running build \(buildID)")
            await writeBuild(output: sink.takeBuildUpdate(final: false))
            return nil

        case .createDriver:
            return .createDriverStarted

        case .abortDriverCreation:
            creationPending = false
            creationTimer?.cancel()
            creationTask?.cancel()
            startAbort()
            return nil

        case .writeDriverOutput(let text):
            sink.openAndWrite(text, to: driverStream)
            return nil

        case .startJob(let id):
            return .jobStarted(id)

        case .abortJob(let id):
            jobTask?.cancel()
            sink.close(.job(id))
            startAbort()
            return nil

        case .recordJob(let id, let status, let stamp):
            var record = jobs[id] ?? RecordedState(status: .queued)
            record.status = status
            var output: StoredTextUpdate?
            switch stamp {
            case .startedNow:
                record.startedAt = Date()
                sink.open(.job(id))
                liveJob = id
            case .finishedNow:
                record.finishedAt = Date()
                sink.close(.job(id))
                if liveJob == id { liveJob = nil }
                output = sink.takeJobUpdate(id, final: true)
            }
            jobs[id] = record
            await writeJob(id, output: output)
            if stamp == .finishedNow { sink.discardJob(id) }
            return nil

        case .writeBuildOutput(let text):
            sink.writeBuildText(text)
            return nil

        case .destroyDriver:
            await stopEverything()
            return .driverDestroyed

        case .finishBuild(let status):
            build.status = status
            build.finishedAt = Date()
            outcome = status
            if !interrupted {
                logger.debug("setting build \(buildID) status to \(status)")
                try await finishBuildRow()
                logger.debug("build finished \(buildID)")
            }
            return nil
        }
    }

    // MARK: Work

    private func launchCreation() {
        creationPending = true
        sink.open(driverStream)
        if case .job(let id) = driverStream { liveJob = id }
        let remaining = max(.zero, deadlineRemaining)
        let limit = min(context.settings.creationLimit, remaining)
        let post = self.post
        creationTimer = Task {
            do { try await Task.sleep(for: limit) } catch { return }
            post.yield(.creationTimedOut)
        }
        let driver = context.driver
        let setup = context.setup
        let output = DriverOutput(sink: sink, stream: driverStream)
        creationTask = Task { await EngineWork.create(driver: driver, setup: setup, output: output, post: post) }
    }

    private func launchJob(_ id: Int64) {
        guard let job = context.definition.jobs[id] else {
            post.yield(.runner(.jobFinished(id, success: false, errorText: "job \(id) is not in the build")))
            return
        }
        let driver = context.driver
        let collector = context.collector
        let recorder = context.recorder
        let ownerID = context.definition.row.userID
        let logger = self.logger
        let post = self.post
        let output = DriverOutput(sink: sink, stream: .job(id))
        jobTask = Task {
            await EngineWork.runJob(
                job, driver: driver, collector: collector, recorder: recorder, ownerID: ownerID, output: output,
                logger: logger, post: post)
        }
    }

    private func startAbort() {
        guard abortTask == nil else { return }
        let driver = context.driver
        abortTask = Task { await driver.abort() }
    }

    /// Stops the creation and the running job, waits until nothing of the build runs, then
    /// destroys the driver.
    private func stopEverything() async {
        creationTask?.cancel()
        jobTask?.cancel()
        await abortTask?.value
        await context.driver.abort()
        await creationTask?.value
        await jobTask?.value
        creationTask = nil
        jobTask = nil
        await context.driver.destroy()
    }

    // MARK: Time

    private var deadline: ContinuousClock.Instant?

    private var deadlineRemaining: Duration {
        guard let deadline else { return context.settings.timeout }
        return ContinuousClock.now.duration(to: deadline)
    }

    private func startDeadline() {
        let deadline = ContinuousClock.now + context.settings.timeout
        self.deadline = deadline
        let post = self.post
        timers.append(Task {
            do { try await Task.sleep(until: deadline, clock: .continuous) } catch { return }
            post.yield(.runner(.cancelled(.timedOut)))
        })
    }

    // MARK: Writes

    private func flushLive() async {
        guard !interrupted, build.status == .running else { return }
        if let id = liveJob, let update = sink.takeJobUpdate(id, final: false) {
            await writeJob(id, output: update)
        }
        if let update = sink.takeBuildUpdate(final: false) {
            await writeBuild(output: update)
        }
    }

    private func writeJob(_ id: Int64, output: StoredTextUpdate?) async {
        guard !interrupted, let record = jobs[id] else { return }
        do {
            try await context.recorder.writeJob(id: id, record, output: output)
        } catch {
            if output != nil { sink.invalidateJob(id) }
            logger.warning("could not record a build job", metadata: [
                "build_id": "\(buildID)", "job_id": "\(id)", "error": "\(error)",
            ])
        }
    }

    private func writeBuild(output: StoredTextUpdate?) async {
        guard !interrupted else { return }
        do {
            try await context.recorder.writeBuild(id: buildID, build, output: output)
        } catch {
            if output != nil { sink.invalidateBuild() }
            logger.warning("could not record the build", metadata: ["build_id": "\(buildID)", "error": "\(error)"])
        }
    }

    /// The final build row; retried for a while, since a build left `running` is the one
    /// thing that must not happen.
    private func finishBuildRow() async throws {
        var delay = Duration.milliseconds(250)
        var attempt = 0
        while true {
            attempt += 1
            do {
                try await context.recorder.writeBuild(id: buildID, build, output: sink.takeBuildUpdate(final: true))
                return
            } catch {
                sink.invalidateBuild()
                logger.error("could not record the finished build", metadata: [
                    "build_id": "\(buildID)", "attempt": "\(attempt)", "error": "\(error)",
                ])
                if attempt >= 6 { throw error }
                try? await Task.sleep(for: delay)
                delay *= 2
            }
        }
    }
}

/// The work a run starts in tasks of its own (driver creation, a job and its artifacts).
enum EngineWork {
    static func create(
        driver: any BuildDriver, setup: Result<DriverSetup, DriverError>, output: DriverOutput,
        post: AsyncStream<RunInput>.Continuation
    ) async {
        do {
            try await driver.create(try setup.get(), output: output)
            post.yield(.runner(.createDriverSucceeded))
        } catch {
            post.yield(.runner(.createDriverFailed(reason: describe(error))))
        }
    }

    static func runJob(
        _ job: BuildJobDefinition, driver: any BuildDriver, collector: ArtifactCollector, recorder: BuildRecorder,
        ownerID: Int64, output: DriverOutput, logger: Logger, post: AsyncStream<RunInput>.Continuation
    ) async {
        let outcome: JobOutcome
        do {
            outcome = try await driver.execute(DriverJob(id: job.id, name: job.name, commands: job.commands), output: output)
        } catch {
            outcome = .failed(describe(error))
        }
        if !Task.isCancelled && !job.artifacts.isEmpty {
            await Self.collect(
                job.artifacts, driver: driver, collector: collector, recorder: recorder, ownerID: ownerID, output: output,
                logger: logger)
        }
        post.yield(.runner(.jobFinished(job.id, success: outcome.success, errorText: outcome.errorText)))
    }

    /// Spec §4.8: each artifact of the job into the store, its row updated; failures are
    /// printed and the others still collected.
    static func collect(
        _ artifacts: [BuildArtifactRow], driver: any BuildDriver, collector: ArtifactCollector, recorder: BuildRecorder,
        ownerID: Int64, output: DriverOutput, logger: Logger
    ) async {
        for artifact in artifacts {
            if Task.isCancelled { return }
            output.write("Collecting artifact \(artifact.source) => \(artifact.name)\n")
            let files: [ArtifactFile]
            do {
                files = try await driver.artifactFiles(artifact.source)
                if files.count > 1 && !artifact.name.contains("*") {
                    let shown = files.prefix(5).map(\.path).joined(separator: ", ") + (files.count > 5 ? ", …" : "")
                    throw DriverError(
                        "\(artifact.source) matches \(files.count) files (\(shown)); put a * in the name \(artifact.name) to store each")
                }
            } catch {
                output.write("artifact error: \(describe(error))\n")
                continue
            }
            for (index, file) in files.enumerated() {
                if Task.isCancelled { return }
                // Spec §5.3: DST with `*` replaced by the match's base name; the manifest's row
                // holds the first match, each further one gets a row of its own.
                var name = artifact.name
                if file.matched && name.contains("*") {
                    let base = file.path.split(separator: "/").last.map(String.init) ?? file.path
                    name = name.split(separator: "*", omittingEmptySubsequences: false).joined(separator: base)
                }
                do {
                    let hash = index == 0 ? artifact.hash : RandomHex.make(byteCount: 16)
                    let opened = try await driver.openArtifact(file.path)
                    let stored = try await collector.store(opened, ownerID: ownerID, hash: hash)
                    if let original = stored.truncatedFrom {
                        output.write("artifact \(name) truncated to its first \(stored.size) of \(original) bytes (artifacts store limit)\n")
                    }
                    if file.matched { output.write("Collected \(file.path) => \(name)\n") }
                    if index > 0 {
                        try await recorder.addArtifact(
                            like: artifact.id, hash: hash, name: name, size: stored.size, md5: stored.md5, sha256: stored.sha256)
                    } else if name != artifact.name {
                        try await recorder.writeArtifact(id: artifact.id, name: name, size: stored.size, md5: stored.md5, sha256: stored.sha256)
                    } else {
                        try await recorder.writeArtifact(id: artifact.id, size: stored.size, md5: stored.md5, sha256: stored.sha256)
                    }
                } catch {
                    output.write("artifact error: \(file.matched ? "\(file.path): " : "")\(describe(error))\n")
                }
            }
        }
    }
}

/// Error text for output and logs.
func describe(_ error: any Error) -> String {
    if error is CancellationError { return "cancelled" }
    let text = String(describing: error)
    return text.isEmpty ? String(reflecting: type(of: error)) : text
}
