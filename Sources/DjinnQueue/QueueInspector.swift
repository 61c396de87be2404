import DjinnRedis
import Foundation

/// A queue's numbers at one instant (one script call, so they are consistent).
public struct QueueStats: Sendable, Equatable {
    public var queue: String
    /// Jobs in `Q:active`.
    public var ready: Int
    /// Jobs in `Q:scheduled` (delayed or waiting for a retry).
    public var scheduled: Int
    /// Jobs in consumers' in-flight sets (reserved or running).
    public var inFlight: Int
    /// Jobs in `Q:dead`.
    public var dead: Int
    /// Consumers registered in `Q:consumers`, live or not.
    public var consumers: Int
    /// Consumers whose heartbeat is within their expiry (ours record it; Go's: 120 s).
    public var liveConsumers: Int
    /// How long the job at the head of `Q:active` has been ready; nil when nothing is ready
    /// or that job came from a producer that does not record the time (Go's).
    public var oldestReadyAge: Duration?

    public init(queue: String, ready: Int, scheduled: Int, inFlight: Int, dead: Int, consumers: Int,
                liveConsumers: Int, oldestReadyAge: Duration?) {
        self.queue = queue
        self.ready = ready
        self.scheduled = scheduled
        self.inFlight = inFlight
        self.dead = dead
        self.consumers = consumers
        self.liveConsumers = liveConsumers
        self.oldestReadyAge = oldestReadyAge
    }
}

/// One entry of a queue's dead set.
public struct DeadJob: Sendable, Equatable {
    public var id: String
    /// The stored attempt count (nil when the message is missing or not a valid envelope).
    public var attempt: Int?
    /// When the job died (the `Q:dead` score).
    public var diedAt: Date
    /// Why it died (the last error; nil for jobs killed by Go consumers, which keep none).
    public var lastError: String?

    public init(id: String, attempt: Int?, diedAt: Date, lastError: String?) {
        self.id = id
        self.attempt = attempt
        self.diedAt = diedAt
        self.lastError = lastError
    }
}

/// Everything stored about one dead job.
public struct DeadJobDetail: Sendable, Equatable {
    public var id: String
    public var diedAt: Date
    public var lastError: String?
    /// How many times consumers died while holding the job.
    public var deaths: Int
    /// The raw `Q:data` message; nil when missing.
    public var message: [UInt8]?
    /// The decoded envelope; nil when the message is missing or invalid (see `decodeError`).
    public var envelope: Envelope?
    public var decodeError: String?

    /// The payload bytes (`Data`) of the envelope.
    public var payload: [UInt8]? { envelope?.data }
}

/// Why a dead-set operation could not be done.
public enum QueueInspectorError: Error, Sendable, Equatable, CustomStringConvertible {
    /// The dead job has no message to run again.
    case messageMissing(id: String)
    /// The dead job's message is not a valid envelope, so its attempt cannot be reset.
    case undecodableMessage(id: String, reason: String)
    /// The job kept changing while being retried.
    case concurrentChange(id: String)

    public var description: String {
        switch self {
        case .messageMissing(let id): return "queue: dead job \(id) has no message"
        case .undecodableMessage(let id, let reason): return "queue: dead job \(id) has an invalid message: \(reason)"
        case .concurrentChange(let id): return "queue: dead job \(id) changed while it was being retried"
        }
    }
}

/// Read-mostly access to queues for operators (`djinnctl queues`): numbers per queue, and
/// listing, showing, retrying and purging dead jobs. Works on queues fed and consumed by Go
/// components too (our extra data is then simply absent).
public struct QueueInspector: Sendable {
    private let client: RedisClient

    public init(client: RedisClient) {
        self.client = client
    }

    /// Names of the queues in the database: keys `<name>:data` (hash) or `<name>:active`
    /// (list), found with SCAN, sorted.
    public func queueNames() async throws -> [String] {
        var names = Set<String>()
        for (suffix, type) in [(":data", "hash"), (":active", "list")] {
            var cursor = "0"
            repeat {
                let reply = try await client.command(["SCAN", cursor, "MATCH", "*" + suffix, "TYPE", type, "COUNT", 1000])
                guard let parts = reply.array, parts.count == 2, let next = parts[0].string, let keys = parts[1].strings else {
                    throw RedisError.protocol("SCAN returned \(reply)")
                }
                for case let key? in keys where key.hasSuffix(suffix) {
                    names.insert(String(key.dropLast(suffix.count)))
                }
                cursor = next
            } while cursor != "0"
        }
        return names.sorted()
    }

    /// Numbers of every queue `queueNames()` finds.
    public func stats() async throws -> [QueueStats] {
        var all: [QueueStats] = []
        for name in try await queueNames() { all.append(try await stats(queue: name)) }
        return all
    }

    public func stats(queue: String) async throws -> QueueStats {
        let keys = QueueKeys(queue: queue)
        let reply = try await client.evalScript(
            QueueScripts.stats,
            keys: [keys.active, keys.scheduled, keys.dead, keys.consumers, keys.consumerExpiry, keys.enqueuedAt],
            args: [QueueConsumer.goConsumerExpirySeconds])
        guard let values = reply.array, values.count == 7 else { throw RedisError.protocol("stats script returned \(reply)") }
        let numbers = values.prefix(6).map { $0.int ?? 0 }
        var age: Duration?
        // Ready times are the producers' clocks; compare with ours rather than the server's.
        if numbers[0] > 0, let readyAt = values[6].int64 {
            age = .milliseconds(max(0, WallClock.nowMilliseconds() - readyAt))
        }
        return QueueStats(queue: queue, ready: numbers[0], scheduled: numbers[1], inFlight: numbers[3], dead: numbers[2],
                          consumers: numbers[4], liveConsumers: numbers[5], oldestReadyAge: age)
    }

