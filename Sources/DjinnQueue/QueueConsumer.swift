import DjinnRedis
import Logging
import Synchronization

/// Runs a handler for the jobs of one queue, interoperating with curlyq v0.4.0 consumers
/// and producers (docs/queue.md).
///
/// `run()` registers the consumer, then runs until `shutdown()` is called or its task is
/// cancelled. Inside: one poller reserves jobs from the head of `Q:active` into the
/// consumer's in-flight set — only as many as there are free handler slots —, a fixed set
/// of `concurrency` worker tasks run the handler, one acker writes outcomes back in batches
/// (acks completing while a write is in flight share the next script call), and timers
/// keep the heartbeat, move due scheduled jobs and requeue jobs of dead consumers.
///
/// A handler that throws makes the job retry with curlyq's backoff until `maxAttempts`,
/// then die; `JobFailure.permanent` kills it at once; a handler past its time limit is
/// cancelled and counts as failed. Redis errors never stop the consumer: every loop
/// retries with backoff until Redis is back.
///
/// Shutdown (`shutdown()`): stop reserving, put reserved-but-unstarted jobs back at the
/// head of `Q:active` at once, let running handlers finish within `shutdownGrace`, then
/// cancel them; a cancelled handler's job is requeued at the head (not an attempt). When
/// everything is settled the consumer deregisters and `run()` returns. Cancelling the task
/// that runs `run()` does the same without a grace period.
public final class QueueConsumer: Sendable {
    public typealias Handler = @Sendable (QueueJob) async throws -> Void

    public let queue: String
    public let keys: QueueKeys
    /// The options in effect (out-of-range values brought into range).
    public let options: QueueOptions
    /// This consumer's UUID; its in-flight set is `Q:inflight:<id>`.
    public let consumerID: String
    /// The in-flight set key (also the consumer's member in `Q:consumers`).
    public let inflightKey: String

    private let client: RedisClient
    private let logger: Logger
    private let handler: Handler
    private let lifecycle: JobLifecycle
    private let workerCount: Int
    private let shared: Mutex<Shared>
    private let crashed = Atomic<Bool>(false)
    /// Counts signs that Redis was unreachable (a failed call, heartbeats held up). The
    /// custodian only confirms a consumer dead from two observations within one epoch.
    private let troubleEpoch = Atomic<Int>(0)
    /// `ContinuousClock` nanoseconds (since `clockOrigin`) of the last successful heartbeat.
    private let lastHeartbeat = Atomic<Int64>(0)
    private let clockOrigin = ContinuousClock.now

    /// Expiry custodians apply to consumers that recorded none (Go's: heartbeat 60 s +
    /// timeout 60 s).
    static let goConsumerExpirySeconds = 120
    /// Most jobs the scheduler or custodian moves per script call.
    static let maintenanceBatch = 1000

    private static let ackArgument = RedisArgument(bytes: Array("ack".utf8))
    private static let retryArgument = RedisArgument(bytes: Array("retry".utf8))
    private static let killArgument = RedisArgument(bytes: Array("kill".utf8))
    private static let requeueArgument = RedisArgument(bytes: Array("requeue".utf8))
    private static let emptyArgument = RedisArgument(bytes: [])

    public convenience init(
        client: RedisClient, queue: String, options: QueueOptions = QueueOptions(), logger: Logger,
        handler: @escaping Handler
    ) {
        self.init(client: client, queue: queue, options: options, logger: logger, workerCount: nil, handler: handler)
    }

    /// `workerCount` below `options.concurrency` (tests only) leaves reserved jobs waiting in
    /// the local buffer, so that shutdown's requeue of unstarted jobs can be observed.
    init(
        client: RedisClient, queue: String, options: QueueOptions, logger: Logger, workerCount: Int?,
        handler: @escaping Handler
    ) {
        let options = options.normalized
        self.client = client
        self.queue = queue
        self.keys = QueueKeys(queue: queue)
        self.options = options
        self.consumerID = UUIDv4.generate()
        self.inflightKey = keys.inflight(consumerID: consumerID)
        var logger = logger
        logger[metadataKey: "queue"] = "\(queue)"
        logger[metadataKey: "consumer"] = "\(consumerID)"
        self.logger = logger
        self.handler = handler
        self.lifecycle = JobLifecycle(options: options)
        let workerCount = min(max(1, workerCount ?? options.concurrency), options.concurrency)
        self.workerCount = workerCount
        self.shared = Mutex(Shared(machine: ConsumerStateMachine(slots: options.concurrency, workers: workerCount)))
    }

