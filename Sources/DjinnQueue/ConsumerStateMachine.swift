/// The bookkeeping of one consumer, free of I/O: handler slots, the local buffer of reserved
/// jobs, parked workers, the poller and the acker, the settlements waiting to be written,
/// and the shutdown phases. `QueueConsumer` feeds it events under a lock and performs the
/// wake-ups it returns (resuming continuations) after unlocking.
///
/// Roles: one *poller* reserves jobs from Redis, a fixed set of *workers* run handlers, one
/// *acker* writes settlements back in batches. Each job goes
/// reserved → buffered → running → settling → settled (or, at shutdown, buffered → requeued).
struct ConsumerStateMachine {
    enum Phase: Equatable {
        /// Reserving and running jobs.
        case running
        /// `shutdown()`: no more reserving; running handlers may finish.
        case draining
        /// The grace period ran out (or the task was cancelled): running handlers are cancelled.
        case cancelling
    }

    enum PollerState: Equatable {
        /// Deciding, or blocked in Redis waiting for jobs.
        case working
        /// Waiting for free slots.
        case parked
        /// A reserve call is in flight.
        case reserving
        case exited
    }

    /// What the I/O shell must resume after an event.
    struct Wakeups: Equatable {
        /// Resume this many parked workers, each with one of these jobs (in order).
        var jobsForParkedWorkers: [ReservedJob] = []
        /// Resume this many parked workers telling them to exit.
        var parkedWorkersToStop = 0
        /// Resume the parked poller (it asks `pollerReady()` again).
        var poller = false
        /// Resume the parked acker (it asks `ackerReady()` again).
        var acker = false

        static let none = Wakeups()
    }

    enum PollerNext: Equatable {
        /// Free slots are worth filling: wait for jobs in Redis, then `beginReserve()`.
        case proceed
        /// Not enough free slots: park until woken.
        case park
        case exit(Wakeups)
    }

    enum ReserveDecision: Equatable {
        /// Reserve up to this many jobs.
        case reserve(Int)
        case exit(Wakeups)
    }

    enum WorkerNext: Equatable {
        /// Run this job (after performing the wake-ups).
        case run(ReservedJob, Wakeups)
        /// No job: park (after performing the wake-ups) until given one or told to stop.
        case park(Wakeups)
        case exit(Wakeups)
    }

    enum AckerNext: Equatable {
        /// Write these settlements, then report `settled(_:)`.
        case settle([Settlement])
        case park
        /// Everything is settled and nothing can come any more.
        case exit
    }

    /// Most jobs per reserve call and most settlements per settle call (Lua `unpack` and
    /// script run time stay small).
    static let maximumBatch = 1000

    /// Handler slots (`QueueOptions.concurrency`).
    let slots: Int
    /// While no worker is idle, the poller waits until this many slots are free so that
    /// reserves come in batches rather than one job per call.
    let refillThreshold: Int

    private(set) var phase: Phase = .running
    private(set) var poller: PollerState = .working
    private var buffer = RingBuffer<ReservedJob>()
    private(set) var parkedWorkers = 0
    /// Workers that have not exited.
    private(set) var liveWorkers: Int
    /// Jobs handed to a worker whose outcome is not reported yet.
    private(set) var running = 0
    /// Ids this consumer holds in its in-flight set as far as it knows (reserved and not yet
    /// settled), with a count in case the same id is reserved again before it settles.
    private var held: [String: Int] = [:]
    private var pending: [Settlement] = []
    private(set) var settling = false
    private(set) var ackerParked = false
    private(set) var ackerExited = false

    init(slots: Int, workers: Int? = nil) {
        self.slots = max(1, slots)
        self.liveWorkers = max(1, workers ?? slots)
        self.refillThreshold = max(1, self.slots / 2)
    }

    // MARK: Observations

    var bufferedCount: Int { buffer.count }
    var pendingCount: Int { pending.count }
    var freeSlots: Int { slots - running - buffer.count }
    var heldIDs: [String] { Array(held.keys) }
    var heldCount: Int { held.values.reduce(0, +) }

    /// Shut down and nothing left to do: every worker and the poller exited, every job settled.
    var isFinished: Bool {
        phase != .running && liveWorkers == 0 && running == 0 && poller == .exited && buffer.isEmpty
            && pending.isEmpty && !settling
    }

    private var refillWanted: Bool {
        let free = freeSlots
        return free > 0 && (parkedWorkers > 0 || free >= refillThreshold)
    }

    // MARK: Poller

    mutating func pollerReady() -> PollerNext {
        precondition(poller == .working, "pollerReady while \(poller)")
        if phase != .running {
            poller = .exited
            return .exit(finishWakeups())
        }
        if refillWanted { return .proceed }
        poller = .parked
        return .park
    }

