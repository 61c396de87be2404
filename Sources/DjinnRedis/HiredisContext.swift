import CHiredis
import Logging

#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// Why opening a connection failed, and whether trying again later may help.
struct ConnectFailure: Error {
    var error: RedisError
    /// I/O failures (refused, reset, timeout) are worth retrying; a rejected AUTH or SELECT is not.
    var retryable: Bool
}

/// One hiredis `redisContext` in blocking mode.
///
/// Not thread-safe: its owner calls it only from one dedicated thread. After an I/O, EOF or
/// protocol error hiredis leaves the context unusable, so it is marked broken and the owner
/// opens a fresh one before the next command.
final class HiredisContext: @unchecked Sendable {
    private let configuration: RedisConfiguration
    private let logger: Logger
    private var context: UnsafeMutablePointer<redisContext>?
    private(set) var isBroken = false
    /// Whether a connection was ever established (distinguishes connect from reconnect in logs).
    private var hasConnected = false

    init(configuration: RedisConfiguration, logger: Logger) {
        self.configuration = configuration
        self.logger = logger
    }

    deinit { release() }

    var isUsable: Bool { context != nil && !isBroken }

    var fileDescriptor: Int32? { context.map { $0.pointee.fd } }

    func markBroken() { isBroken = true }

    /// Frees the hiredis context (closing its socket).
    func release() {
        if let context { redisFree(context) }
        context = nil
    }

    // MARK: Connecting

    /// Drops any old context and connects, authenticates and selects the database.
    func open() throws(ConnectFailure) {
        release()
        isBroken = false
        Self.blockSIGPIPEOnThisThread()
        let endpoint = configuration.endpoint
        let connectTimeout = Self.timeval(configuration.connectTimeout)
        let opened: UnsafeMutablePointer<redisContext>?
        switch endpoint {
        case .tcp(let host, let port):
            opened = redisConnectWithTimeout(host, Int32(port), connectTimeout)
        case .unixSocket(let path):
            opened = redisConnectUnixWithTimeout(path, connectTimeout)
        }
        guard let opened else {
            throw ConnectFailure(error: .connection("\(endpoint): cannot allocate a connection"), retryable: true)
        }
        if opened.pointee.err != 0 {
            let message = Self.errorString(opened)
            redisFree(opened)
            throw ConnectFailure(error: .connection("cannot connect to \(endpoint): \(message)"), retryable: true)
        }
        context = opened
        setTimeout(configuration.commandTimeout)

        do {
            if !configuration.password.isEmpty {
                try handshake(["AUTH", configuration.password], what: "authentication")
            }
            if configuration.database != 0 {
                try handshake(["SELECT", String(configuration.database)], what: "SELECT \(configuration.database)")
            }
        } catch {
            release()
            throw error
        }

        if hasConnected {
            logger.info("reconnected to redis", metadata: ["redis": "\(endpoint)"])
        } else {
            logger.debug("connected to redis", metadata: ["redis": "\(endpoint)", "db": "\(configuration.database)"])
        }
        hasConnected = true
    }

    private func handshake(_ argv: [String], what: String) throws(ConnectFailure) {
        let reply: RESPValue
        do {
            reply = try execute(argv.map { Array($0.utf8) })
        } catch {
            throw ConnectFailure(error: .connection("\(configuration.endpoint): \(what) failed: \(error.reasonText)"), retryable: true)
        }
        if case .error(let message) = reply {
            // The server's text (WRONGPASS …, NOAUTH …) never echoes the password.
            throw ConnectFailure(error: .connection("\(configuration.endpoint): \(what) failed: \(message)"), retryable: false)
        }
    }

    /// Sets the socket read and write timeout; nil blocks without limit.
    func setTimeout(_ timeout: Duration?) {
        guard let context else { return }
        _ = redisSetTimeout(context, Self.timeval(timeout ?? .zero))
    }