    // MARK: Dead jobs

    /// Dead jobs, most recent deaths first, from `offset` on.
    public func deadJobs(queue: String, offset: Int = 0, limit: Int = 100) async throws -> [DeadJob] {
        guard limit > 0 else { return [] }
        let keys = QueueKeys(queue: queue)
        let start = max(0, offset)
        let reply = try await client.evalScript(
            QueueScripts.deadPage, keys: [keys.dead, keys.data, keys.errors], args: [start, start + limit - 1])
        guard let values = reply.array, values.count % 4 == 0 else {
            throw RedisError.protocol("dead page script returned \(reply)")
        }
        var jobs: [DeadJob] = []
        var index = 0
        while index < values.count {
            let id = values[index].string ?? ""
            let attempt = values[index + 2].bytes.flatMap { try? Envelope(decoding: $0) }.map { Int(truncatingIfNeeded: $0.attempt) }
            jobs.append(DeadJob(id: id, attempt: attempt, diedAt: Date(timeIntervalSince1970: values[index + 1].double ?? 0),
                                lastError: values[index + 3].string))
            index += 4
        }
        return jobs
    }

    /// Everything about one dead job; nil when `id` is not in the dead set.
    public func deadJob(queue: String, id: String) async throws -> DeadJobDetail? {
        let keys = QueueKeys(queue: queue)
        let replies = try await client.pipeline([
            ["ZSCORE", keys.dead, id], ["HGET", keys.data, id], ["HGET", keys.errors, id], ["HGET", keys.deaths, id],
        ])
        guard replies.count == 4 else { throw RedisError.protocol("pipeline returned \(replies.count) replies") }
        if let failure = replies.first(where: { $0.errorMessage != nil })?.errorMessage { throw RedisError.server(failure) }
        guard let score = replies[0].double else { return nil }
        let message = replies[1].bytes
        var envelope: Envelope?
        var decodeError: String?
        if let message {
            do { envelope = try Envelope(decoding: message) } catch { decodeError = error.message }
        } else {
            decodeError = "message missing from \(keys.data)"
        }
        return DeadJobDetail(id: id, diedAt: Date(timeIntervalSince1970: score), lastError: replies[2].string,
                             deaths: replies[3].int ?? 0, message: message, envelope: envelope, decodeError: decodeError)
    }

    /// Moves a dead job back to the tail of `Q:active` with its attempt reset to 0 and its
    /// error and death count cleared. False when `id` is not in the dead set.
    @discardableResult
    public func retryDeadJob(queue: String, id: String) async throws -> Bool {
        let keys = QueueKeys(queue: queue)
        for _ in 0..<5 {
            let replies = try await client.pipeline([["ZSCORE", keys.dead, id], ["HGET", keys.data, id]])
            guard replies.count == 2, !replies[0].isNull else { return false }
            guard let message = replies[1].bytes else { throw QueueInspectorError.messageMissing(id: id) }
            var envelope: Envelope
            do { envelope = try Envelope(decoding: message) } catch {
                throw QueueInspectorError.undecodableMessage(id: id, reason: error.message)
            }
            envelope.attempt = 0
            let reply = try await client.evalScript(
                QueueScripts.retryDead,
                keys: [keys.dead, keys.data, keys.active, keys.errors, keys.deaths, keys.enqueuedAt],
                args: [id, message, envelope.encoded(), WallClock.nowMilliseconds()])
            switch reply.int {
            case 1: return true
            case 0: return false
            default: continue  // changed between the read and the script: read again
            }
        }
        throw QueueInspectorError.concurrentChange(id: id)
    }

    /// Deletes one dead job and everything stored about it. False when it is not dead.
    @discardableResult
    public func purgeDeadJob(queue: String, id: String) async throws -> Bool {
        try await purge(queue: queue, ids: [id]) == 1
    }

    /// Deletes every dead job of the queue; returns how many.
    @discardableResult
    public func purgeDeadJobs(queue: String) async throws -> Int {
        var total = 0
        while true {
            let purged = try await purge(queue: queue, ids: [])
            total += purged
            if purged < QueueConsumer.maintenanceBatch { return total }
        }
    }

    private func purge(queue: String, ids: [String]) async throws -> Int {
        let keys = QueueKeys(queue: queue)
        let args: [any RedisArgumentConvertible] = [QueueConsumer.maintenanceBatch] + ids
        let reply = try await client.evalScript(
            QueueScripts.purgeDead,
            keys: [keys.dead, keys.data, keys.errors, keys.deaths, keys.enqueuedAt, keys.options], args: args)
        return reply.int ?? 0
    }

    /// Drops our extra per-job entries (`Q:errors`, `Q:deaths`, `Q:enqueued_at`,
    /// `Q:options`) whose job no longer exists: Go consumers ack without knowing of them.
    /// Returns how many were dropped.
    @discardableResult
    public func sweepExtras(queue: String) async throws -> Int {
        let keys = QueueKeys(queue: queue)
        var dropped = 0
        for hash in [keys.errors, keys.deaths, keys.enqueuedAt, keys.options] {
            var cursor = "0"
            repeat {
                let reply = try await client.evalScript(QueueScripts.sweepExtras, keys: [keys.data, hash], args: [cursor, 500])
                guard let parts = reply.array, parts.count == 2, let next = parts[0].string else {
                    throw RedisError.protocol("sweep script returned \(reply)")
                }
                dropped += parts[1].int ?? 0
                cursor = next
            } while cursor != "0"
        }
        return dropped
    }
}
