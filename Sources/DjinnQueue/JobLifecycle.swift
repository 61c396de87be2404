/// A job this consumer reserved, as the reserve script returned it.
struct ReservedJob: Sendable, Equatable {
    var id: String
    /// The stored envelope bytes; nil when `Q:data` had no message for the id.
    var message: [UInt8]?
    var enqueuedAtMilliseconds: Int64?
    /// The job's own time limit from `Q:options`.
    var timeout: Duration?
}

/// How one handler run ended.
enum HandlerOutcome: Sendable, Equatable {
    case succeeded
    /// The handler threw; the text describes the error.
    case failed(String)
    /// The handler threw `JobFailure.permanent`.
    case failedPermanently(String)
    /// The handler ran past its time limit and was cancelled.
    case timedOut(Duration)
    /// The handler failed after the consumer cancelled it at shutdown: not the job's fault.
    case interrupted
}

/// What the consumer tells Redis about a job it holds (one operation of the settle script).
enum Settlement: Sendable, Equatable {
    case ack(id: String)
    /// Back to `Q:scheduled`, due at `dueAt` (whole Unix seconds), with `message` (attempt + 1).
    case retry(id: String, message: [UInt8], dueAt: Int64, error: String)
    /// To `Q:dead`; `message` nil keeps the stored one (an undecodable or missing message).
    case kill(id: String, message: [UInt8]?, error: String)
    /// Back to the head of `Q:active`, message unchanged (not an attempt).
    case requeue(id: String)

    var id: String {
        switch self {
        case .ack(let id), .retry(let id, _, _, _), .kill(let id, _, _), .requeue(let id): return id
        }
    }
}

/// The lifecycle rules of one job, free of I/O: from a reserved job and how its run ended
/// to what is written back. curlyq's rules (djinn-behaviour.md §3.5), plus permanent
/// failures, timeouts and shutdown interruptions.
struct JobLifecycle: Sendable {
    /// Retries allowed: a failed run with `attempt < maxAttempts` is retried.
    var maxAttempts: Int
    var maxRetryDelay: Duration
    /// Longest error text stored in `Q:errors`.
    static let maximumErrorLength = 4096

    init(maxAttempts: Int, maxRetryDelay: Duration) {
        self.maxAttempts = maxAttempts
        self.maxRetryDelay = maxRetryDelay
    }

    init(options: QueueOptions) {
        self.init(maxAttempts: options.maxAttempts, maxRetryDelay: options.maxRetryDelay)
    }

    /// The job as the handler will see it, or the settlement of a job that cannot run
    /// (its message is missing or is not a valid envelope).
    func prepare(_ job: ReservedJob, defaultTimeout: Duration?) -> Result<QueueJob, KilledBeforeRun> {
        guard let message = job.message else {
            return .failure(KilledBeforeRun(.kill(id: job.id, message: nil, error: "message missing from Q:data")))
        }
        do {
            let envelope = try Envelope(decoding: message)
            return .success(QueueJob(id: job.id, envelope: envelope, enqueuedAtMilliseconds: job.enqueuedAtMilliseconds,
                                     timeout: job.timeout ?? defaultTimeout))
        } catch {
            return .failure(KilledBeforeRun(.kill(id: job.id, message: nil, error: "undecodable message: \(error.message)")))
        }
    }

    struct KilledBeforeRun: Error, Equatable {
        let settlement: Settlement
        init(_ settlement: Settlement) { self.settlement = settlement }
    }

    /// What to write back after a run. `nowMilliseconds` is the wall clock; `random` is
    /// uniform in [0, 1) and spreads retry delays.
    func settlement(of job: QueueJob, outcome: HandlerOutcome, nowMilliseconds: Int64, random: Double) -> Settlement {
        let error: String
        switch outcome {
        case .succeeded:
            return .ack(id: job.id)
        case .interrupted:
            return .requeue(id: job.id)
        case .failedPermanently(let reason):
            return kill(job, error: "permanent failure: " + reason)
        case .timedOut(let limit):
            error = "timed out after \(Self.describe(limit))"
        case .failed(let text):
            error = text
        }
        guard job.envelope.attempt < Int64(maxAttempts) else {
            return kill(job, error: error)
        }
        var envelope = job.envelope
        envelope.attempt += 1
        let delay = retryDelay(attempt: job.envelope.attempt, random: random)
        // curlyq: ZADD score = floor(now + delay) in whole seconds.
        let dueAt = (nowMilliseconds + delay.wholeMilliseconds) / 1000
        return .retry(id: job.id, message: envelope.encoded(), dueAt: dueAt, error: Self.clipped(error))
    }

    /// curlyq's backoff: min((1 + r) · 2^attempt / 2 seconds, maxRetryDelay).
    func retryDelay(attempt: Int64, random: Double) -> Duration {
        let exponent = Double(max(0, min(attempt, 64)))
        let seconds = (1 + random) * Double(sign: .plus, exponent: Int(exponent), significand: 1) / 2
        let cap = maxRetryDelay.secondsDouble
        if !(seconds < cap) { return maxRetryDelay }
        return .milliseconds(Int64(seconds * 1000))
    }

    private func kill(_ job: QueueJob, error: String) -> Settlement {
        var envelope = job.envelope
        envelope.attempt += 1
        return .kill(id: job.id, message: envelope.encoded(), error: Self.clipped(error))
    }

    static func clipped(_ text: String) -> String {
        guard text.utf8.count > maximumErrorLength else { return text }
        var end = text.utf8.index(text.utf8.startIndex, offsetBy: maximumErrorLength)
        // Don't cut a UTF-8 sequence: step back over continuation bytes.
        while end > text.utf8.startIndex && text.utf8[end] & 0xC0 == 0x80 {
            end = text.utf8.index(before: end)
        }
        return String(text[..<end]) + "…"
    }

    static func describe(_ duration: Duration) -> String {
        let milliseconds = duration.wholeMilliseconds
        if milliseconds % 1000 == 0 { return "\(milliseconds / 1000)s" }
        return "\(WallClock.secondsText(milliseconds: milliseconds))s"
    }

    /// The text stored for a handler's error.
    static func describe(_ error: any Error) -> String {
        let text = String(describing: error)
        return text.isEmpty ? String(reflecting: type(of: error)) : text
    }
}