    // MARK: Running

    /// Consumes until `shutdown()` or cancellation; returns once the consumer's jobs are
    /// settled or requeued and it is deregistered. Throws only if called twice.
    public func run() async throws {
        let startNow: Bool = shared.withLock { shared in
            guard shared.stage == .idle else { return false }
            shared.stage = .registering
            return true
        }
        guard startNow else { throw QueueConsumerError.alreadyStarted }

        guard await registerUntilDone() else {
            shared.withLock { $0.stage = .stopped }
            logger.debug("queue consumer stopped before it registered")
            return
        }
        logger.info("queue consumer started", metadata: ["concurrency": "\(options.concurrency)"])

        let pollerConnection = client.makeConnection()
        let ackerConnection = client.makeConnection()
        let acker: Task<Void, Never>? = shared.withLock { shared in
            // A shutdown requested while registering: don't start at all.
            guard !shared.stopRequested else { return nil }
            let acker = Task { await self.ackerLoop(connection: ackerConnection) }
            shared.ackerTask = acker
            shared.pollerTask = Task { await self.pollerLoop(connection: pollerConnection) }
            shared.workerTasks = (0..<workerCount).map { _ in Task { await self.workerLoop() } }
            shared.timerTasks = [
                Task { await self.heartbeatLoop() },
                Task { await self.schedulerLoop() },
                Task { await self.custodianLoop() },
            ]
            shared.stage = .running
            return acker
        }
        guard let acker else {
            shared.withLock { $0.stage = .stopped }
            await Task { await self.deregister() }.value
            await pollerConnection.close()
            await ackerConnection.close()
            logger.info("queue consumer stopped")
            return
        }

        await withTaskCancellationHandler {
            await acker.value
        } onCancel: {
            self.beginShutdown(cancelHandlers: true)
        }

        let (pollerTask, workerTasks, timerTasks, graceTask) = shared.withLock { shared in
            shared.stage = .stopped
            return (shared.pollerTask, shared.workerTasks, shared.timerTasks, shared.graceTask)
        }
        graceTask?.cancel()
        for task in timerTasks { task.cancel() }
        for task in timerTasks { await task.value }
        await pollerTask?.value
        for task in workerTasks { await task.value }
        if crashed.load(ordering: .relaxed) {
            logger.debug("queue consumer crashed (simulated)")
        } else {
            // In a task of its own: the pool refuses calls from a cancelled task.
            await Task { await self.deregister() }.value
            logger.info("queue consumer stopped")
        }
        await pollerConnection.close()
        await ackerConnection.close()
    }

    /// Starts an orderly shutdown (see the type's documentation); `run()` returns when it is
    /// done. Idempotent; before `run()` it makes `run()` return at once.
    public func shutdown() {
        beginShutdown(cancelHandlers: false)
    }

    /// Test hook: dies like a killed process — every task stops, nothing is requeued, acked
    /// or deregistered, the heartbeat stops. `run()` returns; the jobs stay in the in-flight
    /// set for another consumer's custodian.
    func simulateCrash() {
        crashed.store(true, ordering: .relaxed)
        let (tasks, resumptions) = shared.withLock { shared in
            shared.stopRequested = true
            var resumptions = Resumptions()
            for waiter in shared.workerWaiters { resumptions.workers.append((waiter, nil)) }
            shared.workerWaiters = []
            resumptions.poller = shared.pollerWaiter
            shared.pollerWaiter = nil
            resumptions.acker = shared.ackerWaiter
            shared.ackerWaiter = nil
            shared.ackerMailbox = true
            shared.pollerMailbox = true
            let tasks = [shared.pollerTask, shared.ackerTask, shared.graceTask].compactMap { $0 } + shared.workerTasks
                + shared.timerTasks
            return (tasks, resumptions)
        }
        resumptions.perform()
        for task in tasks { task.cancel() }
    }

