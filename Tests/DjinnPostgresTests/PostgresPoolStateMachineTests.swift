import Testing
@testable import DjinnPostgres

private typealias Machine = PostgresPoolStateMachine
private typealias C = PostgresPoolStateMachine.ConnectionID
private typealias W = PostgresPoolStateMachine.WaiterID

@Suite struct PostgresPoolStateMachineTests {
    // MARK: Scenarios

    @Test func opensLazilyAndReusesIdleConnections() {
        var m = Machine(maxConnections: 2)
        #expect(m.connections.isEmpty)
        #expect(m.leaseRequested(W(0)) == [.openConnection(C(0))])
        #expect(m.connectionOpened(C(0)) == [.lease(C(0), to: W(0))])
        #expect(m.released(C(0), reusable: true) == [])
        #expect(m.idleCount == 1)
        #expect(m.leaseRequested(W(1)) == [.lease(C(0), to: W(1))])
        #expect(m.connections.count == 1)
    }

    @Test func reusesTheMostRecentlyReleasedConnection() {
        var m = Machine(maxConnections: 2)
        _ = m.leaseRequested(W(0)); _ = m.leaseRequested(W(1))
        _ = m.connectionOpened(C(0)); _ = m.connectionOpened(C(1))
        _ = m.released(C(1), reusable: true)
        _ = m.released(C(0), reusable: true)
        #expect(m.leaseRequested(W(2)) == [.lease(C(0), to: W(2))])
    }

    @Test func neverExceedsTheBoundAndServesWaitersInOrder() {
        var m = Machine(maxConnections: 2)
        #expect(m.leaseRequested(W(0)) == [.openConnection(C(0))])
        #expect(m.leaseRequested(W(1)) == [.openConnection(C(1))])
        #expect(m.leaseRequested(W(2)) == [])
        #expect(m.leaseRequested(W(3)) == [])
        #expect(m.connections.count == 2)
        // Whichever connection opens first serves the longest waiting caller.
        #expect(m.connectionOpened(C(1)) == [.lease(C(1), to: W(0))])
        #expect(m.connectionOpened(C(0)) == [.lease(C(0), to: W(1))])
        #expect(m.released(C(0), reusable: true) == [.lease(C(0), to: W(2))])
        #expect(m.released(C(1), reusable: true) == [.lease(C(1), to: W(3))])
        #expect(m.waiterCount == 0)
    }

    @Test func opensNoMoreThanTheWaitersNeed() {
        var m = Machine(maxConnections: 5)
        _ = m.leaseRequested(W(0))
        _ = m.leaseRequested(W(1))
        #expect(m.openingCount == 2)
        #expect(m.waiterCancelled(W(1)) == [.failWaiter(W(1), .cancelled)])
        // The spare connection still opens and then idles.
        #expect(m.connectionOpened(C(0)) == [.lease(C(0), to: W(0))])
        #expect(m.connectionOpened(C(1)) == [])
        #expect(m.idleCount == 1)
        #expect(m.leaseRequested(W(2)) == [.lease(C(1), to: W(2))])
    }

    @Test func replacesABrokenConnectionOnceItIsClosed() {
        var m = Machine(maxConnections: 1)
        _ = m.leaseRequested(W(0))
        _ = m.connectionOpened(C(0))
        #expect(m.leaseRequested(W(1)) == [])
        #expect(m.released(C(0), reusable: false) == [.closeConnection(C(0))])
        #expect(m.closingCount == 1)
        #expect(m.connectionClosed(C(0)) == [.openConnection(C(1))])
        #expect(m.connectionOpened(C(1)) == [.lease(C(1), to: W(1))])
    }

    @Test func brokenConnectionWithNobodyWaitingIsJustClosed() {
        var m = Machine(maxConnections: 1)
        _ = m.leaseRequested(W(0))
        _ = m.connectionOpened(C(0))
        #expect(m.released(C(0), reusable: false) == [.closeConnection(C(0))])
        #expect(m.connectionClosed(C(0)) == [])
        #expect(m.connections.isEmpty)
        #expect(m.leaseRequested(W(1)) == [.openConnection(C(1))])
    }

    @Test func failedOpenFailsTheOldestWaiterAndRetriesForTheRest() {
        var m = Machine(maxConnections: 1)
        _ = m.leaseRequested(W(0))
        _ = m.leaseRequested(W(1))
        _ = m.leaseRequested(W(2))
        #expect(m.connectionOpenFailed(C(0)) == [.failWaiter(W(0), .connectFailed), .openConnection(C(1))])
        #expect(m.connectionOpenFailed(C(1)) == [.failWaiter(W(1), .connectFailed), .openConnection(C(2))])
        #expect(m.connectionOpened(C(2)) == [.lease(C(2), to: W(2))])
    }

