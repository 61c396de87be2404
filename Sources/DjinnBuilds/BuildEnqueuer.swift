import DjinnQueue
import DjinnRedis
import Foundation
import Logging

/// Puts a job on a named queue. The build submitter takes one so that it does not depend on a
/// particular queue implementation (and tests can make enqueueing fail).
public protocol BuildEnqueuer: Sendable {
    /// Enqueues `payload` (a gob `BuildPayload`) on queue `queue` (e.g. `builds_os`) to run now.
    func enqueue(queue: String, payload: [UInt8]) async throws

    /// Enqueues several payloads on one queue; one entry per payload, in order: nil when it
    /// was enqueued, else why not.
    func enqueue(queue: String, payloads: [[UInt8]]) async -> [(any Error)?]
}

extension BuildEnqueuer {
    /// One `enqueue(queue:payload:)` after the other.
    public func enqueue(queue: String, payloads: [[UInt8]]) async -> [(any Error)?] {
        var results: [(any Error)?] = []
        for payload in payloads {
            do {
                try await enqueue(queue: queue, payload: payload)
                results.append(nil)
            } catch {
                results.append(error)
            }
        }
        return results
    }
}

/// Enqueues builds with DjinnQueue's producer: curlyq v0.4.0's layout and envelope (spec
/// §3.3), so Go workers can run them too, plus the enqueue time our inspector reads.
public struct QueueBuildEnqueuer: BuildEnqueuer {
    public let client: RedisClient
    /// Prepended to every queue name (tests use a unique prefix; production uses none).
    public let keyPrefix: String
    private let logger: Logger

    public init(client: RedisClient, keyPrefix: String = "", logger: Logger = Logger(label: "djinn.queue")) {
        self.client = client
        self.keyPrefix = keyPrefix
        self.logger = logger
    }

    public func enqueue(queue: String, payload: [UInt8]) async throws {
        let result = try await QueueProducer(client: client, queue: keyPrefix + queue).enqueue(payload)
        logger.info("Enqueued job", metadata: ["job_id": "\(result.id)", "queue": "\(queue)"])
    }

    /// One script call per chunk of `QueueProducer`'s batch size: a chunk is enqueued whole or
    /// not at all, so a failure is attributed to exactly the payloads of its chunk (whether a
    /// chunk whose reply was lost got through is unknown, as for a single enqueue).
    public func enqueue(queue: String, payloads: [[UInt8]]) async -> [(any Error)?] {
        let producer = QueueProducer(client: client, queue: keyPrefix + queue)
        var results: [(any Error)?] = []
        results.reserveCapacity(payloads.count)
        var start = 0
        while start < payloads.count {
            let end = min(start + Self.chunk, payloads.count)
            do {
                let enqueued = try await producer.enqueueBatch(payloads[start..<end].map { EnqueueRequest(data: $0) })
                for result in enqueued {
                    logger.info("Enqueued job", metadata: ["job_id": "\(result.id)", "queue": "\(queue)"])
                    results.append(nil)
                }
            } catch {
                results.append(contentsOf: Array(repeating: error, count: end - start))
            }
            start = end
        }
        return results
    }

    /// Jobs per script call (QueueProducer's own chunk: one call each).
    static let chunk = 1000
}