    private func beginShutdown(cancelHandlers: Bool) {
        enum Next {
            case notRunning
            case running(Resumptions, poller: Task<Void, Never>?, cancel: [Task<Void, Never>], startGrace: Bool)
        }
        let next: Next = shared.withLock { shared in
            shared.stopRequested = true
            guard shared.stage == .running else { return .notRunning }
            let first = shared.shutdownStartedAt == nil
            if first { shared.shutdownStartedAt = ContinuousClock.now }
            let wakeups = shared.machine.shutdownRequested()
            var cancel: [Task<Void, Never>] = []
            if cancelHandlers, shared.machine.graceExpired() { cancel = shared.workerTasks }
            let startGrace = first && !cancelHandlers
            if startGrace {
                let grace = options.shutdownGrace
                shared.graceTask = Task {
                    do { try await Task.sleep(for: grace) } catch { return }
                    self.graceDidExpire()
                }
            }
            return .running(shared.apply(wakeups), poller: shared.pollerTask, cancel: cancel, startGrace: startGrace)
        }
        guard case .running(let resumptions, let poller, let cancel, let startGrace) = next else { return }
        if startGrace {
            logger.info("queue consumer shutting down", metadata: ["grace": "\(options.shutdownGrace)"])
        }
        resumptions.perform()
        // Interrupts a wait in BLMOVE; a reserve in flight completes and its jobs are requeued.
        poller?.cancel()
        for task in cancel { task.cancel() }
    }

    private func graceDidExpire() {
        let cancel: [Task<Void, Never>] = shared.withLock { shared in
            shared.machine.graceExpired() ? shared.workerTasks : []
        }
        if !cancel.isEmpty {
            logger.warning("shutdown grace period over; cancelling running handlers")
        }
        for task in cancel { task.cancel() }
    }

    // MARK: Registration

    /// Registers (heartbeat), retrying until it works; false if stopped first.
    private func registerUntilDone() async -> Bool {
        var backoff = Backoff()
        while true {
            if Task.isCancelled || shared.withLock({ $0.stopRequested }) { return false }
            do {
                try await heartbeat()
                return true
            } catch {
                logFailure("could not register the queue consumer", error, first: backoff.attempt == 0)
                if !(await backoff.pause()) { return false }
            }
        }
    }

    private func heartbeat() async throws {
        do {
            _ = try await client.evalScript(
                QueueScripts.heartbeat, keys: [keys.consumers, keys.consumerExpiry],
                args: [inflightKey, options.consumerExpiry.wholeSecondsRoundedUp])
        } catch {
            noteTrouble()
            throw error
        }
        // A heartbeat long overdue means Redis (or this process) was stuck: others' heartbeats
        // may be just as late.
        let now = (ContinuousClock.now - clockOrigin).wholeNanoseconds
        let previous = lastHeartbeat.exchange(now, ordering: .relaxed)
        if previous != 0, now - previous > (options.heartbeatInterval * 2).wholeNanoseconds { noteTrouble() }
    }

    /// Removes the consumer at the end of an orderly shutdown (anything left in its in-flight
    /// set goes back to the head of `Q:active`). If Redis stays unreachable, custodians
    /// recover the set after `consumerExpiry`.
    private func deregister() async {
        var backoff = Backoff()
        let deadline = ContinuousClock.now + options.consumerExpiry
        while true {
            do {
                let reply = try await client.evalScript(
                    QueueScripts.deregister, keys: [keys.consumers, keys.consumerExpiry, inflightKey, keys.active],
                    args: [inflightKey])
                if let requeued = reply.int, requeued > 0 {
                    logger.warning("requeued jobs left in the in-flight set at shutdown", metadata: ["jobs": "\(requeued)"])
                }
                return
            } catch {
                logFailure("could not deregister the queue consumer", error, first: backoff.attempt == 0)
                if ContinuousClock.now >= deadline {
                    logger.error("giving up deregistering; custodians will requeue what is left")
                    return
                }
                _ = await backoff.pause(cancellable: false)
            }
        }
    }

    // MARK: Workers

