import BlockingIO
import Logging
import Synchronization

#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// One message received on a subscribed channel.
public struct RedisMessage: Sendable, Hashable {
    public var channel: String
    /// The pattern that matched, for messages received through `psubscribe`.
    public var pattern: String?
    public var payload: [UInt8]

    public init(channel: String, pattern: String? = nil, payload: [UInt8]) {
        self.channel = channel
        self.pattern = pattern
        self.payload = payload
    }

    /// The payload as UTF-8 text, nil if it is not valid UTF-8.
    public var payloadString: String? { String(validatingUTF8Bytes: payload) }
}

/// Redis pub/sub on a connection and thread of its own.
///
/// Messages of all subscribed channels and patterns arrive on `messages`, in order. The
/// connection thread waits in `poll(2)` on the socket and on a wake-up pipe, so subscription
/// changes go out at once even while no message arrives. When the connection is lost the
/// subscriber reconnects with backoff (50 ms doubling to 2 s, for as long as it takes) and
/// subscribes again to everything it had; `messages` carries on. Messages published while
/// it was disconnected are lost (pub/sub keeps nothing). An idle connection is checked with
/// PING every `healthCheckInterval`. `close()` ends `messages`.
public final class RedisSubscriber: Sendable {
    public let configuration: RedisConfiguration
    public let messages: AsyncStream<RedisMessage>
    private let core: SubscriberCore
    private let thread: BlockingThread

    public init(configuration: RedisConfiguration, logger: Logger, healthCheckInterval: Duration = .seconds(30)) {
        self.configuration = configuration
        let (stream, continuation) = AsyncStream.makeStream(of: RedisMessage.self, bufferingPolicy: .unbounded)
        self.messages = stream
        let core = SubscriberCore(
            configuration: configuration, logger: logger, messages: continuation, healthCheckInterval: healthCheckInterval)
        self.core = core
        self.thread = BlockingThread(name: "redis subscriber \(configuration.endpoint)")
        thread.submit { core.run() }
    }

    deinit {
        core.requestClose()
        thread.shutdown()
    }

    /// Subscribes to `channels`; returns once the server confirmed (or, after a connection
    /// loss, once the subscriptions were restored). If the task is cancelled while waiting,
    /// the subscription still stands and takes effect when the server is reachable.
    public func subscribe(_ channels: [String]) async throws {
        try await core.change(.subscribe, channels)
    }

    /// Subscribes to glob-style `patterns` (`kill-*`).
    public func psubscribe(_ patterns: [String]) async throws {
        try await core.change(.psubscribe, patterns)
    }

    /// Unsubscribes from `channels`, or from all channels when nil.
    public func unsubscribe(_ channels: [String]? = nil) async throws {
        try await core.change(.unsubscribe, channels)
    }

    /// Unsubscribes from `patterns`, or from all patterns when nil.
    public func punsubscribe(_ patterns: [String]? = nil) async throws {
        try await core.change(.punsubscribe, patterns)
    }

    /// The channels subscribed to (or asked for and not yet confirmed).
    public var channels: Set<String> { core.subscriptions.channels }
    public var patterns: Set<String> { core.subscriptions.patterns }

    /// Closes the connection and ends `messages`; pending calls fail with `RedisError.closed`.
    public func close() async {
        core.requestClose()
        _ = try? await thread.run {}  // the loop runs on this thread: this waits for its end
        thread.shutdown()
    }
}

/// The state shared by the subscriber's callers and its connection loop.
final class SubscriberCore: Sendable {
    enum Kind: String, Sendable {
        case subscribe, unsubscribe, psubscribe, punsubscribe

        var command: String { rawValue.uppercased() }
        var isPattern: Bool { self == .psubscribe || self == .punsubscribe }
    }

    /// A SUBSCRIBE-family command to send, and who waits for its confirmation.
    struct Request: Sendable {
        var kind: Kind
        var names: [String]
        var waiterID: Int?
    }

    /// A sent request: the server confirms it with one reply per name.
    private struct Awaiting {
        var kind: Kind
        var remaining: Int
        var request: Request?
    }

