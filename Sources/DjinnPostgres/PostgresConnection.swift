import BlockingIO
import Foundation
import Logging
import Synchronization

/// Something statements can be run on: a connection, a pool, a transaction's connection.
/// Write store code against this so it runs the same inside and outside a transaction.
public protocol PostgresQueryable: Sendable {
    /// Runs one statement with `$1…$n` bound to `parameters` (nil is NULL).
    func query(_ sql: String, _ parameters: [(any PostgresBindable)?]) async throws -> PostgresRows
}

extension PostgresQueryable {
    public func query(_ sql: String) async throws -> PostgresRows {
        try await query(sql, [])
    }

    /// Runs one statement and returns the number of rows it affected.
    @discardableResult
    public func execute(_ sql: String, _ parameters: [(any PostgresBindable)?] = []) async throws -> Int {
        try await query(sql, parameters).affectedRows
    }

    /// `SELECT 1`: proves the server answers (the daemons check their database at startup).
    public func ping() async throws {
        _ = try await query("SELECT 1", [])
    }
}

/// One PostgreSQL session on libpq.
///
/// The connection owns a `BlockingThread` and every libpq call runs there, never on
/// Swift's cooperative pool. Statements from concurrent tasks are queued on it in order.
/// Cancelling the awaiting task cancels its statement on the server (`PQcancel`) and
/// throws `CancellationError`; a task already cancelled sends nothing.
///
/// Broken sessions (server restarted, backend terminated):
/// - Idle when it happened: the next statement notices the closed socket before
///   sending, opens a fresh session and runs there. Nothing fails.
/// - Mid-statement: that statement fails with a `.connection` error and is not retried
///   (it may have been executed); the next statement opens a fresh session.
/// - Inside a transaction: the failing statement and every later one throw
///   `.connection` until the caller issues `ROLLBACK` (answered without the server),
///   so the rest of a transaction never runs as autocommit statements on a new session.
/// - Server down: each statement makes one connection attempt and throws `.connection`.
public final class PostgresConnection: PostgresQueryable, CustomStringConvertible {
    public let configuration: PostgresConfiguration
    private let logger: Logger
    private let thread: BlockingThread
    private let core: ConnectionCore
    /// `core.status` as of the last operation, readable without a thread hop.
    private let statusSnapshot = Mutex(ConnectionCore.Status())
    private let isClosed = Atomic<Bool>(false)

    private static let sequence = Atomic<Int>(0)

    private init(configuration: PostgresConfiguration, logger: Logger) {
        var logger = logger
        logger[metadataKey: "pg_host"] = "\(configuration.host)"
        logger[metadataKey: "pg_port"] = "\(configuration.port)"
        logger[metadataKey: "pg_database"] = "\(configuration.database)"
        logger[metadataKey: "pg_user"] = "\(configuration.user)"
        self.configuration = configuration
        self.logger = logger
        let number = Self.sequence.add(1, ordering: .relaxed).newValue
        self.thread = BlockingThread(name: "pg-\(number)")
        self.core = ConnectionCore(configuration: configuration, logger: logger)
    }

    /// Opens a connection; throws a `.connection` error (without the password) on failure.
    public static func connect(_ configuration: PostgresConfiguration, logger: Logger) async throws -> PostgresConnection {
        let connection = PostgresConnection(configuration: configuration, logger: logger)
        do {
            try await connection.onThread(cancellable: false) { core in try core.open() }
        } catch {
            await connection.close()
            throw error
        }
        return connection
    }

    deinit {
        // Not closed by its owner: finish the session on its own thread and let it exit.
        let core = self.core
        thread.submit { core.finish() }
        thread.shutdown()
    }

    public var description: String { "PostgresConnection(\(configuration))" }

    // MARK: Statements

    /// Runs one statement with `$1…$n` parameters and returns its rows.
    public func query(_ sql: String, _ parameters: [(any PostgresBindable)?] = []) async throws -> PostgresRows {
        try await run(.parameterised(sql, parameters.map { $0?.postgresParameter ?? .null }), cancellable: true)
    }