    private func workerLoop() async {
        var finished: Settlement?
        while !crashed.load(ordering: .relaxed) {
            let (next, resumptions) = shared.withLock { shared in
                let next = shared.machine.workerReady(finished: finished)
                switch next {
                case .run(_, let wakeups), .park(let wakeups), .exit(let wakeups):
                    return (next, wakeups == .none ? Resumptions() : shared.apply(wakeups))
                }
            }
            resumptions.perform()
            let job: ReservedJob
            switch next {
            case .run(let reserved, _):
                job = reserved
            case .park:
                guard let given = await parkWorker() else { return }
                job = given
            case .exit:
                return
            }
            if crashed.load(ordering: .relaxed) { return }
            finished = await process(job)
        }
    }

    private func parkWorker() async -> ReservedJob? {
        await withCheckedContinuation { (continuation: CheckedContinuation<ReservedJob?, Never>) in
            let delivered: ReservedJob?? = shared.withLock { shared in
                if !shared.workerMailbox.isEmpty { return .some(shared.workerMailbox.removeFirst()) }
                // `simulateCrash` has already resumed every parked worker.
                if crashed.load(ordering: .relaxed) { return .some(nil) }
                shared.workerWaiters.append(continuation)
                return .none
            }
            if let delivered { continuation.resume(returning: delivered) }
        }
    }

    /// Runs one job and decides its settlement.
    private func process(_ reserved: ReservedJob) async -> Settlement {
        let job: QueueJob
        switch lifecycle.prepare(reserved, defaultTimeout: options.jobTimeout) {
        case .success(let prepared):
            job = prepared
        case .failure(let rejected):
            if case .kill(_, _, let error) = rejected.settlement {
                logger.error("job moved to the dead set", metadata: ["job_id": "\(reserved.id)", "error": "\(error)"])
            }
            return rejected.settlement
        }
        var outcome = await runHandler(job)
        // Cancelled at shutdown: a failure is the interruption's, not the job's (a permanent
        // failure the handler chose still counts).
        if Task.isCancelled {
            switch outcome {
            case .failed, .timedOut: outcome = .interrupted
            case .succeeded, .failedPermanently, .interrupted: break
            }
        }
        // Randomness (a system call) only when a retry delay needs it.
        let random = outcome == .succeeded ? 0 : Double.random(in: 0..<1)
        let settlement = lifecycle.settlement(
            of: job, outcome: outcome, nowMilliseconds: WallClock.nowMilliseconds(), random: random)
        switch settlement {
        case .ack:
            break
        case .retry(_, _, let dueAt, let error):
            logger.warning("job failed; retrying", metadata: [
                "job_id": "\(job.id)", "attempt": "\(job.attempt)", "retry_at": "\(dueAt)", "error": "\(error)",
            ])
        case .kill(_, _, let error):
            logger.error("job moved to the dead set", metadata: [
                "job_id": "\(job.id)", "attempt": "\(job.attempt)", "error": "\(error)",
            ])
        case .requeue:
            logger.info("job interrupted by shutdown; requeued", metadata: ["job_id": "\(job.id)"])
        }
        return settlement
    }

    private enum HandlerRace: Sendable {
        case handler(HandlerOutcome)
        case timerFired
        case timerCancelled
    }

    private func runHandler(_ job: QueueJob) async -> HandlerOutcome {
        let handler = self.handler
        guard let limit = job.timeout else {
            do {
                try await handler(job)
                return .succeeded
            } catch {
                return Self.outcome(of: error)
            }
        }
        return await withTaskGroup(of: HandlerRace.self) { group in
            group.addTask {
                do {
                    try await handler(job)
                    return .handler(.succeeded)
                } catch {
                    return .handler(Self.outcome(of: error))
                }
            }
            group.addTask {
                do {
                    try await Task.sleep(for: limit)
                    return .timerFired
                } catch {
                    return .timerCancelled
                }
            }
            var timedOut = false
            while let result = await group.next() {
                switch result {
                case .handler(let outcome):
                    group.cancelAll()
                    // A handler that still succeeded after being cancelled did the work.
                    return timedOut && outcome != .succeeded ? .timedOut(limit) : outcome
                case .timerFired:
                    timedOut = true
                    group.cancelAll()
                case .timerCancelled:
                    continue
                }
            }
            return .timedOut(limit)
        }
    }

    private static func outcome(of error: any Error) -> HandlerOutcome {
        if let failure = error as? JobFailure, case .permanent(let reason) = failure {
            return .failedPermanently(reason)
        }
        return .failed(JobLifecycle.describe(error))
    }

    // MARK: Poller

