import Testing

@testable import DjinnQueue

private typealias Machine = ConsumerStateMachine

private func jobs(_ ids: String...) -> [ReservedJob] {
    ids.map { ReservedJob(id: $0, message: [0x80]) }
}

private func expectEqual<T: Equatable>(
    _ actual: T, _ expected: T, sourceLocation: SourceLocation = #_sourceLocation
) {
    #expect(actual == expected, sourceLocation: sourceLocation)
}

private func ids(_ settlements: [Settlement]) -> [String] { settlements.map(\.id) }

@Suite struct ConsumerStateMachineTests {
    /// Drives the poller through one reserve of `reserved` jobs; returns the wake-ups.
    private func reserve(_ machine: inout Machine, _ reserved: [ReservedJob], expecting count: Int? = nil) -> Machine.Wakeups {
        expectEqual(machine.pollerReady(), .proceed)
        let decision = machine.beginReserve()
        if let count { #expect(decision == .reserve(count)) }
        return machine.reserved(reserved)
    }

    @Test func startsByReservingAsManyJobsAsSlots() {
        var machine = Machine(slots: 4)
        #expect(machine.freeSlots == 4)
        expectEqual(machine.pollerReady(), .proceed)
        expectEqual(machine.beginReserve(), .reserve(4))
        #expect(machine.poller == .reserving)
        let wakeups = machine.reserved(jobs("a", "b"))
        #expect(wakeups == .none)  // no parked worker yet: buffered
        #expect(machine.bufferedCount == 2 && machine.freeSlots == 2 && machine.poller == .working)
        #expect(Set(machine.heldIDs) == ["a", "b"])
    }

    @Test func reserveBatchIsCapped() {
        var machine = Machine(slots: 5000)
        expectEqual(machine.pollerReady(), .proceed)
        expectEqual(machine.beginReserve(), .reserve(Machine.maximumBatch))
    }

    @Test func workersTakeBufferedJobsInOrderThenPark() {
        var machine = Machine(slots: 2)
        _ = reserve(&machine, jobs("a", "b"), expecting: 2)
        expectEqual(machine.workerReady(), .run(jobs("a")[0], .none))
        expectEqual(machine.workerReady(), .run(jobs("b")[0], .none))
        #expect(machine.running == 2 && machine.freeSlots == 0)
        // Slots full: the poller parks.
        expectEqual(machine.pollerReady(), .park)
        #expect(machine.poller == .parked)
        // A worker finishing with an empty buffer parks and wakes the poller.
        guard case .park(let wakeups) = machine.workerReady(finished: .ack(id: "a")) else {
            Issue.record("expected park")
            return
        }
        #expect(wakeups.poller && machine.poller == .working)
        #expect(machine.parkedWorkers == 1 && machine.running == 1 && machine.pendingCount == 1)
        // The next reserve asks for the one free slot and hands the job to the parked worker.
        expectEqual(machine.pollerReady(), .proceed)
        expectEqual(machine.beginReserve(), .reserve(1))
        let handed = machine.reserved(jobs("c"))
        #expect(handed.jobsForParkedWorkers == jobs("c"))
        #expect(machine.parkedWorkers == 0 && machine.running == 2 && machine.bufferedCount == 0)
    }

    @Test func reservedJobsGoToParkedWorkersFirstThenTheBuffer() {
        var machine = Machine(slots: 3)
        for _ in 0..<2 {
            guard case .park = machine.workerReady() else { Issue.record("expected park"); return }
        }
        let wakeups = reserve(&machine, jobs("a", "b", "c"), expecting: 3)
        #expect(wakeups.jobsForParkedWorkers == jobs("a", "b"))
        #expect(machine.bufferedCount == 1 && machine.running == 2 && machine.freeSlots == 0)
        expectEqual(machine.workerReady(), .run(jobs("c")[0], .none))
    }

    @Test func pollerWaitsForHalfTheSlotsWhileNoWorkerIsIdle() {
        // One worker, four slots: the buffer drains one job at a time.
        var machine = Machine(slots: 4, workers: 1)
        #expect(machine.refillThreshold == 2)
        _ = reserve(&machine, jobs("a", "b", "c", "d"), expecting: 4)
        expectEqual(machine.workerReady(), .run(jobs("a")[0], .none))
        expectEqual(machine.pollerReady(), .park)
        // One slot free, no idle worker: not worth a reserve yet.
        expectEqual(machine.workerReady(finished: .ack(id: "a")), .run(jobs("b")[0], .none))
        #expect(machine.freeSlots == 1 && machine.poller == .parked)
        // Two free: refill.
        var woken = Machine.Wakeups()
        woken.poller = true
        expectEqual(machine.workerReady(finished: .ack(id: "b")), .run(jobs("c")[0], woken))
        expectEqual(machine.pollerReady(), .proceed)
        expectEqual(machine.beginReserve(), .reserve(2))
    }

    @Test func anIdleWorkerWakesThePollerForASingleFreeSlot() {
        var machine = Machine(slots: 4)
        _ = reserve(&machine, jobs("a", "b", "c", "d"), expecting: 4)
        for _ in 0..<4 { _ = machine.workerReady() }
        expectEqual(machine.pollerReady(), .park)
        guard case .park(let wakeups) = machine.workerReady(finished: .ack(id: "a")) else { Issue.record("park"); return }
        #expect(wakeups.poller)
        expectEqual(machine.pollerReady(), .proceed)
        expectEqual(machine.beginReserve(), .reserve(1))
    }

    @Test func finishingWorkerTakesTheNextBufferedJob() {
        var machine = Machine(slots: 3, workers: 1)
        _ = reserve(&machine, jobs("a", "b", "c"), expecting: 3)
        expectEqual(machine.workerReady(), .run(jobs("a")[0], .none))
        guard case .run(let next, _) = machine.workerReady(finished: .ack(id: "a")) else { Issue.record("run"); return }
        #expect(next.id == "b")
        #expect(machine.pendingCount == 1 && machine.running == 1 && machine.bufferedCount == 1)
    }

    @Test func ackerBatchesEverythingThatFinishedMeanwhile() {
        var machine = Machine(slots: 3)
        _ = reserve(&machine, jobs("a", "b", "c"), expecting: 3)
        for _ in 0..<3 { _ = machine.workerReady() }
        expectEqual(machine.ackerReady(), .park)
        #expect(machine.ackerParked)
        // First finish wakes the acker; the ones after it while it writes don't.
        guard case .park(let woke) = machine.workerReady(finished: .ack(id: "a")) else { Issue.record("park"); return }
        #expect(woke.acker && !machine.ackerParked)
        expectEqual(machine.ackerReady(), .settle([.ack(id: "a")]))
        #expect(machine.settling)
        guard case .park(let quiet) = machine.workerReady(finished: .ack(id: "b")) else { Issue.record("park"); return }
        #expect(!quiet.acker)
        _ = machine.workerReady(finished: .requeue(id: "c"))
        machine.settled([.ack(id: "a")])
        expectEqual(machine.ackerReady(), .settle([.ack(id: "b"), .requeue(id: "c")]))
        machine.settled([.ack(id: "b"), .requeue(id: "c")])
        #expect(machine.heldCount == 0)
        expectEqual(machine.ackerReady(), .park)
    }

    @Test func settleBatchesAreCapped() {
        let count = Machine.maximumBatch + 5
        var machine = Machine(slots: count)
        let many = (0..<count).map { ReservedJob(id: "j\($0)", message: nil) }
        expectEqual(machine.pollerReady(), .proceed)
        _ = machine.beginReserve()
        _ = machine.reserved(many)
        for job in many {
            expectEqual(machine.workerReady(), .run(job, .none))
        }
        for job in many {
            _ = machine.workerReady(finished: .ack(id: job.id))
        }
        guard case .settle(let first) = machine.ackerReady() else { Issue.record("settle"); return }
        #expect(first.count == Machine.maximumBatch)
        machine.settled(first)
        guard case .settle(let second) = machine.ackerReady() else { Issue.record("settle"); return }
        #expect(second.count == 5)
        #expect(ids(first + second) == many.map(\.id))
    }

    @Test func heldCountsRepeatedReservationsOfOneID() {
        var machine = Machine(slots: 2)
        _ = reserve(&machine, jobs("a", "a"), expecting: 2)
        _ = machine.workerReady()
        _ = machine.workerReady()
        _ = machine.workerReady(finished: .ack(id: "a"))
        _ = machine.ackerReady()
        machine.settled([.ack(id: "a")])
        #expect(machine.heldIDs == ["a"])
    }

    @Test func shutdownRequeuesBufferedJobsInOrderAndStopsIdleWorkers() {
        var machine = Machine(slots: 4, workers: 2)
        _ = reserve(&machine, jobs("a", "b", "c", "d"), expecting: 4)
        expectEqual(machine.workerReady(), .run(jobs("a")[0], .none))
        expectEqual(machine.ackerReady(), .park)
        expectEqual(machine.pollerReady(), .park)
        let wakeups = machine.shutdownRequested()
        #expect(machine.phase == .draining)
        // b, c, d go back newest first, so that LPUSH leaves b at the head.
        #expect(wakeups.acker && wakeups.poller && wakeups.parkedWorkersToStop == 0)
        expectEqual(machine.ackerReady(), .settle([.requeue(id: "d"), .requeue(id: "c"), .requeue(id: "b")]))
        #expect(machine.bufferedCount == 0)
        // The poller exits; the other worker (never started) exits; a is still running.
        expectEqual(machine.pollerReady(), .exit(.none))
        expectEqual(machine.workerReady(), .exit(.none))
        #expect(!machine.isFinished)
        machine.settled([.requeue(id: "d"), .requeue(id: "c"), .requeue(id: "b")])
        expectEqual(machine.ackerReady(), .park)
        // a finishes within the grace period: acked, the worker exits, then all is settled.
        guard case .exit(let last) = machine.workerReady(finished: .ack(id: "a")) else { Issue.record("exit"); return }
        #expect(last.acker)
        expectEqual(machine.ackerReady(), .settle([.ack(id: "a")]))
        #expect(!machine.isFinished)
        machine.settled([.ack(id: "a")])
        #expect(machine.isFinished)
        expectEqual(machine.ackerReady(), .exit)
        #expect(machine.heldCount == 0)
        // Idempotent.
        expectEqual(machine.shutdownRequested(), .none)
    }

    @Test func shutdownStopsParkedWorkersAndAReserveInFlightIsRequeued() {
        var machine = Machine(slots: 2)
        _ = machine.workerReady()
        _ = machine.workerReady()
        #expect(machine.parkedWorkers == 2)
        expectEqual(machine.pollerReady(), .proceed)
        expectEqual(machine.beginReserve(), .reserve(2))
        let wakeups = machine.shutdownRequested()
        #expect(wakeups.parkedWorkersToStop == 2)
        #expect(machine.liveWorkers == 0 && machine.parkedWorkers == 0)
        // The reserve comes back after shutdown began: straight back to the head.
        let late = machine.reserved(jobs("x", "y"))
        #expect(late.jobsForParkedWorkers.isEmpty)
        expectEqual(machine.pollerReady(), .exit(.none))
        expectEqual(machine.ackerReady(), .settle([.requeue(id: "y"), .requeue(id: "x")]))
        machine.settled([.requeue(id: "y"), .requeue(id: "x")])
        #expect(machine.isFinished)
        expectEqual(machine.ackerReady(), .exit)
    }

    @Test func shutdownWhileProbingMakesBeginReserveExit() {
        var machine = Machine(slots: 1)
        expectEqual(machine.pollerReady(), .proceed)
        _ = machine.shutdownRequested()
        expectEqual(machine.beginReserve(), .exit(.none))
        #expect(machine.poller == .exited)
    }

    @Test func lastExitWakesAParkedAcker() {
        var machine = Machine(slots: 1)
        expectEqual(machine.ackerReady(), .park)
        expectEqual(machine.pollerReady(), .proceed)
        _ = machine.shutdownRequested()  // wakes the acker (nothing to settle)
        expectEqual(machine.ackerReady(), .park)  // worker and poller are still alive
        expectEqual(machine.workerReady(), .exit(.none))
        guard case .exit(let wakeups) = machine.beginReserve() else { Issue.record("exit"); return }
        #expect(wakeups.acker)
        expectEqual(machine.ackerReady(), .exit)
    }

    @Test func graceExpiryCancelsOnlyWhenHandlersRun() {
        var idle = Machine(slots: 1)
        expectEqual(idle.graceExpired(), false)  // not shutting down
        _ = idle.shutdownRequested()
        expectEqual(idle.graceExpired(), false)
        #expect(idle.phase == .cancelling)

        var busy = Machine(slots: 1)
        _ = reserve(&busy, jobs("a"), expecting: 1)
        _ = busy.workerReady()
        _ = busy.shutdownRequested()
        expectEqual(busy.graceExpired(), true)
        expectEqual(busy.graceExpired(), false)  // once
        // The cancelled handler's job is requeued (decided by the lifecycle) and the worker exits.
        guard case .exit = busy.workerReady(finished: .requeue(id: "a")) else { Issue.record("exit"); return }
    }

    /// Random interleavings of every role against a model: no slot is overbooked, every
    /// reserved job is settled exactly once, shutdown always completes.
    @Test(arguments: 0..<40)
    func randomInterleavingsKeepTheInvariants(seed: Int) {
        var random = SplitMix64(seed: UInt64(seed) &* 7919 &+ 1)
        let slots = Int(random.next() % 5) + 1
        let workers = Int(random.next() % UInt64(slots)) + 1
        var machine = Machine(slots: slots, workers: workers)

        enum Role: Equatable { case idle, parked, running(ReservedJob), exited }
        var workerRoles = [Role](repeating: .idle, count: workers)
        var parkedOrder: [Int] = []
        var pollerParked = false, pollerExited = false, pollerReserving = 0
        var ackerParked = false, ackerExited = false
        var inFlightBatch: [Settlement]?
        var nextID = 0
        var reservedIDs: [String] = []
        var settledIDs: [String] = []
        var shutdownAt = Int(random.next() % 400) + 50

        func deliver(_ wakeups: Machine.Wakeups) {
            for job in wakeups.jobsForParkedWorkers {
                let worker = parkedOrder.removeLast()
                workerRoles[worker] = .running(job)
            }
            for _ in 0..<wakeups.parkedWorkersToStop {
                let worker = parkedOrder.removeLast()
                workerRoles[worker] = .exited
            }
            if wakeups.poller { pollerParked = false }
            if wakeups.acker { ackerParked = false }
        }

        var step = 0
        while !(ackerExited && pollerExited && workerRoles.allSatisfy({ $0 == .exited })) {
            step += 1
            #expect(step < 20_000, "no progress")
            if step >= 20_000 { return }
            if step == shutdownAt { deliver(machine.shutdownRequested()) }
            if step == shutdownAt + Int(random.next() % 50) + 1, machine.graceExpired() {
                // Cancelled handlers finish soon with .requeue (the lifecycle decides that).
                shutdownAt = -1
            }
            #expect(machine.running + machine.bufferedCount <= slots)
            #expect(machine.freeSlots >= 0)

            switch random.next() % 4 {
            case 0 where !pollerParked && !pollerExited:
                if pollerReserving > 0 {
                    let count = Int(random.next() % UInt64(pollerReserving + 1))
                    let new = (0..<count).map { _ -> ReservedJob in
                        nextID += 1
                        return ReservedJob(id: "j\(nextID)", message: nil)
                    }
                    reservedIDs += new.map(\.id)
                    pollerReserving = 0
                    deliver(machine.reserved(new))
                } else {
                    switch machine.pollerReady() {
                    case .proceed:
                        switch machine.beginReserve() {
                        case .reserve(let count):
                            #expect(count >= 1 && count <= machine.freeSlots)
                            pollerReserving = count
                        case .exit(let wakeups):
                            pollerExited = true
                            deliver(wakeups)
                        }
                    case .park: pollerParked = true
                    case .exit(let wakeups):
                        pollerExited = true
                        deliver(wakeups)
                    }
                }
            case 1:
                let worker = Int(random.next() % UInt64(workers))
                var finished: Settlement?
                switch workerRoles[worker] {
                case .parked, .exited: continue
                case .running(let job):
                    finished = machine.phase == .cancelling ? .requeue(id: job.id) : .ack(id: job.id)
                case .idle: break
                }
                switch machine.workerReady(finished: finished) {
                case .run(let job, let wakeups):
                    workerRoles[worker] = .running(job)
                    deliver(wakeups)
                case .park(let wakeups):
                    workerRoles[worker] = .parked
                    parkedOrder.append(worker)
                    deliver(wakeups)
                case .exit(let wakeups):
                    workerRoles[worker] = .exited
                    deliver(wakeups)
                }
            case 2 where !ackerParked && !ackerExited:
                if let batch = inFlightBatch {
                    settledIDs += batch.map(\.id)
                    machine.settled(batch)
                    inFlightBatch = nil
                } else {
                    switch machine.ackerReady() {
                    case .settle(let batch): inFlightBatch = batch
                    case .park: ackerParked = true
                    case .exit: ackerExited = true
                    }
                }
            default:
                if step > shutdownAt && shutdownAt > 0 { deliver(machine.shutdownRequested()) }
            }
        }
        #expect(machine.isFinished)
        #expect(settledIDs.sorted() == reservedIDs.sorted(), "every reserved job settled exactly once")
        #expect(machine.heldCount == 0)
    }
}