    private struct Shared {
        var channels: Set<String> = []
        var patterns: Set<String> = []
        var outbox: [Request] = []
        var waiters: [Int: CheckedContinuation<Void, Error>] = [:]
        var registering: Set<Int> = []
        var cancelledWhileRegistering: Set<Int> = []
        /// Outcomes that arrived before their caller got to wait.
        var earlyResults: [Int: Result<Void, RedisError>] = [:]
        var nextID = 0
        var closed = false
    }

    let configuration: RedisConfiguration
    private let logger: Logger
    private let messages: AsyncStream<RedisMessage>.Continuation
    private let healthCheckInterval: Duration
    private let shared = Mutex(Shared())
    private let wakeReadFD: Int32
    private let wakeWriteFD: Int32

    init(
        configuration: RedisConfiguration, logger: Logger,
        messages: AsyncStream<RedisMessage>.Continuation, healthCheckInterval: Duration
    ) {
        self.configuration = configuration
        self.logger = logger
        self.messages = messages
        self.healthCheckInterval = healthCheckInterval
        var fds: [Int32] = [-1, -1]
        if pipe(&fds) == 0 {
            for fd in fds {
                _ = fcntl(fd, F_SETFL, fcntl(fd, F_GETFL) | O_NONBLOCK)
                _ = fcntl(fd, F_SETFD, FD_CLOEXEC)
            }
        }
        wakeReadFD = fds[0]
        wakeWriteFD = fds[1]
    }

    deinit {
        closeDescriptor(wakeReadFD)
        closeDescriptor(wakeWriteFD)
    }

    var subscriptions: (channels: Set<String>, patterns: Set<String>) {
        shared.withLock { ($0.channels, $0.patterns) }
    }

    // MARK: Caller side

    func change(_ kind: Kind, _ requested: [String]?) async throws {
        let id: Int? = try shared.withLock { state in
            if state.closed { throw RedisError.closed }
            let names: [String]
            switch kind {
            case .subscribe:
                names = requested ?? []
                state.channels.formUnion(names)
            case .psubscribe:
                names = requested ?? []
                state.patterns.formUnion(names)
            case .unsubscribe:
                names = requested ?? state.channels.sorted()
                state.channels.subtract(names)
            case .punsubscribe:
                names = requested ?? state.patterns.sorted()
                state.patterns.subtract(names)
            }
            if names.isEmpty { return nil }
            state.nextID += 1
            let id = state.nextID
            state.registering.insert(id)
            state.outbox.append(Request(kind: kind, names: names, waiterID: id))
            return id
        }
        guard let id else { return }
        wake()

        try await withTaskCancellationHandler {
            try await withCheckedThrowingContinuation { (continuation: CheckedContinuation<Void, Error>) in
                let immediate: Result<Void, RedisError>? = shared.withLock { state in
                    state.registering.remove(id)
                    if state.cancelledWhileRegistering.remove(id) != nil {
                        state.earlyResults[id] = nil
                        return .failure(.cancelled)
                    }
                    if let result = state.earlyResults.removeValue(forKey: id) { return result }
                    if state.closed { return .failure(.closed) }
                    state.waiters[id] = continuation
                    return nil
                }
                if let immediate { continuation.resume(with: immediate) }
            }
        } onCancel: {
            let waiter: CheckedContinuation<Void, Error>? = shared.withLock { state in
                if let waiter = state.waiters.removeValue(forKey: id) { return waiter }
                if state.registering.contains(id) { state.cancelledWhileRegistering.insert(id) }
                return nil
            }
            waiter?.resume(throwing: RedisError.cancelled)
        }
    }

    func requestClose() {
        shared.withLock { $0.closed = true }
        wake()
    }

    private var isClosed: Bool { shared.withLock { $0.closed } }

    private func wake() {
        var byte: UInt8 = 1
        _ = write(wakeWriteFD, &byte, 1)  // a full pipe already holds a wake-up
    }