    private func pollerLoop(connection: RedisConnection) async {
        var listMayHaveMore = false
        var needsReconcile = false
        var backoff = Backoff()
        while !crashed.load(ordering: .relaxed) {
            let (next, resumptions) = shared.withLock { shared -> (ConsumerStateMachine.PollerNext, Resumptions) in
                let next = shared.machine.pollerReady()
                if case .exit(let wakeups) = next { return (next, shared.apply(wakeups)) }
                return (next, Resumptions())
            }
            switch next {
            case .exit:
                resumptions.perform()
                return
            case .park:
                await parkPoller()
                continue
            case .proceed:
                break
            }

            do {
                if needsReconcile {
                    try await reconcile(connection)
                    needsReconcile = false
                }
                if !listMayHaveMore {
                    // Wait until Q:active is non-empty without reordering it: the tail is
                    // popped and pushed straight back to the tail.
                    let probe = try await connection.blmove(
                        from: keys.active, to: keys.active, sourceEnd: .right, destinationEnd: .right,
                        timeout: options.pollTimeout)
                    if probe == nil { continue }
                }
            } catch {
                listMayHaveMore = false
                if shared.withLock({ $0.stopRequested }) || crashed.load(ordering: .relaxed) { continue }
                noteTrouble()
                logFailure("waiting for jobs failed", error, first: backoff.attempt == 0)
                _ = await backoff.pause()
                continue
            }

            let decision = shared.withLock { shared -> (ConsumerStateMachine.ReserveDecision, Resumptions) in
                let decision = shared.machine.beginReserve()
                if case .exit(let wakeups) = decision { return (decision, shared.apply(wakeups)) }
                return (decision, Resumptions())
            }
            guard case .reserve(let count) = decision.0 else {
                decision.1.perform()
                return
            }
            do {
                let reply = try await connection.evalScript(
                    QueueScripts.reserve,
                    keys: [keys.consumers, keys.active, inflightKey, keys.data, keys.enqueuedAt, keys.options],
                    args: [count])
                let jobs = try Self.reservedJobs(from: reply)
                let resumptions = shared.withLock { $0.apply($0.machine.reserved(jobs)) }
                resumptions.perform()
                listMayHaveMore = jobs.count == count
                backoff.reset()
            } catch {
                let stopping = shared.withLock { shared in
                    shared.machine.reserveFailed()
                    return shared.stopRequested
                }
                listMayHaveMore = false
                // Shutting down: whatever a lost reply reserved, deregistration puts back.
                if stopping { continue }
                if let redisError = error as? RedisError, redisError.serverErrorCode == "DJINNQ_UNREGISTERED" {
                    // A custodian took us for dead (e.g. after a long Redis outage): register
                    // again; whatever we still hold settles as a no-op.
                    logger.warning("queue consumer was deregistered by a custodian; registering again")
                    try? await heartbeat()
                    continue
                }
                if let redisError = error as? RedisError, case .server = redisError {
                    // The script ran and failed as a whole: nothing was reserved.
                } else {
                    // The reply was lost: the script may have reserved jobs we don't know of.
                    needsReconcile = true
                    noteTrouble()
                }
                logFailure("reserving jobs failed", error, first: backoff.attempt == 0)
                _ = await backoff.pause()
            }
        }
    }

    private func parkPoller() async {
        await withCheckedContinuation { (continuation: CheckedContinuation<Void, Never>) in
            let wokenAlready: Bool = shared.withLock { shared in
                if shared.pollerMailbox {
                    shared.pollerMailbox = false
                    return true
                }
                shared.pollerWaiter = continuation
                return false
            }
            if wokenAlready { continuation.resume() }
        }
    }

    /// Requeues members of the in-flight set this consumer does not know it holds.
    private func reconcile(_ connection: RedisConnection) async throws {
        let held = shared.withLock { $0.machine.heldIDs }
        let reply = try await connection.evalScript(
            QueueScripts.reconcile, keys: [inflightKey, keys.active], args: held)
        if let moved = reply.int, moved > 0 {
            logger.warning("requeued jobs reserved by a call whose reply was lost", metadata: ["jobs": "\(moved)"])
        }
    }

