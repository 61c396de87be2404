import BlockingIO
import Logging
import Synchronization

/// One Redis connection with a thread of its own for its blocking hiredis calls.
///
/// Safe to share: calls from several tasks run one after another on the connection's thread
/// (use `RedisClient` to run them side by side). The socket is opened on first use or by
/// `connect`. When it breaks (I/O error, EOF, timeout, cancellation) the failing call reports
/// the error (it may have run on the server, so it is never silently retried), and the next
/// call reconnects, with AUTH and SELECT, pausing 50 ms, 100 ms … up to 2 s between a bounded
/// number of attempts. A connection the server dropped while idle is replaced before sending.
///
/// Only blocking calls (`command(_:timeout:)`) are interrupted by cancelling the awaiting
/// task; an ordinary command runs to completion (it is bounded by the command timeout), so
/// that e.g. an acknowledgement is not left half-done by a shutdown.
public final class RedisConnection: Sendable {
    public let configuration: RedisConfiguration
    private let logger: Logger
    private let thread: BlockingThread
    /// Touched only on `thread`.
    private let context: HiredisContext
    private let state = Mutex(State())

    private struct State {
        var closed = false
        var nextGateID = 0
        /// Gates of blocking calls queued or running, fired by `close()`.
        var gates: [Int: InterruptGate] = [:]
    }

    /// A connection that connects on first use.
    public init(configuration: RedisConfiguration, logger: Logger) {
        self.configuration = configuration
        self.logger = logger
        self.thread = BlockingThread(name: "redis \(configuration.endpoint)")
        self.context = HiredisContext(configuration: configuration, logger: logger)
    }

    /// Opens a connection now (connect, AUTH, SELECT), retrying unreachable servers with backoff.
    public static func connect(_ configuration: RedisConfiguration, logger: Logger) async throws -> RedisConnection {
        let connection = RedisConnection(configuration: configuration, logger: logger)
        do {
            try await connection.perform(blockTimeout: nil) { _ in }
        } catch {
            await connection.close()
            throw error
        }
        return connection
    }

    deinit {
        // Nobody awaits here: free the socket on the thread and let the thread end.
        let context = self.context
        thread.submit { context.release() }
        thread.shutdown()
    }

    public var isClosed: Bool { state.withLock { $0.closed } }

    // MARK: Commands

    /// Runs one command. An error reply is thrown as `RedisError.server(text)`.
    ///
    ///     try await connection.command(["SET", key, bytes])
    public func command(_ arguments: [any RedisArgumentConvertible]) async throws -> RESPValue {
        try Self.throwingErrorReply(await rawCommand(arguments))
    }

    /// Runs a blocking command (`BLPOP`, `BLMOVE`, `BRPOPLPUSH` …) whose own block time is
    /// `timeout` (`.zero`: blocks until served, as in Redis). The socket waits that long plus
    /// the command timeout. Cancelling the awaiting task interrupts the call: it throws
    /// `RedisError.cancelled` and the connection reconnects on its next use.
    public func command(_ arguments: [any RedisArgumentConvertible], timeout: Duration) async throws -> RESPValue {
        try Self.throwingErrorReply(await rawCommand(arguments, timeout: timeout))
    }

    /// Like `command`, but an error reply is returned as `.error(text)` instead of thrown.
    /// With a `timeout` the call is a blocking one (see `command(_:timeout:)`).
    public func rawCommand(_ arguments: [any RedisArgumentConvertible], timeout: Duration? = nil) async throws -> RESPValue {
        let argv = arguments.map(\.redisArgumentBytes)
        return try await perform(blockTimeout: timeout) { context throws(RedisError) in
            try context.execute(argv)
        }
    }