    @Test func failedOpenWithNobodyWaitingDoesNothing() {
        var m = Machine(maxConnections: 2)
        _ = m.leaseRequested(W(0))
        _ = m.waiterCancelled(W(0))
        #expect(m.connectionOpenFailed(C(0)) == [])
        #expect(m.connections.isEmpty)
    }

    @Test func cancellingAServedWaiterIsANoOp() {
        var m = Machine(maxConnections: 1)
        _ = m.leaseRequested(W(0))
        _ = m.connectionOpened(C(0))
        #expect(m.waiterCancelled(W(0)) == [])
        #expect(m.waiterCancelled(W(42)) == [])
        #expect(m.leasedCount == 1)
    }

    @Test func closeFailsWaitersAndClosesEverythingAsItComesBack() {
        var m = Machine(maxConnections: 3)
        _ = m.leaseRequested(W(0)); _ = m.leaseRequested(W(1)); _ = m.leaseRequested(W(2))
        _ = m.connectionOpened(C(0))  // leased to w0
        _ = m.connectionOpened(C(1))  // leased to w1
        _ = m.released(C(1), reusable: true)  // → w2
        _ = m.released(C(1), reusable: true)  // idle
        _ = m.leaseRequested(W(3))  // gets c1
        _ = m.leaseRequested(W(4))  // waits (c2 is opening)
        #expect(m.leasedCount == 2)
        #expect(m.openingCount == 1)
        #expect(m.closeRequested() == [.failWaiter(W(4), .poolClosed)])
        #expect(m.phase == .closing)
        #expect(m.leaseRequested(W(5)) == [.failWaiter(W(5), .poolClosed)])
        #expect(m.closeRequested() == [])
        #expect(m.released(C(0), reusable: true) == [.closeConnection(C(0))])
        #expect(m.connectionOpened(C(2)) == [.closeConnection(C(2))])
        #expect(m.connectionClosed(C(0)) == [])
        #expect(m.connectionClosed(C(2)) == [])
        #expect(m.released(C(1), reusable: true) == [.closeConnection(C(1))])
        #expect(m.connectionClosed(C(1)) == [.shutdownComplete])
        #expect(m.phase == .closed)
        #expect(m.closeRequested() == [.shutdownComplete])
        #expect(m.leaseRequested(W(6)) == [.failWaiter(W(6), .poolClosed)])
    }

    @Test func closeClosesIdleConnectionsAtOnce() {
        var m = Machine(maxConnections: 2)
        _ = m.leaseRequested(W(0)); _ = m.leaseRequested(W(1))
        _ = m.connectionOpened(C(0)); _ = m.connectionOpened(C(1))
        _ = m.released(C(1), reusable: true); _ = m.released(C(0), reusable: true)
        #expect(m.closeRequested() == [.closeConnection(C(0)), .closeConnection(C(1))])
        #expect(m.connectionClosed(C(1)) == [])
        #expect(m.connectionClosed(C(0)) == [.shutdownComplete])
    }

    @Test func closeOfAnUnusedPoolCompletesAtOnce() {
        var m = Machine(maxConnections: 2)
        #expect(m.closeRequested() == [.shutdownComplete])
        #expect(m.phase == .closed)
    }

    @Test func failedOpenDuringCloseCanCompleteTheShutdown() {
        var m = Machine(maxConnections: 2)
        _ = m.leaseRequested(W(0))
        #expect(m.closeRequested() == [.failWaiter(W(0), .poolClosed)])
        #expect(m.connectionOpenFailed(C(0)) == [.shutdownComplete])
    }

    // MARK: Exhaustive exploration

