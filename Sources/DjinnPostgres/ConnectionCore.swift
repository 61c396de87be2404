import CLibPQ
import Foundation
import Logging

/// The libpq side of one connection. Every method runs on the owning connection's
/// `BlockingThread` and nowhere else, which is what makes the unchecked `Sendable` sound:
/// the mutable fields below are confined to that one thread.
final class ConnectionCore: @unchecked Sendable {
    let configuration: PostgresConfiguration
    let logger: Logger
    private var connection: OpaquePointer?
    private var cancelHandle: CancelHandle?
    private var hasConnectedBefore = false
    /// The session died while a transaction was open. Until the caller says ROLLBACK,
    /// every statement fails: running it on a fresh session would silently turn the rest
    /// of the transaction into autocommit statements.
    private(set) var transactionLost = false

    init(configuration: PostgresConfiguration, logger: Logger) {
        self.configuration = configuration
        self.logger = logger
    }

    deinit { finish() }

    // MARK: Connecting

    /// Opens a fresh session (dropping any previous one).
    func open() throws(PostgresError) {
        drop()
        let reconnecting = hasConnectedBefore
        logger.debug(reconnecting ? "reconnecting to PostgreSQL" : "connecting to PostgreSQL")
        let parameters = configuration.connectionParameters
        let keywords = parameters.map { strdup($0.keyword) }
        let values = parameters.map { strdup($0.value) }
        defer {
            keywords.forEach { free($0) }
            values.forEach { free($0) }
        }
        var keywordList = keywords.map { UnsafePointer<CChar>($0) } + [nil]
        var valueList = values.map { UnsafePointer<CChar>($0) } + [nil]
        // expand_dbname = 0: the database name is only ever a name, never a connection string.
        let opened: OpaquePointer? = keywordList.withUnsafeMutableBufferPointer { keywordBuffer in
            valueList.withUnsafeMutableBufferPointer { valueBuffer in
                PQconnectdbParams(keywordBuffer.baseAddress, valueBuffer.baseAddress, 0)
            }
        }
        guard let opened else {
            throw PostgresError(kind: .connection, message: "out of memory allocating a libpq connection")
        }
        guard PQstatus(opened) == CONNECTION_OK else {
            let message = Self.errorMessage(of: opened)
            PQfinish(opened)
            let error = PostgresError(kind: .connection, message: message).scrubbed(of: configuration.password)
            logger.debug("connecting to PostgreSQL failed", metadata: ["error": "\(error.message)"])
            throw error
        }
        connection = opened
        PQsetNoticeReceiver(opened, noticeReceiver, Unmanaged.passUnretained(self).toOpaque())
        cancelHandle = PQgetCancel(opened).map(CancelHandle.init)
        hasConnectedBefore = true
        let pid = PQbackendPID(opened)
        if reconnecting {
            logger.info("reconnected to PostgreSQL", metadata: ["backend_pid": "\(pid)"])
        } else {
            logger.debug("connected to PostgreSQL", metadata: ["backend_pid": "\(pid)"])
        }
    }

    /// Closes the session for good (idempotent).
    func finish() {
        drop()
        transactionLost = false
    }

    private func drop() {
        if let connection { PQfinish(connection) }
        connection = nil
        cancelHandle = nil
    }

    // MARK: Status

    struct Status: Sendable, Equatable {
        var connected = false
        var transaction: TransactionStatus = .unknown
        var transactionLost = false
        /// Connected, no transaction open and none lost: fit to hand to another user.
        var isReusable: Bool { connected && transaction == .idle && !transactionLost }
    }

    enum TransactionStatus: Sendable, Equatable {
        case idle, active, inTransaction, inFailedTransaction, unknown
    }

    var status: Status {
        Status(connected: isConnected, transaction: transactionStatus, transactionLost: transactionLost)
    }

    private var isConnected: Bool {
        guard let connection else { return false }
        return PQstatus(connection) == CONNECTION_OK
    }

    private var transactionStatus: TransactionStatus {
        guard let connection else { return .unknown }
        switch PQtransactionStatus(connection) {
        case PQTRANS_IDLE: return .idle
        case PQTRANS_ACTIVE: return .active
        case PQTRANS_INTRANS: return .inTransaction
        case PQTRANS_INERROR: return .inFailedTransaction
        default: return .unknown
        }
    }

