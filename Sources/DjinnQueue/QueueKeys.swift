/// The Redis keys of one queue. The first six are curlyq v0.4.0's (djinn-behaviour.md §3.1)
/// and are shared with Go producers and consumers; the others are extra keys of ours that Go
/// ignores (docs/queue.md).
public struct QueueKeys: Sendable, Equatable {
    /// The queue name, the prefix of every key.
    public let queue: String

    /// LIST of ready job ids; consumers take from the head, producers push at the tail.
    public let active: String
    /// HASH job id → MessagePack envelope.
    public let data: String
    /// ZSET of job ids scored by the Unix time (seconds) they become ready.
    public let scheduled: String
    /// ZSET of job ids that failed for good, scored by the Unix time (seconds) they died.
    public let dead: String
    /// ZSET of consumers' in-flight set keys scored by their last heartbeat (Unix seconds).
    public let consumers: String

    /// Extra HASH job id → last error text (retried and dead jobs).
    public let errors: String
    /// Extra HASH job id → how many times consumers died while holding the job.
    public let deaths: String
    /// Extra HASH job id → Unix milliseconds the job became ready (enqueue, or due time).
    public let enqueuedAt: String
    /// Extra HASH job id → per-job options (`timeout_ms=…`).
    public let options: String
    /// Extra HASH in-flight set key → seconds after its last heartbeat that consumer counts as dead.
    public let consumerExpiry: String

    public init(queue: String) {
        self.queue = queue
        active = queue + ":active"
        data = queue + ":data"
        scheduled = queue + ":scheduled"
        dead = queue + ":dead"
        consumers = queue + ":consumers"
        errors = queue + ":errors"
        deaths = queue + ":deaths"
        enqueuedAt = queue + ":enqueued_at"
        options = queue + ":options"
        consumerExpiry = queue + ":consumer_expiry"
    }

    /// The SET of job ids a consumer has reserved: `Q:inflight:<consumer id>`.
    public func inflight(consumerID: String) -> String {
        queue + ":inflight:" + consumerID
    }
}
