import DjinnRedis
import Foundation

/// One job to enqueue with `QueueProducer.enqueueBatch`.
public struct EnqueueRequest: Sendable, Equatable {
    /// The payload (`Data` of the envelope).
    public var data: [UInt8]
    /// The job id; nil or empty: a new UUID v4. A job whose id exists already is not enqueued.
    public var id: String?
    /// When the job becomes ready, in Unix milliseconds; nil or past: now.
    public var runAtMilliseconds: Int64?
    /// The job's own handler time limit (overrides `QueueOptions.jobTimeout`).
    public var timeout: Duration?

    /// A job ready now.
    public init(data: [UInt8], id: String? = nil, timeout: Duration? = nil) {
        self.data = data
        self.id = id
        self.runAtMilliseconds = nil
        self.timeout = timeout
    }

    /// A job ready at `date`.
    public init(data: [UInt8], id: String? = nil, at date: Date, timeout: Duration? = nil) {
        self.init(data: data, id: id, timeout: timeout)
        // Rounded up so the job is never early; absurd dates mean "now".
        let milliseconds = (date.timeIntervalSince1970 * 1000).rounded(.up)
        runAtMilliseconds = abs(milliseconds) < 1e15 ? Int64(milliseconds) : nil
    }

    /// A job ready `delay` from now.
    public init(data: [UInt8], id: String? = nil, after delay: Duration, timeout: Duration? = nil) {
        self.init(data: data, id: id, timeout: timeout)
        runAtMilliseconds = WallClock.nowMilliseconds() + max(.zero, delay).wholeMilliseconds
    }
}

/// Puts jobs on a queue the way curlyq v0.4.0's producer does (`HSETNX Q:data`, then
/// `RPUSH Q:active` or `ZADD Q:scheduled`), so Go consumers can run them, and records our
/// extras (ready time, per-job options). Every enqueue is one atomic script call.
///
/// Failures are `RedisError`s. A connection error leaves it unknown whether the jobs were
/// enqueued; enqueueing again with the same ids is then safe (duplicates are ignored).
public struct QueueProducer: Sendable {
    public let queue: String
    public let keys: QueueKeys
    private let client: RedisClient

    /// Jobs per script call in a batch (keeps each call's time in Redis short).
    static let batchChunk = 1000

    public init(client: RedisClient, queue: String) {
        self.client = client
        self.queue = queue
        self.keys = QueueKeys(queue: queue)
    }

    /// Enqueues a job ready now.
    @discardableResult
    public func enqueue(_ data: [UInt8], id: String? = nil, timeout: Duration? = nil) async throws -> EnqueueResult {
        try await enqueueBatch([EnqueueRequest(data: data, id: id, timeout: timeout)])[0]
    }

    /// Enqueues a job ready at `date` (in `Q:scheduled` until then; ready now if `date` is past).
    @discardableResult
    public func enqueue(_ data: [UInt8], id: String? = nil, at date: Date, timeout: Duration? = nil) async throws
        -> EnqueueResult
    {
        try await enqueueBatch([EnqueueRequest(data: data, id: id, at: date, timeout: timeout)])[0]
    }

    /// Enqueues a job ready `delay` from now.
    @discardableResult
    public func enqueue(_ data: [UInt8], id: String? = nil, after delay: Duration, timeout: Duration? = nil)
        async throws -> EnqueueResult
    {
        try await enqueueBatch([EnqueueRequest(data: data, id: id, after: delay, timeout: timeout)])[0]
    }

    /// Enqueues many jobs in one script call per 1,000 jobs; results are in request order.
    /// Each chunk is atomic; after an error, earlier chunks are enqueued and later ones not.
    public func enqueueBatch(_ requests: [EnqueueRequest]) async throws -> [EnqueueResult] {
        var results: [EnqueueResult] = []
        results.reserveCapacity(requests.count)
        var start = 0
        while start < requests.count {
            let end = min(start + Self.batchChunk, requests.count)
            try await enqueueChunk(requests[start..<end], into: &results)
            start = end
        }
        return results
    }

    private func enqueueChunk(_ requests: ArraySlice<EnqueueRequest>, into results: inout [EnqueueResult]) async throws {
        let now = WallClock.nowMilliseconds()
        var args: [any RedisArgumentConvertible] = []
        args.reserveCapacity(requests.count * 5)
        var ids: [String] = []
        ids.reserveCapacity(requests.count)
        var generated = UUIDv4.generate(count: requests.count { ($0.id ?? "").isEmpty }).makeIterator()
        for request in requests {
            let id = request.id.flatMap { $0.isEmpty ? nil : $0 } ?? generated.next()!
            ids.append(id)
            args.append(id)
            args.append(Envelope(id: id, data: request.data, attempt: 0).encoded())
            if let runAt = request.runAtMilliseconds, runAt > now {
                args.append(WallClock.secondsText(milliseconds: runAt))
                args.append(runAt)
            } else {
                args.append("")
                args.append(now)
            }
            args.append(JobOptions(timeout: request.timeout).encoded)
        }
        let reply = try await client.evalScript(
            QueueScripts.enqueue,
            keys: [keys.data, keys.active, keys.scheduled, keys.enqueuedAt, keys.options, keys.errors, keys.deaths],
            args: args)
        guard let flags = reply.array, flags.count == ids.count else {
            throw RedisError.protocol("enqueue script returned \(reply)")
        }
        for (id, flag) in zip(ids, flags) {
            results.append(EnqueueResult(id: id, enqueued: flag.int64 == 1))
        }
    }
}
