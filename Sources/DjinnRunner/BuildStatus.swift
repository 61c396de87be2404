/// The status of a build or a build job: the PostgreSQL enum `status` (spec §4.4).
///
/// Cases are declared in increasing precedence; the status of a build is the maximum of
/// `running` and every completed job's status, so a timeout outranks everything.
public enum BuildStatus: String, Sendable, Hashable, CaseIterable, Comparable, CustomStringConvertible {
    case queued
    case running
    case passed
    case passedWithFailures = "passed_with_failures"
    case failed
    case killed
    case timedOut = "timed_out"

    /// Position in the precedence order (`queued` = 0 … `timed_out` = 6).
    public var precedence: Int {
        switch self {
        case .queued: return 0
        case .running: return 1
        case .passed: return 2
        case .passedWithFailures: return 3
        case .failed: return 4
        case .killed: return 5
        case .timedOut: return 6
        }
    }

    public static func < (lhs: BuildStatus, rhs: BuildStatus) -> Bool {
        lhs.precedence < rhs.precedence
    }

    /// The status with the higher precedence (what a build becomes after a job ends).
    public func combined(with other: BuildStatus) -> BuildStatus {
        Swift.max(self, other)
    }

    /// True for the statuses a build or job ends in.
    public var isFinal: Bool {
        self != .queued && self != .running
    }

    /// True for the statuses the failure mail is sent for (spec §4.10).
    public var isFailure: Bool {
        self == .failed || self == .killed || self == .timedOut
    }

    /// The PostgreSQL enum label.
    public var description: String { rawValue }
}