    var backendPID: Int32? {
        guard let connection, isConnected else { return nil }
        return PQbackendPID(connection)
    }

    // MARK: Running statements

    enum Statement {
        /// One statement with `$n` parameters (extended protocol, `PQexecParams`).
        case parameterised(String, [PostgresParameter])
        /// Any number of `;`-separated statements without parameters (`PQexec`).
        case script(String)

        var sql: String {
            switch self {
            case .parameterised(let sql, _), .script(let sql): return sql
            }
        }
    }

    /// Runs `statement`, reconnecting first if the session is known to be gone.
    ///
    /// Reconnection policy:
    /// - Before sending, an idle session's socket is polled. A server that restarted or
    ///   terminated our backend has closed it, so libpq sees EOF and we open a fresh
    ///   session *before* the statement leaves: after a server restart the first
    ///   autocommit statement normally just works, and nothing ran twice.
    /// - A statement that fails *after* it was sent (the server went away mid-flight)
    ///   is never retried: it may have run (an INSERT may be committed), so the caller
    ///   gets a `.connection` error and the session is dropped; the next call reconnects.
    /// - If the session was inside a transaction, no reconnect happens silently: the
    ///   statement fails, and so does every later one until the caller issues ROLLBACK
    ///   (answered locally), because the server already rolled the transaction back.
    func run(_ statement: Statement, ticket: QueryTicket?) throws -> PostgresResult {
        if transactionLost {
            if Self.isPlainRollback(statement.sql) {
                transactionLost = false
                return PostgresResult(commandTag: "ROLLBACK")
            }
            throw Self.transactionLostError
        }
        try ensureLiveSession()
        guard let connection else { throw PostgresError(kind: .connection, message: "not connected") }

        let transactionBefore = transactionStatus
        if let ticket, !ticket.begin(cancelHandle: cancelHandle) { throw CancellationError() }
        let raw: OpaquePointer?
        do {
            defer { ticket?.end() }
            raw = try send(statement, on: connection)
        }
        let cancelRequested = ticket?.cancelRequested ?? false

        guard let raw else {
            // libpq returns no result only when it could not even build one.
            let error = failure(of: nil, transactionBefore: transactionBefore)
            throw error
        }
        switch PQresultStatus(raw) {
        case PGRES_COMMAND_OK, PGRES_TUPLES_OK, PGRES_EMPTY_QUERY:
            return PostgresResult(taking: raw)
        case PGRES_COPY_IN, PGRES_COPY_OUT, PGRES_COPY_BOTH:
            PQclear(raw)
            // The session is now mid-COPY; a fresh one is simpler than unwinding it.
            drop()
            if transactionBefore == .inTransaction || transactionBefore == .inFailedTransaction { transactionLost = true }
            throw PostgresError(kind: .query, message: "COPY is not supported by this client")
        default:
            let error = failure(of: raw, transactionBefore: transactionBefore)
            PQclear(raw)
            if cancelRequested && error.sqlState == PostgresError.queryCanceled { throw CancellationError() }
            throw error
        }
    }