    static func reservedJobs(from reply: RESPValue) throws -> [ReservedJob] {
        guard case .array(let values) = reply, values.count % 4 == 0 else {
            throw RedisError.protocol("reserve script returned \(reply)")
        }
        var jobs: [ReservedJob] = []
        jobs.reserveCapacity(values.count / 4)
        var index = 0
        // Hot path: bytes are converted directly (ids and numbers are ASCII).
        while index < values.count {
            guard case .bulk(let idBytes) = values[index] else {
                throw RedisError.protocol("reserve script returned a bad id")
            }
            let id = String(decoding: idBytes, as: UTF8.self)
            let message = values[index + 1].bytes
            var enqueuedAt: Int64?
            if case .bulk(let digits) = values[index + 2] { enqueuedAt = Self.decimal(digits) }
            var timeout: Duration?
            if case .bulk(let text) = values[index + 3] {
                timeout = JobOptions(decoding: String(decoding: text, as: UTF8.self)).timeout
            }
            jobs.append(ReservedJob(id: id, message: message, enqueuedAtMilliseconds: enqueuedAt, timeout: timeout))
            index += 4
        }
        return jobs
    }

    /// A non-negative decimal number, or nil.
    static func decimal(_ digits: [UInt8]) -> Int64? {
        guard !digits.isEmpty, digits.count <= 18 else { return nil }
        var value: Int64 = 0
        for digit in digits {
            guard digit >= 0x30 && digit <= 0x39 else { return nil }
            value = value * 10 + Int64(digit - 0x30)
        }
        return value
    }

    // MARK: Acker

    private func ackerLoop(connection: RedisConnection) async {
        while !crashed.load(ordering: .relaxed) {
            let next = shared.withLock { $0.machine.ackerReady() }
            switch next {
            case .exit:
                return
            case .park:
                await parkAcker()
            case .settle(let batch):
                await write(batch, on: connection)
                shared.withLock { $0.machine.settled(batch) }
            }
        }
    }

    private func parkAcker() async {
        await withCheckedContinuation { (continuation: CheckedContinuation<Void, Never>) in
            let wokenAlready: Bool = shared.withLock { shared in
                if shared.ackerMailbox {
                    shared.ackerMailbox = false
                    return true
                }
                shared.ackerWaiter = continuation
                return false
            }
            if wokenAlready { continuation.resume() }
        }
    }

    /// Writes settlements, retrying until Redis takes them (settling is idempotent: only
    /// jobs still in the in-flight set change). During shutdown it gives up after
    /// `consumerExpiry`: the jobs stay in the in-flight set for custodians.
    private func write(_ batch: [Settlement], on connection: RedisConnection) async {
        var args: [any RedisArgumentConvertible] = []
        args.reserveCapacity(1 + batch.count * 5)
        args.append(WallClock.nowMilliseconds() / 1000)
        // Shared byte arrays for the constant arguments: no per-job conversion.
        let empty = Self.emptyArgument
        for settlement in batch {
            switch settlement {
            case .ack(let id):
                args += [Self.ackArgument, id, empty, empty, empty]
            case .retry(let id, let message, let dueAt, let error):
                args += [Self.retryArgument, id, message, dueAt, error]
            case .kill(let id, let message, let error):
                args += [Self.killArgument, id, message ?? [], empty, error]
            case .requeue(let id):
                args += [Self.requeueArgument, id, empty, empty, empty]
            }
        }
        let settleKeys: [any RedisArgumentConvertible] = [
            inflightKey, keys.data, keys.scheduled, keys.dead, keys.active, keys.errors, keys.deaths, keys.enqueuedAt,
            keys.options,
        ]
        var backoff = Backoff()
        while true {
            do {
                _ = try await connection.evalScript(QueueScripts.settle, keys: settleKeys, args: args)
                return
            } catch {
                if crashed.load(ordering: .relaxed) { return }
                noteTrouble()
                logFailure("writing job outcomes failed; retrying", error, first: backoff.attempt == 0)
                let shutdownStart = shared.withLock { $0.shutdownStartedAt }
                if let shutdownStart, ContinuousClock.now - shutdownStart > options.consumerExpiry {
                    logger.error("giving up writing job outcomes during shutdown", metadata: ["jobs": "\(batch.count)"])
                    return
                }
                _ = await backoff.pause(cancellable: false)
            }
        }
    }

    // MARK: Timers

