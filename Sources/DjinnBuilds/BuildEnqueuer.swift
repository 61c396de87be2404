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

/// curlyq v0.4.0's "enqueue now" (spec §3.3), byte-compatible with Go producers and consumers:
/// one atomic script does `HSETNX Q:data ID MSG` and, if that set it, `RPUSH Q:active ID`; the
/// message is the MessagePack `Envelope` with a fresh lowercase UUIDv4 id and attempt 0.
///
/// Stop-gap until DjinnQueue's producer lands; it will replace this type.
public struct CurlyqEnqueuer: BuildEnqueuer {
    public let client: RedisClient
    /// Prepended to every key (tests use a unique prefix; production uses none).
    public let keyPrefix: String
    private let logger: Logger

    static let script = RedisScript("""
        if redis.call("HSETNX", KEYS[1], ARGV[1], ARGV[2]) == 1 then
            redis.call("RPUSH", KEYS[2], ARGV[1])
            return 1
        end
        return 0
        """)

    public init(client: RedisClient, keyPrefix: String = "", logger: Logger = Logger(label: "djinn.queue")) {
        self.client = client
        self.keyPrefix = keyPrefix
        self.logger = logger
    }

    public func enqueue(queue: String, payload: [UInt8]) async throws {
        let id = UUID().uuidString.lowercased()
        let message = Envelope(id: id, data: payload, attempt: 0).encoded()
        let name = keyPrefix + queue
        _ = try await client.evalScript(Self.script, keys: [name + ":data", name + ":active"], args: [id, message])
        logger.info("Enqueued job", metadata: ["job_id": "\(id)", "queue": "\(queue)"])
    }
}