    /// Every interleaving of events for up to four callers, from a fresh pool until no
    /// new state is reachable, with a harness that plays the pool's part (performs the
    /// actions, holds leases) and checks invariants after each step; plus liveness: from
    /// every reached state, completing all pending work serves every waiter, and closing
    /// then ends in exactly one shutdown. The state space is finite (each opened
    /// connection is owed to a caller, and there are at most four), so this covers it all.
    @Test(arguments: [1, 2, 3, 4])
    func exhaustiveExploration(maxConnections: Int) {
        var frontier: Set<Harness> = [Harness(maxConnections: maxConnections)]
        var visited = frontier
        var depth = 0
        while !frontier.isEmpty {
            depth += 1
            guard depth < 60 else {
                Issue.record("state space did not close after 60 events")
                return
            }
            var next: Set<Harness> = []
            for harness in frontier {
                for event in harness.possibleEvents(maxWaiters: 4) {
                    var successor = harness
                    successor.apply(event)
                    if !successor.problems.isEmpty {
                        Issue.record("after \(harness.trace + [event]): \(successor.problems)")
                        return
                    }
                    successor.trace = []  // not part of the identity
                    if visited.insert(successor).inserted {
                        successor.trace = harness.trace + [event]
                        next.insert(successor)
                    }
                }
            }
            for harness in next {
                let problems = harness.drainedProblems()
                if !problems.isEmpty {
                    Issue.record("draining after \(harness.trace): \(problems)")
                    return
                }
            }
            frontier = next
        }
        // Guards the exploration itself against becoming vacuous.
        #expect(visited.count > 200, "only \(visited.count) states")
    }
}

/// Plays the pool around a state machine and checks what it is told to do.
private struct Harness: Hashable {
    enum Event: Hashable, CustomStringConvertible {
        case request, cancel(W), opened(C), openFailed(C), release(C, reusable: Bool), closed(C), close
        var description: String {
            switch self {
            case .request: return "request"
            case .cancel(let w): return "cancel(\(w))"
            case .opened(let c): return "opened(\(c))"
            case .openFailed(let c): return "openFailed(\(c))"
            case .release(let c, let reusable): return "release(\(c), \(reusable))"
            case .closed(let c): return "closed(\(c))"
            case .close: return "close"
            }
        }
    }

    var machine: Machine
    var nextWaiter = 0
    var waiting: [W] = []  // in request order
    var holding: [C: W] = [:]
    var opening: Set<C> = []
    var closing: Set<C> = []
    var everOpened: Set<C> = []
    var closeRequests = 0
    var shutdownCompletions = 0
    var problems: [String] = []
    var trace: [Event] = []

    init(maxConnections: Int) { machine = Machine(maxConnections: maxConnections) }

    static func == (a: Harness, b: Harness) -> Bool {
        a.machine == b.machine && a.nextWaiter == b.nextWaiter && a.waiting == b.waiting && a.holding == b.holding
            && a.opening == b.opening && a.closing == b.closing && a.closeRequests == b.closeRequests
            && a.shutdownCompletions == b.shutdownCompletions && a.everOpened == b.everOpened
    }

    func hash(into hasher: inout Hasher) {
        hasher.combine(machine)
        hasher.combine(nextWaiter)
        hasher.combine(waiting)
        hasher.combine(holding)
        hasher.combine(opening)
        hasher.combine(closing)
        hasher.combine(closeRequests)
    }

    func possibleEvents(maxWaiters: Int) -> [Event] {
        var events: [Event] = []
        if nextWaiter < maxWaiters { events.append(.request) }
        for w in 0..<nextWaiter { events.append(.cancel(W(w))) }
        for c in opening.sorted() { events += [.opened(c), .openFailed(c)] }
        for c in holding.keys.sorted() { events += [.release(c, reusable: true), .release(c, reusable: false)] }
        for c in closing.sorted() { events.append(.closed(c)) }
        if closeRequests < 2 { events.append(.close) }
        return events
    }

    mutating func apply(_ event: Event) {
        let actions: [Machine.Action]
        switch event {
        case .request:
            let w = W(nextWaiter)
            nextWaiter += 1
            waiting.append(w)
            actions = machine.leaseRequested(w)
        case .cancel(let w):
            actions = machine.waiterCancelled(w)
        case .opened(let c):
            opening.remove(c)
            actions = machine.connectionOpened(c)
        case .openFailed(let c):
            opening.remove(c)
            actions = machine.connectionOpenFailed(c)
        case .release(let c, let reusable):
            holding[c] = nil
            actions = machine.released(c, reusable: reusable)
        case .closed(let c):
            closing.remove(c)
            actions = machine.connectionClosed(c)
        case .close:
            closeRequests += 1
            actions = machine.closeRequested()
        }
        for action in actions { perform(action, after: event) }
        checkInvariants()
    }