    private func heartbeatLoop() async {
        var failing = false
        while !Task.isCancelled {
            do {
                try await Task.sleep(for: failing ? min(options.heartbeatInterval, .seconds(1)) : options.heartbeatInterval)
            } catch { return }
            do {
                try await heartbeat()
                if failing { logger.info("queue heartbeat works again") }
                failing = false
            } catch {
                logFailure("queue heartbeat failed", error, first: !failing)
                failing = true
            }
        }
    }

    private func schedulerLoop() async {
        var failing = false
        while !Task.isCancelled {
            do {
                try await Task.sleep(for: options.schedulerInterval)
            } catch { return }
            do {
                var moved = Self.maintenanceBatch
                while moved == Self.maintenanceBatch && !Task.isCancelled {
                    let reply = try await client.evalScript(
                        QueueScripts.enqueueDue, keys: [keys.scheduled, keys.active],
                        args: [WallClock.secondsText(milliseconds: WallClock.nowMilliseconds()), Self.maintenanceBatch])
                    moved = reply.int ?? 0
                }
                failing = false
            } catch {
                noteTrouble()
                logFailure("moving due jobs failed", error, first: !failing)
                failing = true
            }
        }
    }

    /// A consumer seen stale: its score then, when, and in which trouble epoch.
    private struct Suspect {
        var score: String
        var seenAt: ContinuousClock.Instant
        var epoch: Int
    }

    var deathConfirmationDelay: Duration { options.deathConfirmationDelay }

    private func custodianLoop() async {
        var failing = false
        var suspects: [String: Suspect] = [:]
        var delay = options.custodianInterval
        while !Task.isCancelled {
            do {
                try await Task.sleep(for: delay)
            } catch { return }
            let epoch = troubleEpoch.load(ordering: .relaxed)
            let now = ContinuousClock.now
            // Observations from before trouble prove nothing.
            suspects = suspects.filter { $0.value.epoch == epoch }
            var confirmed: [any RedisArgumentConvertible] = []
            for (consumer, suspect) in suspects where now - suspect.seenAt >= deathConfirmationDelay {
                confirmed.append(consumer)
                confirmed.append(suspect.score)
            }
            do {
                var handled = Self.maintenanceBatch
                var stale: [(String, String)] = []
                while handled == Self.maintenanceBatch && !Task.isCancelled {
                    let reply = try await client.evalScript(
                        QueueScripts.recoverOrphans,
                        keys: [keys.consumers, keys.consumerExpiry, keys.active, keys.dead, keys.data, keys.errors, keys.deaths],
                        args: ["", inflightKey, Self.maintenanceBatch, Self.goConsumerExpirySeconds, options.poisonDeaths]
                            + confirmed)
                    guard let values = reply.array, values.count >= 3, values.count % 2 == 1 else {
                        throw RedisError.protocol("recover-orphans script returned \(reply)")
                    }
                    let requeued = values[0].int ?? 0, killed = values[1].int ?? 0
                    handled = requeued + killed
                    if handled > 0 {
                        logger.warning("recovered jobs of dead consumers", metadata: [
                            "requeued": "\(requeued)", "killed": "\(killed)",
                        ])
                    }
                    stale = stride(from: 3, to: values.count, by: 2).compactMap { index in
                        guard let consumer = values[index].string, let score = values[index + 1].string else { return nil }
                        return (consumer, score)
                    }
                }
                var next: [String: Suspect] = [:]
                for (consumer, score) in stale {
                    if let known = suspects[consumer], known.score == score {
                        next[consumer] = known
                    } else {
                        next[consumer] = Suspect(score: score, seenAt: now, epoch: epoch)
                    }
                }
                suspects = next
                failing = false
            } catch {
                noteTrouble()
                suspects = [:]
                logFailure("recovering orphaned jobs failed", error, first: !failing)
                failing = true
            }
            // Come back when the earliest suspect can be confirmed, if that is sooner.
            delay = options.custodianInterval
            if let earliest = suspects.values.map(\.seenAt).min() {
                let due = earliest + deathConfirmationDelay - ContinuousClock.now
                delay = max(.milliseconds(10), min(delay, due))
            }
        }
    }

    // MARK: Health

    private func noteTrouble() {
        troubleEpoch.add(1, ordering: .relaxed)
    }