    /// True when the server closed the idle connection (or sent something unasked): checked
    /// before sending, so a connection dropped by a server restart is replaced without risk.
    func peerHungUpWhileIdle() -> Bool {
        guard let fd = fileDescriptor else { return false }
        var entry = pollfd(fd: fd, events: Int16(POLLIN), revents: 0)
        return poll(&entry, 1, 0) > 0
    }

    // MARK: Commands

    /// Sends one command and waits for its reply. Error replies are returned as `.error`.
    func execute(_ argv: [[UInt8]]) throws(RedisError) -> RESPValue {
        guard let context, !isBroken else { throw RedisError.connection("\(configuration.endpoint): not connected") }
        let raw = Self.withArgv(argv) { argc, pointers, lengths in
            redisCommandArgv(context, argc, pointers, lengths)
        }
        guard let raw else { throw failure() }
        defer { freeReplyObject(raw) }
        return Self.value(of: raw.assumingMemoryBound(to: redisReply.self))
    }

    /// Sends all commands in one write, then reads one reply per command.
    func pipeline(_ commands: [[[UInt8]]]) throws(RedisError) -> [RESPValue] {
        guard let context, !isBroken else { throw RedisError.connection("\(configuration.endpoint): not connected") }
        for argv in commands {
            let status = Self.withArgv(argv) { argc, pointers, lengths in
                redisAppendCommandArgv(context, argc, pointers, lengths)
            }
            if status != REDIS_OK { throw failure() }
        }
        var replies: [RESPValue] = []
        replies.reserveCapacity(commands.count)
        for _ in commands {
            guard let reply = try nextReply() else { throw failure() }
            replies.append(reply)
        }
        return replies
    }

    /// Reads (blocking) the next reply; nil only together with a context error.
    private func nextReply() throws(RedisError) -> RESPValue? {
        guard let context else { throw RedisError.connection("\(configuration.endpoint): not connected") }
        var raw: UnsafeMutableRawPointer?
        guard redisGetReply(context, &raw) == REDIS_OK, let raw else { return nil }
        defer { freeReplyObject(raw) }
        return Self.value(of: raw.assumingMemoryBound(to: redisReply.self))
    }

    // MARK: Non-blocking use (pub/sub loop)

    /// Queues a command in the output buffer without sending it.
    func append(_ argv: [[UInt8]]) throws(RedisError) {
        guard let context, !isBroken else { throw RedisError.connection("\(configuration.endpoint): not connected") }
        let status = Self.withArgv(argv) { argc, pointers, lengths in
            redisAppendCommandArgv(context, argc, pointers, lengths)
        }
        if status != REDIS_OK { throw failure() }
    }

    /// Writes the whole output buffer.
    func flush() throws(RedisError) {
        guard let context else { throw RedisError.connection("\(configuration.endpoint): not connected") }
        var done: Int32 = 0
        while done == 0 {
            if redisBufferWrite(context, &done) != REDIS_OK { throw failure() }
        }
    }

    /// Reads what the socket has (call when poll reports it readable).
    func readAvailable() throws(RedisError) {
        guard let context else { throw RedisError.connection("\(configuration.endpoint): not connected") }
        if redisBufferRead(context) != REDIS_OK { throw failure() }
    }

    /// The next complete reply already read, without touching the socket.
    func bufferedReply() throws(RedisError) -> RESPValue? {
        guard let context else { throw RedisError.connection("\(configuration.endpoint): not connected") }
        var raw: UnsafeMutableRawPointer?
        if redisGetReplyFromReader(context, &raw) != REDIS_OK { throw failure() }
        guard let raw else { return nil }
        defer { freeReplyObject(raw) }
        return Self.value(of: raw.assumingMemoryBound(to: redisReply.self))
    }

    // MARK: Helpers

    /// Classifies the context's error and marks the context broken.
    private func failure() -> RedisError {
        isBroken = true
        guard let context else { return .connection("\(configuration.endpoint): not connected") }
        let message = Self.errorString(context)
        switch context.pointee.err {
        case REDIS_ERR_IO:
            if message == Self.timeoutErrorText { return .timeout }
            return .connection("\(configuration.endpoint): \(message)")
        case REDIS_ERR_EOF:
            return .connection("\(configuration.endpoint): server closed the connection")
        case REDIS_ERR_PROTOCOL:
            return .protocol(message)
        default:
            return .connection("\(configuration.endpoint): \(message)")
        }
    }

