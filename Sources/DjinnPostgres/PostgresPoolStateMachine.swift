/// The bookkeeping of `PostgresPool` as a pure value: which connections exist and in
/// what state, who is waiting, and what to do next. The pool feeds it events and
/// performs the actions it returns; no I/O happens here, so every transition is unit
/// tested.
///
/// Rules:
/// - At most `maxConnections` connections exist at once, counting those being opened
///   and those being closed (a closing connection may still hold a server backend).
/// - Connections open lazily, only while more callers wait than connections are being
///   opened for them.
/// - Waiters are served first come, first served. Idle connections are reused most
///   recently used first (the others may then be trimmed by the server side).
/// - A connection released as not reusable is closed; once closed, a replacement is
///   opened if callers are waiting.
/// - A failed open fails the longest waiting caller with that error (so callers do not
///   wait forever while the server is down); others waiting get a fresh attempt.
/// - After `closeRequested` nobody is served: waiters fail, idle connections close at
///   once, leased ones when released, opening ones when open. `shutdownComplete` is
///   returned exactly once, when the last connection has closed.
public struct PostgresPoolStateMachine: Sendable, Hashable {
    public struct ConnectionID: Hashable, Sendable, Comparable, CustomStringConvertible {
        public var rawValue: Int
        public init(_ rawValue: Int) { self.rawValue = rawValue }
        public static func < (a: Self, b: Self) -> Bool { a.rawValue < b.rawValue }
        public var description: String { "c\(rawValue)" }
    }

    public struct WaiterID: Hashable, Sendable, Comparable, CustomStringConvertible {
        public var rawValue: Int
        public init(_ rawValue: Int) { self.rawValue = rawValue }
        public static func < (a: Self, b: Self) -> Bool { a.rawValue < b.rawValue }
        public var description: String { "w\(rawValue)" }
    }

    public enum ConnectionState: Hashable, Sendable {
        case opening, idle, leased, closing
    }

    public enum Failure: Hashable, Sendable {
        /// The pool is closed (or closing).
        case poolClosed
        /// The waiter's task was cancelled.
        case cancelled
        /// Opening a connection for it failed; the pool passes on that error.
        case connectFailed
    }

    public enum Action: Hashable, Sendable {
        case openConnection(ConnectionID)
        case lease(ConnectionID, to: WaiterID)
        case failWaiter(WaiterID, Failure)
        case closeConnection(ConnectionID)
        case shutdownComplete
    }

    public enum Phase: Hashable, Sendable {
        case running, closing, closed
    }

    public let maxConnections: Int
    public private(set) var phase = Phase.running
    public private(set) var connections: [ConnectionID: ConnectionState] = [:]
    /// Idle connections, the most recently released last.
    private var idle: [ConnectionID] = []
    /// Waiting callers, the longest waiting first.
    public private(set) var waiters: [WaiterID] = []
    private var nextConnection = 0

    public init(maxConnections: Int) {
        precondition(maxConnections > 0, "a pool needs at least one connection")
        self.maxConnections = maxConnections
    }

    // MARK: Counts

    public var idleCount: Int { idle.count }
    public var openingCount: Int { count(.opening) }
    public var leasedCount: Int { count(.leased) }
    public var closingCount: Int { count(.closing) }
    public var waiterCount: Int { waiters.count }

    private func count(_ state: ConnectionState) -> Int {
        connections.values.lazy.filter { $0 == state }.count
    }

    // MARK: Events

    /// A caller wants a connection.
    public mutating func leaseRequested(_ waiter: WaiterID) -> [Action] {
        guard phase == .running else { return [.failWaiter(waiter, .poolClosed)] }
        if let connection = idle.popLast() {
            connections[connection] = .leased
            return [.lease(connection, to: waiter)]
        }
        waiters.append(waiter)
        return openIfNeeded()
    }

    /// A waiting caller gave up (its task was cancelled).
    public mutating func waiterCancelled(_ waiter: WaiterID) -> [Action] {
        guard let index = waiters.firstIndex(of: waiter) else { return [] }  // already served
        waiters.remove(at: index)
        return [.failWaiter(waiter, .cancelled)]
    }

    /// `openConnection(id)` succeeded.
    public mutating func connectionOpened(_ connection: ConnectionID) -> [Action] {
        precondition(connections[connection] == .opening, "\(connection) was not being opened")
        if phase != .running {
            connections[connection] = .closing
            return [.closeConnection(connection)]
        }
        return handOut(connection)
    }

    /// `openConnection(id)` failed.
    public mutating func connectionOpenFailed(_ connection: ConnectionID) -> [Action] {
        precondition(connections[connection] == .opening, "\(connection) was not being opened")
        connections[connection] = nil
        if phase != .running { return finishShutdownIfDone() }
        guard !waiters.isEmpty else { return [] }
        let waiter = waiters.removeFirst()
        return [.failWaiter(waiter, .connectFailed)] + openIfNeeded()
    }

    /// A caller is done with a leased connection. `reusable` is false if the
    /// connection broke or was left inside a transaction.
    public mutating func released(_ connection: ConnectionID, reusable: Bool) -> [Action] {
        precondition(connections[connection] == .leased, "\(connection) was not leased")
        guard reusable, phase == .running else {
            connections[connection] = .closing
            return [.closeConnection(connection)]
        }
        return handOut(connection)
    }

    /// `closeConnection(id)` finished.
    public mutating func connectionClosed(_ connection: ConnectionID) -> [Action] {
        precondition(connections[connection] == .closing, "\(connection) was not being closed")
        connections[connection] = nil
        if phase != .running { return finishShutdownIfDone() }
        return openIfNeeded()  // a replacement for a broken connection, if anyone waits
    }

    /// The pool's owner closes it.
    public mutating func closeRequested() -> [Action] {
        switch phase {
        case .closed: return [.shutdownComplete]
        case .closing: return []
        case .running: break
        }
        phase = .closing
        var actions: [Action] = waiters.map { .failWaiter($0, .poolClosed) }
        waiters.removeAll()
        for connection in idle.sorted() {
            connections[connection] = .closing
            actions.append(.closeConnection(connection))
        }
        idle.removeAll()
        return actions + finishShutdownIfDone()
    }

    // MARK: Helpers

    /// Gives `connection` (now free) to the longest waiting caller, or parks it idle.
    private mutating func handOut(_ connection: ConnectionID) -> [Action] {
        if waiters.isEmpty {
            connections[connection] = .idle
            idle.append(connection)
            return []
        }
        connections[connection] = .leased
        return [.lease(connection, to: waiters.removeFirst())]
    }

    /// Opens connections while more callers wait than are being opened for, within the bound.
    private mutating func openIfNeeded() -> [Action] {
        var actions: [Action] = []
        while waiters.count > openingCount && connections.count < maxConnections {
            let connection = ConnectionID(nextConnection)
            nextConnection += 1
            connections[connection] = .opening
            actions.append(.openConnection(connection))
        }
        return actions
    }

    private mutating func finishShutdownIfDone() -> [Action] {
        guard phase == .closing, connections.isEmpty else { return [] }
        phase = .closed
        return [.shutdownComplete]
    }
}