    /// Sends all commands in one round trip and returns their replies in order; an error
    /// reply of one command is returned as `.error(text)` in its place.
    public func pipeline(_ commands: [[any RedisArgumentConvertible]]) async throws -> [RESPValue] {
        if commands.isEmpty { return [] }
        let argvs = commands.map { $0.map(\.redisArgumentBytes) }
        return try await perform(blockTimeout: nil) { context throws(RedisError) in
            try context.pipeline(argvs)
        }
    }

    /// Runs a Lua script with EVALSHA, sending its source with EVAL only when the server
    /// does not have it cached (`NOSCRIPT`, e.g. after a restart or SCRIPT FLUSH).
    public func evalScript(
        _ script: RedisScript,
        keys: [any RedisArgumentConvertible] = [],
        args: [any RedisArgumentConvertible] = []
    ) async throws -> RESPValue {
        let tail: [any RedisArgumentConvertible] = [keys.count] + keys + args
        let shaArgv = (["EVALSHA", script.sha1] + tail).map(\.redisArgumentBytes)
        let sourceArgv = (["EVAL", script.source] + tail).map(\.redisArgumentBytes)
        let reply = try await perform(blockTimeout: nil) { context throws(RedisError) in
            let reply = try context.execute(shaArgv)
            if case .error(let message) = reply, message.hasPrefix("NOSCRIPT") {
                return try context.execute(sourceArgv)
            }
            return reply
        }
        return try Self.throwingErrorReply(reply)
    }

    // MARK: Conveniences

    /// `PING`; throws unless the server answers `PONG`.
    public func ping() async throws {
        let reply = try await command(["PING"])
        guard reply.string == "PONG" else { throw RedisError.protocol("unexpected PING reply \(reply)") }
    }

    /// `PUBLISH channel message`; returns the number of subscribers that received it.
    @discardableResult
    public func publish(_ message: some RedisArgumentConvertible, to channel: String) async throws -> Int {
        try await command(["PUBLISH", channel, message]).int ?? 0
    }

    /// `BLMOVE source destination LEFT|RIGHT LEFT|RIGHT timeout`: the moved element, or nil
    /// when `timeout` passed with `source` empty.
    public func blmove(
        from source: String, to destination: String,
        sourceEnd: ListEnd = .left, destinationEnd: ListEnd = .right,
        timeout: Duration
    ) async throws -> [UInt8]? {
        let reply = try await command(
            ["BLMOVE", source, destination, sourceEnd.rawValue, destinationEnd.rawValue, timeout.redisSecondsArgument],
            timeout: timeout)
        return reply.bytes
    }

    /// `BRPOPLPUSH source destination timeout` (deprecated in Redis 6.2 but what curlyq v0.4.0 uses).
    public func brpoplpush(from source: String, to destination: String, timeout: Duration) async throws -> [UInt8]? {
        let reply = try await command(["BRPOPLPUSH", source, destination, timeout.redisSecondsArgument], timeout: timeout)
        return reply.bytes
    }

    public enum ListEnd: String, Sendable {
        case left = "LEFT"
        case right = "RIGHT"
    }

    // MARK: Closing

    /// Interrupts a blocking call in progress, lets queued calls fail with `RedisError.closed`
    /// and closes the socket. Idempotent.
    public func close() async {
        let gates: [InterruptGate]? = state.withLock { state in
            if state.closed { return nil }
            state.closed = true
            return Array(state.gates.values)
        }
        guard let gates else { return }
        for gate in gates { gate.fire() }
        let context = self.context
        _ = try? await thread.run { context.release() }
        thread.shutdown()
    }

    // MARK: Running calls on the thread

    private enum Outcome<T: Sendable>: Sendable {
        case done(T)
        case notConnected(ConnectFailure)
    }

