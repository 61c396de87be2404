/// Something to show while following a build.
public enum FollowEvent: Sendable, Equatable {
    /// A job's status changed (jobs start `queued`, which is not reported).
    case jobStatus(stage: String, job: String, status: BuildStatus)
    /// Output a job wrote since the last event for it.
    case jobOutput(stage: String, job: String, text: String)
    /// The build reached a final status; `output` is the build's own (e.g. why it failed).
    case finished(status: BuildStatus, output: String?)
}

/// Turns successive `BuildSnapshot`s of one build into `FollowEvent`s: each job's status
/// changes and new output once, in execution order. A finished job's output comes before its
/// final status; a job that starts reports `running` before its output, also when it started
/// and finished between two snapshots (then seen only by its output and final status).
public struct BuildFollower: Sendable {
    private var statuses: [Int64: BuildStatus] = [:]
    /// Characters of each job's output already reported.
    private var offsets: [Int64: Int] = [:]
    public private(set) var isFinished = false

    public init() {}

    /// The events `snapshot` brings; `fetchOutput(jobID, offset)` reads a job's output from a
    /// character offset.
    public mutating func events(
        for snapshot: BuildSnapshot, fetchOutput: (Int64, Int) async throws -> String
    ) async throws -> [FollowEvent] {
        guard !isFinished else { return [] }
        var events: [FollowEvent] = []
        for job in snapshot.jobs {
            let previous = statuses[job.id] ?? .queued
            let statusChanged = job.status != previous
            var output: FollowEvent?
            let offset = offsets[job.id] ?? 0
            if job.outputLength > offset {
                let text = try await fetchOutput(job.id, offset)
                if !text.isEmpty {
                    offsets[job.id] = offset + text.unicodeScalars.count
                    output = .jobOutput(stage: job.stage, job: job.name, text: text)
                }
            }
            let status: FollowEvent? = statusChanged ? .jobStatus(stage: job.stage, job: job.name, status: job.status) : nil
            statuses[job.id] = job.status
            if job.status.isFinished {
                // A job that ran between two polls: its output shows it ran, so say so first.
                if previous == .queued, output != nil {
                    events.append(.jobStatus(stage: job.stage, job: job.name, status: .running))
                }
                events += [output, status].compactMap { $0 }
            } else {
                events += [status, output].compactMap { $0 }
            }
        }
        if snapshot.status.isFinished {
            isFinished = true
            events.append(.finished(status: snapshot.status, output: snapshot.output))
        }
        return events
    }

    /// Polls `store` every `interval` and hands each event to `onEvent` until the build
    /// finishes; returns its final status.
    public static func follow(
        buildID: Int64, store: BuildStore, interval: Duration = .milliseconds(250), onEvent: (FollowEvent) -> Void
    ) async throws -> BuildStatus {
        var follower = BuildFollower()
        while true {
            guard let snapshot = try await store.snapshot(buildID: buildID) else {
                throw BuildFollowError.buildNotFound(buildID)
            }
            let events = try await follower.events(for: snapshot) { jobID, offset in
                try await store.jobOutput(jobID: jobID, from: offset)
            }
            events.forEach(onEvent)
            if follower.isFinished { return snapshot.status }
            try await Task.sleep(for: interval)
        }
    }
}

public enum BuildFollowError: Error, Sendable, Equatable, CustomStringConvertible {
    case buildNotFound(Int64)

    public var description: String {
        switch self {
        case .buildNotFound(let id): "no build with id \(id)"
        }
    }
}