    private mutating func perform(_ action: Machine.Action, after event: Event) {
        switch action {
        case .openConnection(let c):
            if everOpened.contains(c) { problems.append("\(c) opened twice") }
            if closeRequests > 0 { problems.append("opened \(c) after close") }
            everOpened.insert(c)
            opening.insert(c)
        case .lease(let c, let w):
            guard let index = waiting.firstIndex(of: w) else { problems.append("leased to \(w), who is not waiting"); return }
            if index != 0 { problems.append("leased to \(w) ahead of \(waiting[0])") }
            if holding[c] != nil { problems.append("\(c) leased twice") }
            if opening.contains(c) || closing.contains(c) { problems.append("\(c) leased while opening/closing") }
            if closeRequests > 0 { problems.append("leased after close") }
            waiting.remove(at: index)
            holding[c] = w
        case .failWaiter(let w, let failure):
            guard let index = waiting.firstIndex(of: w) else { problems.append("failed \(w), who is not waiting"); return }
            switch failure {
            case .cancelled:
                if event != .cancel(w) { problems.append("\(w) failed as cancelled on \(event)") }
            case .connectFailed:
                if case .openFailed = event {} else { problems.append("connectFailed on \(event)") }
                if index != 0 { problems.append("connect failure given to \(w) ahead of \(waiting[0])") }
            case .poolClosed:
                if closeRequests == 0 { problems.append("\(w) failed as closed before close") }
            }
            waiting.remove(at: index)
        case .closeConnection(let c):
            if holding[c] != nil || opening.contains(c) || closing.contains(c) { problems.append("closed \(c) while in use") }
            closing.insert(c)
        case .shutdownComplete:
            shutdownCompletions += 1
            if closeRequests == 0 { problems.append("shutdown completed without close") }
        }
    }

    private mutating func checkInvariants() {
        let m = machine
        var found: [String] = []
        if m.connections.count > m.maxConnections { found.append("\(m.connections.count) connections > max \(m.maxConnections)") }
        if m.leasedCount != holding.count { found.append("leased \(m.leasedCount) != held \(holding.count)") }
        if m.openingCount != opening.count { found.append("opening \(m.openingCount) != \(opening.count)") }
        if m.closingCount != closing.count { found.append("closing \(m.closingCount) != \(closing.count)") }
        if m.connections.count != m.idleCount + holding.count + opening.count + closing.count {
            found.append("connection states do not add up")
        }
        if m.waiters != waiting { found.append("waiters \(m.waiters) != \(waiting)") }
        if m.phase == .running {
            if !waiting.isEmpty && m.idleCount > 0 { found.append("waiters while a connection idles") }
            if !waiting.isEmpty && opening.isEmpty && holding.isEmpty && closing.isEmpty {
                found.append("waiters but nothing will ever serve them")
            }
            if closeRequests > 0 { found.append("running after close") }
        } else {
            if closeRequests == 0 { found.append("closing without close") }
            if !waiting.isEmpty || m.idleCount > 0 { found.append("waiters or idle connections while closing") }
        }
        let closed = m.phase == .closed
        if closed != (closeRequests > 0 && m.connections.isEmpty) { found.append("phase \(m.phase) inconsistent") }
        let expectedCompletions = closed ? 1 + max(0, closeRequests - closeRequestsBeforeClosed) : 0
        if shutdownCompletions > expectedCompletions || (closed && shutdownCompletions == 0) {
            found.append("\(shutdownCompletions) shutdown completions")
        }
        problems += found
    }

    /// Close requests made while not yet closed; later ones each answer `shutdownComplete`.
    private var closeRequestsBeforeClosed: Int { closeRequests == 0 ? 0 : 1 }

    /// Finishes all pending work (opens succeed, holders release, closes finish) and
    /// checks every waiter was served; then closes the pool and checks it shuts down once.
    func drainedProblems() -> [String] {
        var harness = self
        for round in 0..<100 {
            var events: [Event] = harness.opening.sorted().map { .opened($0) }
            events += harness.holding.keys.sorted().map { .release($0, reusable: true) }
            events += harness.closing.sorted().map { .closed($0) }
            if events.isEmpty { break }
            for event in events { harness.apply(event) }
            if !harness.problems.isEmpty { return harness.problems }
            if round == 99 { return ["draining does not terminate"] }
        }
        if !harness.waiting.isEmpty { return ["waiters \(harness.waiting) never served"] }
        let completionsBefore = harness.shutdownCompletions
        harness.apply(.close)
        for _ in 0..<100 {
            let events: [Event] = harness.closing.sorted().map { .closed($0) } + harness.opening.sorted().map { .opened($0) }
            if events.isEmpty { break }
            for event in events { harness.apply(event) }
        }
        if !harness.problems.isEmpty { return harness.problems }
        if harness.machine.phase != .closed { return ["close never completed"] }
        if harness.shutdownCompletions != completionsBefore + 1 { return ["shutdown completed \(harness.shutdownCompletions - completionsBefore) times"] }
        return []
    }
}