    private func drainWakePipe() {
        var buffer = [UInt8](repeating: 0, count: 64)
        while read(wakeReadFD, &buffer, buffer.count) > 0 {}
    }

    /// Resumes whoever waits for request `id`, now or when they get to wait.
    private func resolve(_ id: Int?, _ result: Result<Void, RedisError>) {
        guard let id else { return }
        let waiter: CheckedContinuation<Void, Error>? = shared.withLock { state in
            if let waiter = state.waiters.removeValue(forKey: id) { return waiter }
            if state.registering.contains(id) { state.earlyResults[id] = result }
            return nil
        }
        waiter?.resume(with: result.mapError { $0 as Error })
    }

    // MARK: Connection loop (on the subscriber's thread)

    func run() {
        let context = HiredisContext(configuration: configuration, logger: logger)
        let backoff = Backoff(initial: configuration.reconnectDelay, maximum: configuration.maximumReconnectDelay)
        var failedAttempts = 0
        var awaiting: [Awaiting] = []

        while !isClosed {
            do {
                try context.open()
            } catch {
                failedAttempts += 1
                let level: Logger.Level = failedAttempts == 1 ? .warning : .debug
                logger.log(level: level, "redis subscriber cannot connect; retrying", metadata: [
                    "redis": "\(configuration.endpoint)", "error": "\(error.error)",
                ])
                if !error.retryable { failQueuedRequests(error.error) }
                waitForWake(timeout: backoff.delay(beforeAttempt: failedAttempts))
                continue
            }
            failedAttempts = 0

            do {
                awaiting = []
                let (channels, patterns) = subscriptions
                if !channels.isEmpty {
                    try context.append([Array("SUBSCRIBE".utf8)] + channels.sorted().map { Array($0.utf8) })
                    awaiting.append(Awaiting(kind: .subscribe, remaining: channels.count, request: nil))
                }
                if !patterns.isEmpty {
                    try context.append([Array("PSUBSCRIBE".utf8)] + patterns.sorted().map { Array($0.utf8) })
                    awaiting.append(Awaiting(kind: .psubscribe, remaining: patterns.count, request: nil))
                }
                try context.flush()
                try serve(context, &awaiting)
            } catch {
                logger.warning("redis subscriber lost its connection; reconnecting", metadata: [
                    "redis": "\(configuration.endpoint)", "error": "\(error)",
                ])
                // Unconfirmed changes are sent again after the restored subscriptions;
                // SUBSCRIBE and UNSUBSCRIBE are idempotent, so replaying them in order is safe.
                let unconfirmed = awaiting.compactMap(\.request)
                shared.withLock { $0.outbox.insert(contentsOf: unconfirmed, at: 0) }
                awaiting = []
            }
            context.release()
        }

        context.release()
        let waiters: [CheckedContinuation<Void, Error>] = shared.withLock { state in
            defer { state.waiters = [:]; state.outbox = [] }
            for id in state.registering { state.earlyResults[id] = .failure(.closed) }
            return Array(state.waiters.values)
        }
        for waiter in waiters { waiter.resume(throwing: RedisError.closed) }
        messages.finish()
    }

