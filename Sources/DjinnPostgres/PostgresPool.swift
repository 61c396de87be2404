import Logging
import Synchronization

/// A bounded pool of `PostgresConnection`s, opened lazily, handed to waiting callers
/// first come, first served.
///
/// All bookkeeping lives in `PostgresPoolStateMachine`; this class only keeps the
/// continuations and connection objects that go with the machine's ids, and performs
/// the machine's actions (outside its lock).
public final class PostgresPool: PostgresQueryable, CustomStringConvertible {
    public typealias ConnectionID = PostgresPoolStateMachine.ConnectionID
    public typealias WaiterID = PostgresPoolStateMachine.WaiterID

    public let configuration: PostgresConfiguration
    public var maxConnections: Int { state.withLock { $0.machine.maxConnections } }
    private let logger: Logger
    private let state: Mutex<State>

    private struct State {
        var machine: PostgresPoolStateMachine
        var waiters: [WaiterID: CheckedContinuation<(ConnectionID, PostgresConnection), Error>] = [:]
        var connections: [ConnectionID: PostgresConnection] = [:]
        var closeWaiters: [CheckedContinuation<Void, Never>] = []
        var nextWaiter = 0
    }

    /// What performing one action needs, taken out of the state under the lock.
    private enum Effect {
        case open(ConnectionID)
        case resume(CheckedContinuation<(ConnectionID, PostgresConnection), Error>, ConnectionID, PostgresConnection)
        case fail(CheckedContinuation<(ConnectionID, PostgresConnection), Error>, Error)
        case close(ConnectionID, PostgresConnection)
        case finishClose([CheckedContinuation<Void, Never>])
    }

    /// No connection is opened until the first caller needs one.
    public init(configuration: PostgresConfiguration, maxConnections: Int, logger: Logger) {
        precondition(maxConnections > 0, "a pool needs at least one connection")
        self.configuration = configuration
        self.logger = logger
        self.state = Mutex(State(machine: PostgresPoolStateMachine(maxConnections: maxConnections)))
    }

    public var description: String { "PostgresPool(\(configuration), max \(maxConnections))" }

    /// Counts for diagnostics and tests.
    public var statistics: (idle: Int, leased: Int, opening: Int, closing: Int, waiting: Int) {
        state.withLock { state in
            let machine = state.machine
            return (machine.idleCount, machine.leasedCount, machine.openingCount, machine.closingCount, machine.waiterCount)
        }
    }

    // MARK: Using connections

    /// Leases a connection for the duration of `body`. If `body` leaves a transaction
    /// open (it threw mid-transaction), it is rolled back; a connection that is then not
    /// healthy is closed instead of being reused.
    public func withConnection<T>(_ body: (PostgresConnection) async throws -> T) async throws -> T {
        let (id, connection) = try await lease()
        let value: T
        do {
            value = try await body(connection)
        } catch {
            await release(id, connection)
            throw error
        }
        await release(id, connection)
        return value
    }

    /// Runs `body` in a transaction on one leased connection (BEGIN … COMMIT; ROLLBACK
    /// and rethrow on any error).
    public func withTransaction<T>(_ body: (PostgresConnection) async throws -> T) async throws -> T {
        try await withConnection { connection in try await connection.withTransaction(body) }
    }

    public func query(_ sql: String, _ parameters: [(any PostgresBindable)?] = []) async throws -> PostgresRows {
        try await withConnection { connection in try await connection.query(sql, parameters) }
    }

    @discardableResult
    public func execute(_ sql: String, _ parameters: [(any PostgresBindable)?] = []) async throws -> Int {
        try await withConnection { connection in try await connection.execute(sql, parameters) }
    }

    /// Closes the pool: waiting callers fail with a `.closed` error, idle connections
    /// close now, leased ones as they come back. Returns once all are closed, so do not
    /// call it from inside `withConnection`.
    public func close() async {
        await withCheckedContinuation { (continuation: CheckedContinuation<Void, Never>) in
            let effects = state.withLock { state in
                state.closeWaiters.append(continuation)
                return Self.effects(of: state.machine.closeRequested(), in: &state, connectError: nil)
            }
            perform(effects)
        }
    }

