import DjinnRedis
import DjinnTesting
import Logging
import Synchronization

/// Log lines kept in memory, to check what the client logs (and that no password is in it).
final class LogCapture: Sendable {
    private let lines = Mutex<[String]>([])

    var text: String { lines.withLock { $0.joined(separator: "\n") } }

    func append(_ line: String) { lines.withLock { $0.append(line) } }

    var logger: Logger {
        Logger(label: "redis-test") { _ in CapturingLogHandler(capture: self) }
    }
}

struct CapturingLogHandler: LogHandler {
    let capture: LogCapture
    var logLevel: Logger.Level = .trace
    var metadata: Logger.Metadata = [:]

    subscript(metadataKey key: String) -> Logger.Metadata.Value? {
        get { metadata[key] }
        set { metadata[key] = newValue }
    }

    func log(event: LogEvent) {
        capture.append("\(event.level) \(event.message) \(event.metadata ?? [:])")
    }
}

/// A logger that drops everything (most tests don't look at logs).
let quietLogger = Logger(label: "redis-test") { _ in SwiftLogNoOpLogHandler() }

func sharedRedisConfiguration() async throws -> RedisConfiguration {
    try await TestServices.endpoints().redisConfiguration
}

/// A connection to the run-wide test Redis; closed by `body`'s end.
func withTestConnection<T>(
    _ configure: (inout RedisConfiguration) -> Void = { _ in },
    _ body: (RedisConnection) async throws -> T
) async throws -> T {
    var configuration = try await sharedRedisConfiguration()
    configure(&configuration)
    let connection = try await RedisConnection.connect(configuration, logger: quietLogger)
    do {
        let result = try await body(connection)
        await connection.close()
        return result
    } catch {
        await connection.close()
        throw error
    }
}

/// A private Redis (optionally password-protected) that `body` may stop and start.
func withPrivateRedis<T>(password: String? = nil, _ body: (PrivateServices) async throws -> T) async throws -> T {
    let services = try await PrivateServices.start(postgres: false, redisPassword: password)
    do {
        let result = try await body(services)
        try await services.shutdown()
        return result
    } catch {
        try? await services.shutdown()
        throw error
    }
}

func bytes(_ text: String) -> [UInt8] { Array(text.utf8) }

/// Seconds `body` took.
func elapsed(_ body: () async throws -> Void) async rethrows -> Double {
    let clock = ContinuousClock()
    let start = clock.now
    try await body()
    let duration = start.duration(to: clock.now)
    let (seconds, attoseconds) = duration.components
    return Double(seconds) + Double(attoseconds) / 1e18
}

/// Collects a subscriber's messages so tests can wait for the next one with a time limit
/// (a bare `for await` would hang a failing test forever).
final class Inbox: Sendable {
    private struct State {
        var messages: [RedisMessage] = []
        var finished = false
    }

    private let state = Mutex(State())

    init(_ stream: AsyncStream<RedisMessage>) {
        Task { [inbox = self] in
            for await message in stream { inbox.append(message) }
            inbox.finish()
        }
    }

    private func append(_ message: RedisMessage) { state.withLock { $0.messages.append(message) } }
    private func finish() { state.withLock { $0.finished = true } }

    /// The next message; nil when none came within `timeout` or the stream ended.
    func next(timeout: Duration = .seconds(5)) async -> RedisMessage? {
        let clock = ContinuousClock()
        let deadline = clock.now + timeout
        while clock.now < deadline {
            let (message, finished): (RedisMessage?, Bool) = state.withLock { state in
                state.messages.isEmpty ? (nil, state.finished) : (state.messages.removeFirst(), false)
            }
            if let message { return message }
            if finished { return nil }
            try? await Task.sleep(for: .milliseconds(2))
        }
        return nil
    }
}
