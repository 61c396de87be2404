import DjinnRedis
import DjinnTesting
import Foundation
import Logging
import Synchronization
import Testing

@testable import DjinnQueue

/// A logger that drops everything.
let quietLogger = Logger(label: "queue-test") { _ in SwiftLogNoOpLogHandler() }

/// A client of the run-wide test Redis.
func testClient(connections: Int = 4) async throws -> RedisClient {
    try await RedisClient.connect(try await TestServices.endpoints().redisConfiguration, logger: quietLogger,
                                  maximumConnections: connections)
}

/// A queue name of the test's own.
func testQueue(_ label: String = "q") -> String { testKeyPrefix("queue") + label }

/// Quick timings so that tests of heartbeats, custodians and retries take seconds.
func fastOptions(concurrency: Int = 1) -> QueueOptions {
    QueueOptions(
        concurrency: concurrency, heartbeatInterval: .milliseconds(500), consumerExpiry: .seconds(2),
        custodianInterval: .milliseconds(300), schedulerInterval: .milliseconds(100), maxAttempts: 5,
        jobTimeout: nil, shutdownGrace: .seconds(5), poisonDeaths: 3, pollTimeout: .seconds(1))
}

/// Values appended from any task.
final class Recorder<Value: Sendable>: Sendable {
    private let values = Mutex<[Value]>([])

    func append(_ value: Value) { values.withLock { $0.append(value) } }
    var all: [Value] { values.withLock { $0 } }
    var count: Int { values.withLock { $0.count } }
}

/// A one-shot signal a handler can wait on (cancellable).
final class Gate: Sendable {
    private let opened = Atomic<Bool>(false)

    func open() { opened.store(true, ordering: .relaxed) }
    var isOpen: Bool { opened.load(ordering: .relaxed) }

    func wait() async throws {
        while !isOpen { try await Task.sleep(for: .milliseconds(5)) }
    }
}

/// Polls `condition` until it holds or `timeout` passes; returns whether it held.
@discardableResult
func eventually(
    timeout: Duration = .seconds(20), every interval: Duration = .milliseconds(20),
    _ condition: () async throws -> Bool
) async rethrows -> Bool {
    let clock = ContinuousClock()
    let deadline = clock.now + timeout
    while true {
        if try await condition() { return true }
        if clock.now >= deadline { return false }
        try? await Task.sleep(for: interval)
    }
}

/// A consumer running in a task of its own.
struct RunningConsumer {
    let consumer: QueueConsumer
    let task: Task<Void, Error>

    init(_ consumer: QueueConsumer) {
        self.consumer = consumer
        self.task = Task { try await consumer.run() }
    }

    init(client: RedisClient, queue: String, options: QueueOptions, workerCount: Int? = nil,
         handler: @escaping QueueConsumer.Handler) {
        self.init(QueueConsumer(client: client, queue: queue, options: options, logger: quietLogger,
                                workerCount: workerCount, handler: handler))
    }

    /// Orderly shutdown; waits for `run()` to return.
    func stop() async throws {
        consumer.shutdown()
        try await task.value
    }

    func crash() async throws {
        consumer.simulateCrash()
        try await task.value
    }
}

extension RedisClient {
    func strings(_ arguments: [any RedisArgumentConvertible]) async throws -> [String] {
        try await command(arguments).array?.compactMap(\.string) ?? []
    }

    func integer(_ arguments: [any RedisArgumentConvertible]) async throws -> Int {
        try await command(arguments).int ?? 0
    }

    /// The decoded envelope stored for `id`.
    func envelope(_ keys: QueueKeys, _ id: String) async throws -> Envelope? {
        guard let bytes = try await command(["HGET", keys.data, id]).bytes else { return nil }
        return try Envelope(decoding: bytes)
    }

    /// Every key of a queue (to check that nothing is left behind).
    func queueKeys(_ queue: String) async throws -> [String] {
        try await strings(["KEYS", queue + ":*"]).sorted()
    }
}

func bytes(_ text: String) -> [UInt8] { Array(text.utf8) }

func hexBytes(_ text: String) -> [UInt8] {
    let digits = text.filter { !$0.isWhitespace }
    var result: [UInt8] = []
    var index = digits.startIndex
    while index < digits.endIndex {
        let next = digits.index(index, offsetBy: 2)
        result.append(UInt8(digits[index..<next], radix: 16)!)
        index = next
    }
    return result
}

func nowSeconds() -> Double { Date().timeIntervalSince1970 }
