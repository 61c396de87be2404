import DjinnQueue
import DjinnRedis
import Foundation
import Logging

/// Puts a job on a named queue. The build submitter takes one so that it does not depend on a
/// particular queue implementation (and tests can make enqueueing fail).
public protocol BuildEnqueuer: Sendable {
    /// Enqueues `payload` (a gob `BuildPayload`) on queue `queue` (e.g. `builds_os`) to run now.
    func enqueue(queue: String, payload: [UInt8]) async throws
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
}
