import DjinnPostgres
import Foundation

/// The schema's `status` enum, for builds and jobs.
public enum BuildStatus: String, Sendable, CaseIterable, PostgresEnum {
    case queued, running, passed
    case passedWithFailures = "passed_with_failures"
    case failed, killed
    case timedOut = "timed_out"

    /// Queued and running builds are not finished; every other status is final.
    public var isFinished: Bool { self != .queued && self != .running }
}

/// What started a build (`build_triggers`).
public struct BuildTrigger: Sendable, Equatable {
    /// The schema's `trigger_type` enum.
    public enum Kind: String, Sendable, CaseIterable, PostgresEnum {
        case manual, push, pull, schedule
    }

    public var type: Kind
    public var comment: String
    /// Stored as a JSON object of strings (e.g. `email`, `username` of a manual or cron build).
    public var data: [String: String]
    /// `providers.id` for push/pull triggers.
    public var providerID: Int64?
    /// `provider_repos.id` for push/pull triggers.
    public var repoID: Int64?

    public init(type: Kind, comment: String = "", data: [String: String] = [:], providerID: Int64? = nil, repoID: Int64? = nil) {
        self.type = type
        self.comment = comment
        self.data = data
        self.providerID = providerID
        self.repoID = repoID
    }

    /// A manual build by `user` (what the server and djinnctl write).
    public static func manual(by user: UserRecord, comment: String = "") -> BuildTrigger {
        BuildTrigger(type: .manual, comment: comment, data: ["email": user.email, "username": user.username])
    }
}

/// The columns of a `users` row the build code needs.
public struct UserRecord: Sendable, Equatable {
    public var id: Int64
    public var username: String
    public var email: String

    public init(id: Int64, username: String, email: String) {
        self.id = id
        self.username = username
        self.email = email
    }
}

/// A `namespaces` row.
public struct NamespaceRecord: Sendable, Equatable {
    public var id: Int64
    public var userID: Int64
    /// The top namespace of the tree (its own id for a root). Collaborators are recorded there.
    public var rootID: Int64
    public var parentID: Int64?
    public var name: String
    public var path: String
    public var level: Int
    public var visibility: String

    public init(id: Int64, userID: Int64, rootID: Int64, parentID: Int64?, name: String, path: String, level: Int, visibility: String) {
        self.id = id
        self.userID = userID
        self.rootID = rootID
        self.parentID = parentID
        self.name = name
        self.path = path
        self.level = level
        self.visibility = visibility
    }
}

/// Random tokens Djinn stores as lowercase hex (build secrets, artifact hashes).
public enum RandomHex {
    private static let digits = Array("0123456789abcdef".utf8)

    /// From the system's CSPRNG, eight bytes per draw (each draw is a system call on Linux).
    public static func make(byteCount: Int) -> String {
        var generator = SystemRandomNumberGenerator()
        var hex: [UInt8] = []
        hex.reserveCapacity(byteCount * 2)
        var remaining = byteCount
        while remaining > 0 {
            var word = generator.next()
            for _ in 0..<min(8, remaining) {
                let byte = Int(word & 0xff)
                hex.append(digits[byte >> 4])
                hex.append(digits[byte & 0x0f])
                word >>= 8
            }
            remaining -= 8
        }
        return String(decoding: hex, as: UTF8.self)
    }
}

/// Strictly increasing UTC timestamps one microsecond apart, so that rows written in one
/// submission (stages, jobs) sort by `created_at` in the order they were created — the worker
/// orders stages and jobs by it — even within one clock tick.
struct TimestampSequence {
    /// Microseconds since Date's reference date (2001), so one rounding makes each Date.
    private var micros: Int64

    init(start: Date = Date()) {
        micros = Int64((start.timeIntervalSinceReferenceDate * 1_000_000).rounded(.down))
    }

    mutating func next() -> Date {
        defer { micros += 1 }
        return Date(timeIntervalSinceReferenceDate: Double(micros) / 1_000_000)
    }
}