    /// Runs one statement and returns the number of rows it affected.
    @discardableResult
    public func execute(_ sql: String, _ parameters: [(any PostgresBindable)?] = []) async throws -> Int {
        try await query(sql, parameters).affectedRows
    }

    /// Runs trusted, parameter-free SQL that may hold several `;`-separated statements
    /// (schema migrations). Never build its text from outside input.
    public func executeScript(_ sql: String) async throws {
        _ = try await run(.script(sql), cancellable: true)
    }

    /// Runs `body` inside BEGIN … COMMIT. Any error thrown by `body` (or by COMMIT) rolls
    /// back and is rethrown; the ROLLBACK runs even if the task was cancelled.
    public func withTransaction<T>(
        _ body: (PostgresConnection) async throws -> T
    ) async throws -> T {
        try await execute("BEGIN")
        do {
            let value = try await body(self)
            let commit = try await run(.parameterised("COMMIT", []), cancellable: false)
            // COMMIT of a transaction an earlier error aborted "succeeds" as ROLLBACK.
            if commit.commandTag == "ROLLBACK" {
                throw PostgresError(
                    kind: .query, sqlState: "25P02",
                    message: "the transaction was aborted by an earlier error and has been rolled back")
            }
            return value
        } catch {
            await rollback()
            throw error
        }
    }

    /// ROLLBACK whatever transaction is open, ignoring errors and cancellation (cleanup).
    func rollback() async {
        _ = try? await run(.parameterised("ROLLBACK", []), cancellable: false)
    }

    // MARK: State

    /// True when the session is up, outside any transaction and fit for another user
    /// (as of the last statement; a server that died since is noticed on the next one).
    public var isReusable: Bool {
        !isClosed.load(ordering: .acquiring) && statusSnapshot.withLock { $0.isReusable }
    }

    /// True while the last statement left a transaction open (or a lost one unacknowledged).
    public var isInTransaction: Bool {
        statusSnapshot.withLock { $0.transaction == .inTransaction || $0.transaction == .inFailedTransaction || $0.transactionLost }
    }

    /// The server process id of the current session (nil when disconnected).
    public func backendPID() async throws -> Int32? {
        try await onThread(cancellable: false) { core in core.backendPID }
    }

    /// Closes the session and stops the thread. Statements already queued finish first;
    /// later ones fail with a `.closed` error. Idempotent.
    public func close() async {
        guard !isClosed.exchange(true, ordering: .acquiringAndReleasing) else { return }
        let core = self.core
        _ = try? await thread.run { core.finish() }
        thread.shutdown()
        statusSnapshot.withLock { $0 = ConnectionCore.Status() }
        logger.debug("closed PostgreSQL connection")
    }

    // MARK: Plumbing

    private func run(_ statement: ConnectionCore.Statement, cancellable: Bool) async throws -> PostgresRows {
        if cancellable {
            try Task.checkCancellation()
            let ticket = QueryTicket()
            let result = try await withTaskCancellationHandler {
                try await onThread(cancellable: true) { core in try core.run(statement, ticket: ticket) }
            } onCancel: {
                ticket.cancel()
            }
            return PostgresRows(result: result)
        }
        let result = try await onThread(cancellable: false) { core in try core.run(statement, ticket: nil) }
        return PostgresRows(result: result)
    }

    /// Runs `body` on the connection's thread and publishes the status afterwards.
    private func onThread<T: Sendable>(
        cancellable: Bool, _ body: @escaping @Sendable (ConnectionCore) throws -> T
    ) async throws -> T {
        let core = self.core
        do {
            return try await thread.run { [self] in
                defer {
                    let status = core.status
                    statusSnapshot.withLock { $0 = status }
                }
                return try body(core)
            }
        } catch is BlockingThreadError {
            throw PostgresError(kind: .closed, message: "the connection is closed")
        }
    }
}
