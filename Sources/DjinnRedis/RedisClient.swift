import Logging
import Synchronization

/// A small bounded pool of `RedisConnection`s for ordinary commands, so that concurrent
/// callers don't queue behind one socket. Connections are opened on first use and kept.
///
/// Long blocking commands (`BLMOVE … 5`) hold a pooled connection for their whole block
/// time; a loop that blocks all the time should use a connection of its own
/// (`makeConnection()`), and pub/sub uses `makeSubscriber()`.
public final class RedisClient: Sendable {
    public let configuration: RedisConfiguration
    public let maximumConnections: Int
    private let logger: Logger
    private let pool = Mutex(Pool())

    private struct Pool {
        var idle: [RedisConnection] = []
        var opened = 0
        var waiters: [(id: Int, continuation: CheckedContinuation<RedisConnection, Error>)] = []
        /// Callers between taking an id and queueing (or being served), and those of them
        /// whose task was cancelled meanwhile.
        var registering: Set<Int> = []
        var cancelledWhileRegistering: Set<Int> = []
        var nextWaiterID = 0
        var closed = false
    }

    public init(configuration: RedisConfiguration, logger: Logger, maximumConnections: Int = 4) {
        self.configuration = configuration
        self.logger = logger
        self.maximumConnections = max(1, maximumConnections)
    }

    /// A client whose first connection is opened (and authenticated) now, so a wrong address
    /// or password is reported at startup.
    public static func connect(_ configuration: RedisConfiguration, logger: Logger, maximumConnections: Int = 4) async throws -> RedisClient {
        let client = RedisClient(configuration: configuration, logger: logger, maximumConnections: maximumConnections)
        do {
            try await client.ping()
        } catch {
            await client.close()
            throw error
        }
        return client
    }

    // MARK: Commands on a pooled connection

    /// See `RedisConnection.command(_:)`.
    public func command(_ arguments: [any RedisArgumentConvertible]) async throws -> RESPValue {
        try await withConnection { try await $0.command(arguments) }
    }

    /// See `RedisConnection.command(_:timeout:)`.
    public func command(_ arguments: [any RedisArgumentConvertible], timeout: Duration) async throws -> RESPValue {
        try await withConnection { try await $0.command(arguments, timeout: timeout) }
    }

    /// See `RedisConnection.rawCommand(_:timeout:)`.
    public func rawCommand(_ arguments: [any RedisArgumentConvertible], timeout: Duration? = nil) async throws -> RESPValue {
        try await withConnection { try await $0.rawCommand(arguments, timeout: timeout) }
    }

    /// See `RedisConnection.pipeline(_:)`.
    public func pipeline(_ commands: [[any RedisArgumentConvertible]]) async throws -> [RESPValue] {
        try await withConnection { try await $0.pipeline(commands) }
    }

    /// See `RedisConnection.evalScript(_:keys:args:)`.
    public func evalScript(
        _ script: RedisScript,
        keys: [any RedisArgumentConvertible] = [],
        args: [any RedisArgumentConvertible] = []
    ) async throws -> RESPValue {
        try await withConnection { try await $0.evalScript(script, keys: keys, args: args) }
    }

    public func ping() async throws {
        try await withConnection { try await $0.ping() }
    }

    @discardableResult
    public func publish(_ message: some RedisArgumentConvertible, to channel: String) async throws -> Int {
        try await withConnection { try await $0.publish(message, to: channel) }
    }

    /// Runs `body` with a connection of the pool to itself (for WATCH or several commands in a
    /// row), waiting for one to be free if all are in use. If the server drops the connection
    /// between two commands, the second one runs on a new connection; a MULTI … EXEC block is
    /// therefore best sent as one `pipeline`.
    public func withConnection<T>(
        isolation: isolated (any Actor)? = #isolation,
        _ body: (RedisConnection) async throws -> T
    ) async throws -> T {
        let connection = try await acquire()
        defer { release(connection) }
        return try await body(connection)
    }

    // MARK: Connections outside the pool

    /// A new connection of the caller's own (e.g. for a loop of blocking pops); the caller closes it.
    public func makeConnection() -> RedisConnection {
        RedisConnection(configuration: configuration, logger: logger)
    }

    /// A new pub/sub subscriber on a connection of its own; the caller closes it.
    public func makeSubscriber() -> RedisSubscriber {
        RedisSubscriber(configuration: configuration, logger: logger)
    }

    // MARK: Closing

    /// Closes idle connections now and the others as they are returned; waiting and later
    /// calls fail with `RedisError.closed`.
    public func close() async {
        let (idle, waiters) = pool.withLock { pool in
            pool.closed = true
            defer { pool.idle = []; pool.waiters = [] }
            return (pool.idle, pool.waiters)
        }
        for waiter in waiters { waiter.continuation.resume(throwing: RedisError.closed) }
        for connection in idle { await connection.close() }
    }

    // MARK: Pool bookkeeping

    private enum Decision {
        case use(RedisConnection)
        case open
        case queued
        case fail(RedisError)
    }

    private func acquire() async throws -> RedisConnection {
        let id: Int = try pool.withLock { pool in
            if pool.closed { throw RedisError.closed }
            pool.nextWaiterID += 1
            pool.registering.insert(pool.nextWaiterID)
            return pool.nextWaiterID
        }
        return try await withTaskCancellationHandler {
            try await withCheckedThrowingContinuation { (continuation: CheckedContinuation<RedisConnection, Error>) in
                let decision: Decision = pool.withLock { pool in
                    pool.registering.remove(id)
                    if pool.cancelledWhileRegistering.remove(id) != nil { return .fail(.cancelled) }
                    if pool.closed { return .fail(.closed) }
                    if let connection = pool.idle.popLast() { return .use(connection) }
                    if pool.opened < maximumConnections {
                        pool.opened += 1
                        return .open
                    }
                    pool.waiters.append((id, continuation))
                    return .queued
                }
                switch decision {
                case .use(let connection): continuation.resume(returning: connection)
                case .open: continuation.resume(returning: RedisConnection(configuration: configuration, logger: logger))
                case .queued: break  // `release` or `close` resumes it
                case .fail(let error): continuation.resume(throwing: error)
                }
            }
        } onCancel: {
            let waiter: CheckedContinuation<RedisConnection, Error>? = pool.withLock { pool in
                if let index = pool.waiters.firstIndex(where: { $0.id == id }) {
                    return pool.waiters.remove(at: index).continuation
                }
                // Cancelled before the waiter was queued: it gives up when it gets there.
                if pool.registering.contains(id) { pool.cancelledWhileRegistering.insert(id) }
                return nil
            }
            waiter?.resume(throwing: RedisError.cancelled)
        }
    }

    private func release(_ connection: RedisConnection) {
        enum Next {
            case handOver(CheckedContinuation<RedisConnection, Error>)
            case keep
            case close
        }
        let next: Next = pool.withLock { pool in
            if pool.closed || connection.isClosed {
                pool.opened -= 1
                return .close
            }
            if !pool.waiters.isEmpty { return .handOver(pool.waiters.removeFirst().continuation) }
            pool.idle.append(connection)
            return .keep
        }
        switch next {
        case .handOver(let waiter): waiter.resume(returning: connection)
        case .keep: break
        case .close: Task { await connection.close() }
        }
    }
}