    // MARK: Leasing

    private func lease() async throws -> (ConnectionID, PostgresConnection) {
        try Task.checkCancellation()
        let waiter = state.withLock { state in
            defer { state.nextWaiter += 1 }
            return WaiterID(state.nextWaiter)
        }
        return try await withTaskCancellationHandler {
            try await withCheckedThrowingContinuation { continuation in
                let effects = state.withLock { state in
                    state.waiters[waiter] = continuation
                    var actions = state.machine.leaseRequested(waiter)
                    // Cancelled between the check above and now: the handler found no
                    // waiter to cancel, so withdraw here (both run under this lock).
                    if Task.isCancelled { actions += state.machine.waiterCancelled(waiter) }
                    return Self.effects(of: actions, in: &state, connectError: nil)
                }
                perform(effects)
            }
        } onCancel: {
            let effects = state.withLock { state in
                Self.effects(of: state.machine.waiterCancelled(waiter), in: &state, connectError: nil)
            }
            perform(effects)
        }
    }

    private func release(_ id: ConnectionID, _ connection: PostgresConnection) async {
        if connection.isInTransaction { await connection.rollback() }
        let reusable = connection.isReusable
        if !reusable { logger.debug("discarding a pooled PostgreSQL connection that is not reusable") }
        let effects = state.withLock { state in
            Self.effects(of: state.machine.released(id, reusable: reusable), in: &state, connectError: nil)
        }
        perform(effects)
    }

    // MARK: Actions

    private static func effects(
        of actions: [PostgresPoolStateMachine.Action], in state: inout State, connectError: Error?
    ) -> [Effect] {
        actions.map { action -> Effect in
            switch action {
            case .openConnection(let id):
                return .open(id)
            case .lease(let id, let waiter):
                return .resume(state.waiters.removeValue(forKey: waiter)!, id, state.connections[id]!)
            case .failWaiter(let waiter, let failure):
                let error: Error
                switch failure {
                case .poolClosed: error = PostgresError(kind: .closed, message: "the connection pool is closed")
                case .cancelled: error = CancellationError()
                case .connectFailed:
                    error = connectError ?? PostgresError(kind: .connection, message: "connecting failed")
                }
                return .fail(state.waiters.removeValue(forKey: waiter)!, error)
            case .closeConnection(let id):
                return .close(id, state.connections[id]!)
            case .shutdownComplete:
                defer { state.closeWaiters.removeAll() }
                return .finishClose(state.closeWaiters)
            }
        }
    }

    private func perform(_ effects: [Effect]) {
        for effect in effects {
            switch effect {
            case .open(let id):
                logger.debug("opening a pooled PostgreSQL connection", metadata: ["pool_connection": "\(id)"])
                Task { await self.open(id) }
            case .resume(let continuation, let id, let connection):
                continuation.resume(returning: (id, connection))
            case .fail(let continuation, let error):
                continuation.resume(throwing: error)
            case .close(let id, let connection):
                Task { await self.close(id, connection) }
            case .finishClose(let continuations):
                continuations.forEach { $0.resume() }
            }
        }
    }

    private func open(_ id: ConnectionID) async {
        do {
            let connection = try await PostgresConnection.connect(configuration, logger: logger)
            let effects = state.withLock { state in
                state.connections[id] = connection
                return Self.effects(of: state.machine.connectionOpened(id), in: &state, connectError: nil)
            }
            perform(effects)
        } catch {
            logger.warning("could not open a PostgreSQL connection", metadata: ["error": "\(error)"])
            let effects = state.withLock { state in
                Self.effects(of: state.machine.connectionOpenFailed(id), in: &state, connectError: error)
            }
            perform(effects)
        }
    }

    private func close(_ id: ConnectionID, _ connection: PostgresConnection) async {
        await connection.close()
        let effects = state.withLock { state in
            state.connections[id] = nil
            return Self.effects(of: state.machine.connectionClosed(id), in: &state, connectError: nil)
        }
        perform(effects)
    }
}