    mutating func beginReserve() -> ReserveDecision {
        precondition(poller == .working, "beginReserve while \(poller)")
        if phase != .running {
            poller = .exited
            return .exit(finishWakeups())
        }
        poller = .reserving
        return .reserve(min(max(1, freeSlots), Self.maximumBatch))
    }

    /// The reserve call returned these jobs (oldest first).
    mutating func reserved(_ jobs: [ReservedJob]) -> Wakeups {
        precondition(poller == .reserving, "reserved while \(poller)")
        poller = .working
        for job in jobs { held[job.id, default: 0] += 1 }
        var wakeups = Wakeups()
        if phase == .running {
            for job in jobs {
                if parkedWorkers > 0 {
                    parkedWorkers -= 1
                    running += 1
                    wakeups.jobsForParkedWorkers.append(job)
                } else {
                    buffer.append(job)
                }
            }
        } else if !jobs.isEmpty {
            // Shutdown began while reserving: straight back, in order, at the head.
            pending.append(contentsOf: jobs.reversed().map { Settlement.requeue(id: $0.id) })
            wakeups.acker = wakeAcker()
        }
        return wakeups
    }

    /// The reserve call failed (nothing is known to be reserved).
    mutating func reserveFailed() {
        precondition(poller == .reserving, "reserveFailed while \(poller)")
        poller = .working
    }

    // MARK: Workers

    /// A worker is free; `finished` is the settlement of the job it just had (ran, or
    /// rejected without running), if any.
    mutating func workerReady(finished settlement: Settlement? = nil) -> WorkerNext {
        var wakeups = Wakeups()
        if let settlement {
            precondition(running > 0, "a job finished with none running")
            running -= 1
            pending.append(settlement)
            wakeups.acker = wakeAcker()
        }
        if let job = buffer.popFirst() {
            running += 1
            // The buffer shrank: enough free slots may make a refill worth it.
            if settlement != nil { wakeups.poller = wakePollerIfWanted() }
            return .run(job, wakeups)
        }
        if phase != .running {
            liveWorkers -= 1
            if !wakeups.acker { wakeups.acker = finishWakeups().acker }
            return .exit(wakeups)
        }
        parkedWorkers += 1
        wakeups.poller = wakePollerIfWanted()
        return .park(wakeups)
    }

    // MARK: Acker

    mutating func ackerReady() -> AckerNext {
        precondition(!settling && !ackerExited, "ackerReady while settling or exited")
        if !pending.isEmpty {
            settling = true
            if pending.count <= Self.maximumBatch {
                defer { pending = [] }
                return .settle(pending)
            }
            let batch = Array(pending.prefix(Self.maximumBatch))
            pending.removeFirst(Self.maximumBatch)
            return .settle(batch)
        }
        if isFinished {
            ackerExited = true
            return .exit
        }
        ackerParked = true
        return .park
    }

    /// The batch was written (or given up on: the jobs stay in the in-flight set, where the
    /// final deregistration or a custodian finds them).
    mutating func settled(_ batch: [Settlement]) {
        precondition(settling, "settled without a batch in flight")
        settling = false
        for settlement in batch {
            let id = settlement.id
            if let count = held[id] {
                if count <= 1 { held.removeValue(forKey: id) } else { held[id] = count - 1 }
            }
        }
    }

    // MARK: Shutdown

    /// Stop reserving; buffered jobs go back to the head of `Q:active` (in order); idle
    /// workers exit; running handlers go on. Idempotent.
    mutating func shutdownRequested() -> Wakeups {
        guard phase == .running else { return .none }
        phase = .draining
        var wakeups = Wakeups()
        let unstarted = buffer.removeAll()
        // LPUSH one by one: the last pushed ends up first, so push the newest first.
        pending.append(contentsOf: unstarted.reversed().map { Settlement.requeue(id: $0.id) })
        wakeups.parkedWorkersToStop = parkedWorkers
        liveWorkers -= parkedWorkers
        parkedWorkers = 0
        if poller == .parked {
            poller = .working
            wakeups.poller = true
        }
        wakeups.acker = wakeAcker()
        return wakeups
    }

    /// The grace period is over: returns true when handlers still running must be cancelled.
    mutating func graceExpired() -> Bool {
        guard phase == .draining else { return false }
        phase = .cancelling
        return running > 0
    }

    // MARK: Helpers

    private mutating func wakeAcker() -> Bool {
        guard ackerParked else { return false }
        ackerParked = false
        return true
    }

    private mutating func wakePollerIfWanted() -> Bool {
        guard poller == .parked, refillWanted else { return false }
        poller = .working
        return true
    }

    private mutating func finishWakeups() -> Wakeups {
        var wakeups = Wakeups()
        if isFinished { wakeups.acker = wakeAcker() }
        return wakeups
    }
}