    /// hiredis reports a socket timeout as an I/O error with `strerror(EAGAIN)`.
    private static let timeoutErrorText = String(cString: strerror(EAGAIN))

    private static func errorString(_ context: UnsafeMutablePointer<redisContext>) -> String {
        withUnsafeBytes(of: context.pointee.errstr) { bytes in
            let text = bytes.prefix { $0 != 0 }
            return String(decoding: text, as: UTF8.self)
        }
    }

    private static func timeval(_ duration: Duration) -> timeval {
        let (seconds, attoseconds) = duration.components
        var value = CHiredis.timeval()
        value.tv_sec = .init(max(0, seconds))
        value.tv_usec = .init(max(0, attoseconds / 1_000_000_000_000))
        return value
    }

    /// Runs `body` with C argv/argvlen arrays pointing into one contiguous copy of `argv`.
    private static func withArgv<R>(
        _ argv: [[UInt8]],
        _ body: (Int32, UnsafeMutablePointer<UnsafePointer<CChar>?>, UnsafePointer<Int>) -> R
    ) -> R {
        var flat: [UInt8] = []
        flat.reserveCapacity(argv.reduce(1) { $0 + $1.count })
        var offsets: [Int] = []
        var lengths: [Int] = []
        offsets.reserveCapacity(argv.count)
        lengths.reserveCapacity(argv.count)
        for argument in argv {
            offsets.append(flat.count)
            lengths.append(argument.count)
            flat.append(contentsOf: argument)
        }
        flat.append(0)  // never empty, so every pointer is valid even for empty arguments
        return flat.withUnsafeBytes { bytes in
            let base = bytes.baseAddress!.assumingMemoryBound(to: CChar.self)
            var pointers: [UnsafePointer<CChar>?] = offsets.map { base + $0 }
            return pointers.withUnsafeMutableBufferPointer { pointerBuffer in
                lengths.withUnsafeBufferPointer { lengthBuffer in
                    body(Int32(argv.count), pointerBuffer.baseAddress!, lengthBuffer.baseAddress!)
                }
            }
        }
    }

    private static func value(of reply: UnsafeMutablePointer<redisReply>) -> RESPValue {
        let node = reply.pointee
        func bytes() -> [UInt8] {
            guard let str = node.str, node.len > 0 else { return [] }
            return Array(UnsafeRawBufferPointer(start: str, count: Int(node.len)))
        }
        switch node.type {
        case REDIS_REPLY_STRING:
            return .bulk(bytes())
        case REDIS_REPLY_STATUS:
            return .simpleString(String(decoding: bytes(), as: UTF8.self))
        case REDIS_REPLY_ERROR:
            return .error(String(decoding: bytes(), as: UTF8.self))
        case REDIS_REPLY_INTEGER:
            return .integer(Int64(node.integer))
        case REDIS_REPLY_ARRAY:
            guard let elements = node.element else { return .array([]) }
            return .array((0..<Int(node.elements)).map { index in
                elements[index].map(value(of:)) ?? .null
            })
        default:
            return .null
        }
    }

    /// hiredis writes with write(2); a peer that went away would raise SIGPIPE and kill the
    /// process. Blocking it on this (dedicated) thread turns that into an EPIPE error instead,
    /// without changing the process-wide disposition.
    static func blockSIGPIPEOnThisThread() {
        var set = sigset_t()
        sigemptyset(&set)
        sigaddset(&set, SIGPIPE)
        pthread_sigmask(SIG_BLOCK, &set, nil)
    }
}

extension Error {
    /// Text of an error for wrapping in another message.
    var reasonText: String {
        if let redis = self as? RedisError {
            switch redis {
            case .connection(let message), .server(let message), .protocol(let message), .configuration(let message):
                return message
            default:
                return redis.description
            }
        }
        return String(describing: self)
    }
}
