import Foundation

/// One job as a consumer's handler receives it.
public struct QueueJob: Sendable, Equatable {
    /// The job id (the key in `Q:data`).
    public let id: String
    /// Earlier failed runs (0 on the first run).
    public let attempt: Int
    /// The payload (a gob stream for Djinn's queues); decoding it is the handler's job. A
    /// handler that cannot decode it should throw `JobFailure.permanent`.
    public let data: [UInt8]
    /// Unix milliseconds the job became ready (see `enqueuedAt`).
    public let enqueuedAtMilliseconds: Int64?
    /// This run's time limit (the job's own, else `QueueOptions.jobTimeout`), if any.
    public let timeout: Duration?
    /// The envelope as stored (its `id` is what the producer wrote, normally `id`).
    public let envelope: Envelope

    /// A job as a consumer would hand it over (for testing handlers).
    public init(id: String, data: [UInt8], attempt: Int = 0, enqueuedAtMilliseconds: Int64? = nil,
                timeout: Duration? = nil) {
        self.init(id: id, envelope: Envelope(id: id, data: data, attempt: Int64(attempt)),
                  enqueuedAtMilliseconds: enqueuedAtMilliseconds, timeout: timeout)
    }

    init(id: String, envelope: Envelope, enqueuedAtMilliseconds: Int64?, timeout: Duration?) {
        self.id = id
        self.attempt = Int(truncatingIfNeeded: envelope.attempt)
        self.data = envelope.data
        self.enqueuedAtMilliseconds = enqueuedAtMilliseconds
        self.timeout = timeout
        self.envelope = envelope
    }

    /// When the job became ready to run: when our producer enqueued it, or the time it was
    /// due for a delayed enqueue or a retry. Nil for jobs from Go producers, which do not
    /// record it.
    public var enqueuedAt: Date? {
        enqueuedAtMilliseconds.map { Date(timeIntervalSince1970: Double($0) / 1000) }
    }
}

/// Errors a handler throws to steer what happens to its job.
public enum JobFailure: Error, Sendable, Equatable, CustomStringConvertible {
    /// The job can never succeed (bad payload, unknown build …): it goes straight to the dead
    /// set with this reason, without retries.
    case permanent(String)

    public var description: String {
        switch self {
        case .permanent(let reason): return reason
        }
    }
}

/// What a producer enqueued.
public struct EnqueueResult: Sendable, Equatable {
    public let id: String
    /// False when a job with this id already existed (nothing was changed).
    public let enqueued: Bool

    public init(id: String, enqueued: Bool) {
        self.id = id
        self.enqueued = enqueued
    }
}

/// Per-job settings stored in the extra hash `Q:options` as `key=value` pairs joined by `;`
/// (today only `timeout_ms`); unknown keys are ignored so that older readers keep working.
struct JobOptions: Equatable {
    var timeout: Duration?

    var isEmpty: Bool { timeout == nil }

    var encoded: String {
        guard let timeout else { return "" }
        return "timeout_ms=\(max(1, timeout.wholeMilliseconds))"
    }

    init(timeout: Duration?) {
        self.timeout = timeout
    }

    init(decoding text: String) {
        timeout = nil
        for pair in text.split(separator: ";") {
            let parts = pair.split(separator: "=", maxSplits: 1)
            guard parts.count == 2 else { continue }
            if parts[0] == "timeout_ms", let milliseconds = Int64(parts[1]), milliseconds > 0 {
                timeout = .milliseconds(milliseconds)
            }
        }
    }
}