    private func send(_ statement: Statement, on connection: OpaquePointer) throws(PostgresError) -> OpaquePointer? {
        switch statement {
        case .script(let sql):
            return PQexec(connection, sql)
        case .parameterised(let sql, let parameters):
            let count = parameters.count
            var types = [Oid](repeating: 0, count: count)
            var lengths = [Int32](repeating: 0, count: count)
            var formats = [Int32](repeating: 0, count: count)
            var buffers: [UnsafeMutablePointer<UInt8>?] = []
            buffers.reserveCapacity(count)
            defer { buffers.forEach { $0?.deallocate() } }
            for (index, parameter) in parameters.enumerated() {
                types[index] = parameter.type?.rawValue ?? 0
                switch parameter.value {
                case .null:
                    buffers.append(nil)
                case .text(let text):
                    var bytes = Array(text.utf8)
                    if bytes.contains(0) {
                        throw PostgresError(
                            kind: .query, message: "parameter $\(index + 1) contains a NUL byte, which text cannot hold")
                    }
                    bytes.append(0)
                    let buffer = UnsafeMutablePointer<UInt8>.allocate(capacity: bytes.count)
                    buffer.initialize(from: bytes, count: bytes.count)
                    buffers.append(buffer)
                    lengths[index] = Int32(bytes.count - 1)
                case .binary(let bytes):
                    // A zero-length buffer still needs a non-NULL pointer (NULL means SQL NULL).
                    let buffer = UnsafeMutablePointer<UInt8>.allocate(capacity: max(1, bytes.count))
                    buffer.initialize(from: bytes, count: bytes.count)
                    buffers.append(buffer)
                    lengths[index] = Int32(bytes.count)
                    formats[index] = 1
                }
            }
            var values: [UnsafePointer<CChar>?] = buffers.map { $0.map { UnsafeRawPointer($0).assumingMemoryBound(to: CChar.self) } }
            return PQexecParams(connection, sql, Int32(count), &types, &values, &lengths, &formats, 0)
        }
    }

    /// Makes sure a live session exists before a statement is sent (see `run`).
    private func ensureLiveSession() throws(PostgresError) {
        guard let connection else {
            try open()
            return
        }
        // Read before probing: libpq reports PQTRANS_UNKNOWN once the connection is bad.
        let transactionBefore = transactionStatus
        if PQstatus(connection) == CONNECTION_OK && !peerHasHungUp(connection) { return }
        // The session is gone. Was a transaction open on it?
        let wasInTransaction = transactionBefore == .inTransaction || transactionBefore == .inFailedTransaction
        logger.info(
            "PostgreSQL session lost",
            metadata: ["error": "\(PostgresError.scrub(Self.errorMessage(of: connection), secret: configuration.password))"])
        drop()
        if wasInTransaction {
            transactionLost = true
            throw Self.transactionLostError
        }
        try open()
    }

    /// True when an idle session's socket already has the server's goodbye on it (a
    /// FATAL message, then EOF): reading it makes libpq mark the connection bad. An idle
    /// session has nothing else to expect but the odd notice or notification, so reading
    /// whatever is there never takes a reply away from a statement.
    private func peerHasHungUp(_ connection: OpaquePointer) -> Bool {
        // One read may return the FATAL message and only the next one the EOF.
        for _ in 0..<8 {
            let socket = PQsocket(connection)
            guard socket >= 0 else { return true }
            var descriptor = pollfd(fd: socket, events: Int16(POLLIN), revents: 0)
            guard poll(&descriptor, 1, 0) > 0 else { return false }
            if PQconsumeInput(connection) == 0 { return true }
            while let notification = PQnotifies(connection) { PQfreemem(notification) }
            if PQstatus(connection) != CONNECTION_OK { return true }
        }
        return false
    }

    /// Builds the error for a failed statement and drops the session if it is gone.
    private func failure(of result: OpaquePointer?, transactionBefore: TransactionStatus) -> PostgresError {
        func field(_ code: Character) -> String? {
            guard let result, let value = PQresultErrorField(result, Int32(code.asciiValue!)) else { return nil }
            return String(cString: value)
        }
        let sqlState = field("C")
        let message = field("M") ?? (connection.map(Self.errorMessage(of:)) ?? "unknown error")
        let broken = !isConnected || PostgresError.isConnectionFailure(sqlState: sqlState)
        let error = PostgresError(
            kind: broken ? .connection : .query, sqlState: sqlState, message: message,
            detail: field("D"), hint: field("H"), constraint: field("n")
        ).scrubbed(of: configuration.password)
        if broken {
            logger.info("PostgreSQL session lost", metadata: ["error": "\(error.message)"])
            drop()
            if transactionBefore == .inTransaction || transactionBefore == .inFailedTransaction {
                transactionLost = true
            }
        }
        return error
    }

    static let transactionLostError = PostgresError(
        kind: .connection, sqlState: "08006",
        message: "the connection was lost inside a transaction, which the server has rolled back; "
            + "issue ROLLBACK before running anything else")

