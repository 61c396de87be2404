/// How a `QueueConsumer` behaves. The defaults recover a killed consumer's jobs within
/// 30 s: it looks dead `consumerExpiry` (15 s, +1 s of whole-second scores) after its last
/// heartbeat, a custodian notices within `custodianInterval` (5 s) and confirms it
/// `heartbeatInterval` + 2 s (7 s) later.
public struct QueueOptions: Sendable, Equatable {
    /// Handler slots: jobs handled at once. Also the most jobs the consumer holds reserved
    /// (it reserves only as many as it has free slots).
    public var concurrency: Int
    /// How often the consumer refreshes its heartbeat in `Q:consumers`.
    public var heartbeatInterval: Duration
    /// How long after its last heartbeat this consumer counts as dead (recorded in
    /// `Q:consumer_expiry` so every custodian applies it). Keep it a few heartbeats long.
    public var consumerExpiry: Duration
    /// How often the custodian looks for dead consumers and requeues their jobs.
    public var custodianInterval: Duration
    /// How often due jobs are moved from `Q:scheduled` to `Q:active`.
    public var schedulerInterval: Duration
    /// Retries after a failure, as curlyq's JobMaxAttempts: a job whose handler fails with
    /// `attempt < maxAttempts` is retried, so it runs at most `maxAttempts + 1` times.
    public var maxAttempts: Int
    /// Longest delay between retries (curlyq: 168 h).
    public var maxRetryDelay: Duration
    /// Time limit of one handler run, unless the job was enqueued with its own; nil: none.
    /// A handler past its limit is cancelled and the run counts as a failure.
    public var jobTimeout: Duration?
    /// How long `shutdown()` lets running handlers finish before cancelling them.
    public var shutdownGrace: Duration
    /// A job held by consumers that died this many times goes to the dead set instead of
    /// being requeued again (poison pill). 0: requeue forever, as curlyq does.
    public var poisonDeaths: Int
    /// How long one wait for new jobs blocks in Redis (`BLMOVE` timeout).
    public var pollTimeout: Duration

    public init(
        concurrency: Int = 1,
        heartbeatInterval: Duration = .seconds(5),
        consumerExpiry: Duration = .seconds(15),
        custodianInterval: Duration = .seconds(5),
        schedulerInterval: Duration = .seconds(1),
        maxAttempts: Int = 5,
        maxRetryDelay: Duration = .seconds(168 * 3600),
        jobTimeout: Duration? = nil,
        shutdownGrace: Duration = .seconds(30),
        poisonDeaths: Int = 3,
        pollTimeout: Duration = .seconds(5)
    ) {
        self.concurrency = concurrency
        self.heartbeatInterval = heartbeatInterval
        self.consumerExpiry = consumerExpiry
        self.custodianInterval = custodianInterval
        self.schedulerInterval = schedulerInterval
        self.maxAttempts = maxAttempts
        self.maxRetryDelay = maxRetryDelay
        self.jobTimeout = jobTimeout
        self.shutdownGrace = shutdownGrace
        self.poisonDeaths = poisonDeaths
        self.pollTimeout = pollTimeout
    }

    /// How long a stale consumer must stay stale, with the same heartbeat score, before a
    /// custodian takes it for dead: a live consumer gets a heartbeat through within one
    /// interval plus the client's reconnection pauses (≤ 2 s) once Redis answers again.
    var deathConfirmationDelay: Duration {
        heartbeatInterval + .seconds(2)
    }

    /// The options with out-of-range values brought into range (at least one slot, positive
    /// intervals, an expiry of at least two heartbeats).
    var normalized: QueueOptions {
        var options = self
        let minimumInterval = Duration.milliseconds(10)
        options.concurrency = max(1, concurrency)
        options.heartbeatInterval = max(minimumInterval, heartbeatInterval)
        options.consumerExpiry = max(options.heartbeatInterval * 2, consumerExpiry, .seconds(1))
        options.custodianInterval = max(minimumInterval, custodianInterval)
        options.schedulerInterval = max(minimumInterval, schedulerInterval)
        options.maxAttempts = max(0, maxAttempts)
        options.maxRetryDelay = max(.zero, maxRetryDelay)
        if let jobTimeout, jobTimeout <= .zero { options.jobTimeout = nil }
        options.shutdownGrace = max(.zero, shutdownGrace)
        options.poisonDeaths = max(0, poisonDeaths)
        options.pollTimeout = max(.milliseconds(100), pollTimeout)
        return options
    }
}