    /// Runs `body` on the connection's thread with a usable context. A failed connection
    /// attempt is retried with backoff (nothing was sent yet); a failure of `body` is not.
    private func perform<T: Sendable>(
        blockTimeout: Duration?,
        _ body: @escaping @Sendable (HiredisContext) throws(RedisError) -> T
    ) async throws -> T {
        var attempt = 0
        while true {
            let pause = configuration.reconnectPause(beforeAttempt: attempt)
            if pause > .zero {
                do { try await Task.sleep(for: pause) } catch { throw RedisError.cancelled }
            }
            let outcome: Outcome<T>
            if let blockTimeout {
                outcome = try await runInterruptible(blockTimeout: blockTimeout, body)
            } else {
                outcome = try await runOnThread { context throws(RedisError) -> Outcome<T> in
                    if let failure = Self.ensureConnected(context) { return .notConnected(failure) }
                    return .done(try body(context))
                }
            }
            switch outcome {
            case .done(let value):
                return value
            case .notConnected(let failure):
                attempt += 1
                if !failure.retryable || attempt >= configuration.reconnectAttempts {
                    throw failure.error
                }
                logger.debug("redis connection attempt failed; retrying", metadata: [
                    "redis": "\(configuration.endpoint)", "attempt": "\(attempt)", "error": "\(failure.error)",
                ])
            }
        }
    }

    /// A blocking call: longer socket timeout, and an interrupt gate fired by cancellation
    /// of the awaiting task or by `close()`.
    private func runInterruptible<T: Sendable>(
        blockTimeout: Duration,
        _ body: @escaping @Sendable (HiredisContext) throws(RedisError) -> T
    ) async throws -> Outcome<T> {
        let gate = InterruptGate()
        let gateID: Int? = state.withLock { state in
            if state.closed { return nil }
            state.nextGateID += 1
            state.gates[state.nextGateID] = gate
            return state.nextGateID
        }
        guard let gateID else { throw RedisError.closed }
        defer { _ = state.withLock { $0.gates.removeValue(forKey: gateID) } }

        let commandTimeout = configuration.commandTimeout
        let socketTimeout: Duration? = blockTimeout > .zero ? blockTimeout + commandTimeout : nil
        return try await withTaskCancellationHandler {
            try await runOnThread { context throws(RedisError) -> Outcome<T> in
                if let failure = Self.ensureConnected(context) { return .notConnected(failure) }
                guard let fd = context.fileDescriptor, gate.arm(fileDescriptor: fd) else {
                    throw RedisError.cancelled
                }
                context.setTimeout(socketTimeout)
                let result = Result { () throws(RedisError) -> T in try body(context) }
                gate.disarm()
                if gate.hasFired {
                    // The socket was shut down: useless now even if the reply made it.
                    context.markBroken()
                } else if context.isUsable {
                    context.setTimeout(commandTimeout)
                }
                switch result {
                case .success(let value):
                    // A reply that arrived is delivered even if cancellation raced with it:
                    // the command ran (a BLMOVE moved an element), so dropping it would lose data.
                    return .done(value)
                case .failure(let error):
                    throw gate.hasFired ? RedisError.cancelled : error
                }
            }
        } onCancel: {
            gate.fire()
        }
    }

    private func runOnThread<T: Sendable>(
        _ body: @escaping @Sendable (HiredisContext) throws(RedisError) -> T
    ) async throws -> T {
        if isClosed { throw RedisError.closed }
        let context = self.context
        do {
            return try await thread.run {
                // Queued before `close()` but run after it: don't open a new socket.
                if self.isClosed { throw RedisError.closed }
                return try body(context)
            }
        } catch is BlockingThreadError {
            throw RedisError.closed
        }
    }

    /// Connects if the context is missing, broken, or was dropped by the server while idle.
    private static func ensureConnected(_ context: HiredisContext) -> ConnectFailure? {
        if context.isUsable && !context.peerHungUpWhileIdle() { return nil }
        do {
            try context.open()
            return nil
        } catch {
            return error
        }
    }

    static func throwingErrorReply(_ reply: RESPValue) throws -> RESPValue {
        if case .error(let message) = reply { throw RedisError.server(message) }
        return reply
    }
}