    /// Sends queued changes and receives messages until closed (returns) or the connection
    /// fails (throws).
    private func serve(_ context: HiredisContext, _ awaiting: inout [Awaiting]) throws(RedisError) {
        let clock = ContinuousClock()
        var lastReceived = clock.now
        var pingSent: ContinuousClock.Instant?

        while true {
            let outgoing: [Request]? = shared.withLock { state in
                if state.closed { return nil }
                defer { state.outbox = [] }
                return state.outbox
            }
            guard let outgoing else { return }
            if !outgoing.isEmpty {
                // Recorded before sending, so that all of them are sent again if this fails.
                for request in outgoing {
                    awaiting.append(Awaiting(kind: request.kind, remaining: request.names.count, request: request))
                }
                for request in outgoing {
                    try context.append([Array(request.kind.command.utf8)] + request.names.map { Array($0.utf8) })
                }
                try context.flush()
            }

            guard let socket = context.fileDescriptor else { throw RedisError.connection("not connected") }
            let deadline = (pingSent ?? lastReceived) + healthCheckInterval
            let wait = max(.zero, clock.now.duration(to: deadline))
            var fds = [
                pollfd(fd: socket, events: Int16(POLLIN), revents: 0),
                pollfd(fd: wakeReadFD, events: Int16(POLLIN), revents: 0),
            ]
            let ready = poll(&fds, 2, Int32(clamping: Int64(wait.timeInterval * 1000) + 1))
            if ready < 0 {
                if errno == EINTR { continue }
                throw RedisError.connection("poll failed: \(String(cString: strerror(errno)))")
            }
            if fds[1].revents != 0 { drainWakePipe() }
            if fds[0].revents != 0 {
                try context.readAvailable()
                lastReceived = clock.now
                pingSent = nil
                while let reply = try context.bufferedReply() {
                    handle(reply, &awaiting)
                }
            }

            let now = clock.now
            if let pingSent, now - pingSent >= healthCheckInterval {
                throw RedisError.timeout
            }
            if pingSent == nil, now - lastReceived >= healthCheckInterval {
                try context.append([Array("PING".utf8)])
                try context.flush()
                pingSent = now
            }
        }
    }

    private func handle(_ reply: RESPValue, _ awaiting: inout [Awaiting]) {
        switch reply {
        case .array(let items):
            guard let kind = items.first?.string?.lowercased() else { break }
            switch kind {
            case "message" where items.count == 3:
                messages.yield(RedisMessage(channel: Self.text(items[1]), payload: items[2].bytes ?? []))
            case "pmessage" where items.count == 4:
                messages.yield(RedisMessage(channel: Self.text(items[2]), pattern: Self.text(items[1]), payload: items[3].bytes ?? []))
            case "subscribe", "unsubscribe", "psubscribe", "punsubscribe":
                guard let head = awaiting.first, head.kind.rawValue == kind else {
                    logger.debug("redis subscriber: unexpected confirmation", metadata: ["reply": "\(reply)"])
                    break
                }
                awaiting[0].remaining -= 1
                if awaiting[0].remaining <= 0 {
                    resolve(awaiting.removeFirst().request?.waiterID, .success(()))
                }
            case "pong":
                break
            default:
                logger.debug("redis subscriber: unexpected reply", metadata: ["reply": "\(reply)"])
            }
        case .simpleString:
            break  // PONG while subscribed to nothing
        case .error(let message):
            // An error replaces all confirmations of the command it answers (e.g. NOAUTH).
            logger.warning("redis subscriber: server error", metadata: ["error": "\(message)"])
            if !awaiting.isEmpty {
                resolve(awaiting.removeFirst().request?.waiterID, .failure(.server(message)))
            }
        default:
            logger.debug("redis subscriber: unexpected reply", metadata: ["reply": "\(reply)"])
        }
    }

    /// A rejected handshake (wrong password) will not fix itself: tell those waiting now.
    /// The requests stay queued and are sent if a later attempt succeeds.
    private func failQueuedRequests(_ error: RedisError) {
        let ids = shared.withLock { state in state.outbox.compactMap(\.waiterID) }
        for id in ids { resolve(id, .failure(error)) }
    }

    /// Sleeps up to `timeout`, returning early when woken (close or a new request).
    private func waitForWake(timeout: Duration) {
        var entry = pollfd(fd: wakeReadFD, events: Int16(POLLIN), revents: 0)
        if poll(&entry, 1, Int32(clamping: Int64(timeout.timeInterval * 1000))) > 0 { drainWakePipe() }
    }

    private static func text(_ value: RESPValue) -> String {
        String(decoding: value.bytes ?? [], as: UTF8.self)
    }
}

private func closeDescriptor(_ fd: Int32) {
    guard fd >= 0 else { return }
    #if canImport(Glibc)
    _ = Glibc.close(fd)
    #else
    _ = Darwin.close(fd)
    #endif
}