    /// The first failure of a run of failures is an error; repeats are debug noise.
    private func logFailure(_ message: Logger.Message, _ error: any Error, first: Bool) {
        logger.log(level: first ? .error : .debug, message, metadata: ["error": "\(error)"])
    }
}

/// Misuse of a `QueueConsumer`.
public enum QueueConsumerError: Error, Sendable, Equatable, CustomStringConvertible {
    /// `run()` was called a second time.
    case alreadyStarted

    public var description: String {
        switch self {
        case .alreadyStarted: return "queue consumer: run() was already called"
        }
    }
}

// MARK: - Shared state

/// Everything the consumer's tasks share, behind one lock: the state machine and the
/// continuations of parked tasks. A wake-up that finds no continuation yet (the task is
/// between being told to park and parking) waits in a mailbox.
private struct Shared {
    enum Stage { case idle, registering, running, stopped }

    var machine: ConsumerStateMachine
    var stage = Stage.idle
    var stopRequested = false
    var shutdownStartedAt: ContinuousClock.Instant?

    var workerWaiters: [CheckedContinuation<ReservedJob?, Never>] = []
    var workerMailbox: [ReservedJob?] = []
    var pollerWaiter: CheckedContinuation<Void, Never>?
    var pollerMailbox = false
    var ackerWaiter: CheckedContinuation<Void, Never>?
    var ackerMailbox = false

    var pollerTask: Task<Void, Never>?
    var ackerTask: Task<Void, Never>?
    var workerTasks: [Task<Void, Never>] = []
    var timerTasks: [Task<Void, Never>] = []
    var graceTask: Task<Void, Never>?

    init(machine: ConsumerStateMachine) {
        self.machine = machine
    }

    /// Turns the machine's wake-ups into continuations to resume (after unlocking).
    mutating func apply(_ wakeups: ConsumerStateMachine.Wakeups) -> Resumptions {
        var resumptions = Resumptions()
        for job in wakeups.jobsForParkedWorkers { deliver(job, into: &resumptions) }
        for _ in 0..<wakeups.parkedWorkersToStop { deliver(nil, into: &resumptions) }
        if wakeups.poller {
            if let waiter = pollerWaiter {
                pollerWaiter = nil
                resumptions.poller = waiter
            } else {
                pollerMailbox = true
            }
        }
        if wakeups.acker {
            if let waiter = ackerWaiter {
                ackerWaiter = nil
                resumptions.acker = waiter
            } else {
                ackerMailbox = true
            }
        }
        return resumptions
    }

    private mutating func deliver(_ job: ReservedJob?, into resumptions: inout Resumptions) {
        if let waiter = workerWaiters.popLast() {
            resumptions.workers.append((waiter, job))
        } else {
            workerMailbox.append(job)
        }
    }
}

private struct Resumptions {
    var workers: [(CheckedContinuation<ReservedJob?, Never>, ReservedJob?)] = []
    var poller: CheckedContinuation<Void, Never>?
    var acker: CheckedContinuation<Void, Never>?

    func perform() {
        for (waiter, job) in workers { waiter.resume(returning: job) }
        poller?.resume()
        acker?.resume()
    }
}

/// Pauses between retries of a failing Redis call: 50 ms doubling to 2 s.
struct Backoff {
    private(set) var attempt = 0

    mutating func reset() { attempt = 0 }

    var nextDelay: Duration {
        .milliseconds(50 * (1 << min(attempt, 5)))
    }

    /// Sleeps; false if the task was cancelled (unless `cancellable` is false, in which case
    /// a cancelled task still waits the delay).
    mutating func pause(cancellable: Bool = true) async -> Bool {
        let delay = min(nextDelay, .seconds(2))
        attempt += 1
        if cancellable {
            do { try await Task.sleep(for: delay) } catch { return false }
            return true
        }
        await withCheckedContinuation { (continuation: CheckedContinuation<Void, Never>) in
            // Not tied to the caller's cancellation.
            Task.detached {
                try? await Task.sleep(for: delay)
                continuation.resume()
            }
        }
        return true
    }
}

extension Duration {
    fileprivate var wholeNanoseconds: Int64 {
        let (seconds, attoseconds) = components
        return seconds * 1_000_000_000 + attoseconds / 1_000_000_000
    }
}