    /// `ROLLBACK`, `ABORT` (optionally `WORK`/`TRANSACTION`, optionally `;`), but not
    /// `ROLLBACK TO SAVEPOINT` or `ROLLBACK PREPARED`.
    static func isPlainRollback(_ sql: String) -> Bool {
        var text = sql.trimmingCharacters(in: .whitespacesAndNewlines).lowercased()
        while text.hasSuffix(";") { text = String(text.dropLast()).trimmingCharacters(in: .whitespacesAndNewlines) }
        let words = text.split(whereSeparator: { $0.isWhitespace })
        guard let first = words.first, first == "rollback" || first == "abort" else { return false }
        return words.count == 1 || (words.count == 2 && (words[1] == "work" || words[1] == "transaction"))
    }

    static func errorMessage(of connection: OpaquePointer) -> String {
        guard let text = PQerrorMessage(connection) else { return "unknown error" }
        let message = String(cString: text).trimmingCharacters(in: .whitespacesAndNewlines)
        return message.isEmpty ? "unknown error" : message
    }
}

/// Routes server notices (`NOTICE`, `WARNING`, a FATAL read while idle) to the logger
/// instead of libpq's default of printing them on stderr.
private let noticeReceiver: PQnoticeReceiver = { argument, result in
    guard let argument, let result else { return }
    let core = Unmanaged<ConnectionCore>.fromOpaque(argument).takeUnretainedValue()
    let severity = PQresultErrorField(result, Int32(Character("V").asciiValue!)).map { String(cString: $0) } ?? "NOTICE"
    let message = PQresultErrorField(result, Int32(Character("M").asciiValue!)).map { String(cString: $0) } ?? ""
    core.logger.debug(
        "PostgreSQL notice",
        metadata: ["severity": "\(severity)", "message": "\(PostgresError.scrub(message, secret: core.configuration.password))"])
}

/// A `PGcancel`: lets another thread ask the server to cancel the running statement.
/// Reference-counted so a cancel in flight keeps it alive past a reconnect.
final class CancelHandle: @unchecked Sendable {
    // PQcancel is documented thread-safe; the handle is never mutated after creation.
    private let pointer: OpaquePointer

    init(_ pointer: OpaquePointer) { self.pointer = pointer }
    deinit { PQfreeCancel(pointer) }

    /// Sends a cancel request (a new short connection to the server: blocks).
    func cancel() {
        var buffer = [CChar](repeating: 0, count: 256)
        _ = PQcancel(pointer, &buffer, Int32(buffer.count))
    }
}

/// Tracks one statement for cancellation from the awaiting task.
///
/// The task's cancellation handler may fire before the statement starts (it is then
/// skipped), while it runs (a cancel request is sent), or after it ended (nothing). The
/// lock makes "still running" and "send the cancel" one step, so a late handler cannot
/// cancel the *next* statement on the connection.
final class QueryTicket: @unchecked Sendable {
    private enum State {
        case pending, running(CancelHandle?), finished, cancelledBeforeStart
    }

    private let lock = NSLock()
    private var state = State.pending
    private var requested = false

    /// Called on the connection thread before sending; false if already cancelled.
    func begin(cancelHandle: CancelHandle?) -> Bool {
        lock.lock()
        defer { lock.unlock() }
        if case .cancelledBeforeStart = state { return false }
        state = .running(cancelHandle)
        return true
    }

    /// Called on the connection thread once the statement returned.
    func end() {
        lock.lock()
        state = .finished
        lock.unlock()
    }

    var cancelRequested: Bool {
        lock.lock()
        defer { lock.unlock() }
        return requested
    }

    /// Called from the task's cancellation handler (any thread; must not block).
    func cancel() {
        lock.lock()
        requested = true
        switch state {
        case .pending:
            state = .cancelledBeforeStart
            lock.unlock()
        case .running:
            lock.unlock()
            // PQcancel connects to the server: do it on a thread of its own, never on the
            // cancelling task's (cooperative) thread.
            Thread.detachNewThread { [self] in self.sendCancelIfStillRunning() }
        case .finished, .cancelledBeforeStart:
            lock.unlock()
        }
    }

    private func sendCancelIfStillRunning() {
        lock.lock()
        defer { lock.unlock() }
        if case .running(let handle) = state { handle?.cancel() }
    }
}
