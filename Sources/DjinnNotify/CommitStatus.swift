import Foundation

/// A commit status for a pull-request build (spec §4.11): where it goes and what it says.
public struct CommitStatusRequest: Sendable, Equatable {
    public enum Provider: String, Sendable, CaseIterable {
        case github, gitlab
    }

    public static let context = "continuous-integration/djinn-ci"

    public var url: String
    /// The JSON body.
    public var body: JSONValue
    /// `Authorization: Bearer <token>`, JSON content and accept types.
    public var headers: [HTTPHeader]

    /// GitHub: `POST <endpoint>/repos/<repo name>/statuses/<sha>`; GitLab:
    /// `POST <endpoint>/projects/<repo id>/statuses/<sha>` with `id` and `sha` in the body too.
    public init(
        provider: Provider, endpoint: String, repoName: String, repoID: Int64, sha: String, status: String,
        targetURL: String, token: String
    ) {
        let base = endpoint.hasSuffix("/") ? String(endpoint.dropLast()) : endpoint
        var members: [(String, JSONValue)] = []
        switch provider {
        case .github:
            url = "\(base)/repos/\(repoName)/statuses/\(sha)"
        case .gitlab:
            url = "\(base)/projects/\(repoID)/statuses/\(sha)"
            members += [("id", .int(repoID)), ("sha", .string(sha))]
        }
        members += [
            ("state", .string(Self.state(provider, status))),
            ("target_url", .string(targetURL)),
            ("description", .string(Self.description(status))),
            ("context", .string(Self.context)),
        ]
        body = .object(members)
        headers = [
            HTTPHeader("Accept", "application/json"),
            HTTPHeader("Authorization", "Bearer \(token)"),
            HTTPHeader("Content-Type", "application/json"),
            HTTPHeader("User-Agent", "djinn-worker"),
        ]
    }

    /// The provider's state for a build status.
    public static func state(_ provider: Provider, _ status: String) -> String {
        switch (provider, status) {
        case (.github, "queued"), (.github, "running"): return "pending"
        case (.github, "passed"), (.github, "passed_with_failures"): return "success"
        case (.github, _): return "failure"
        case (.gitlab, "queued"): return "pending"
        case (.gitlab, "running"): return "running"
        case (.gitlab, "passed"), (.gitlab, "passed_with_failures"): return "success"
        case (.gitlab, "failed"): return "failed"
        case (.gitlab, _): return "canceled"
        }
    }

    public static func description(_ status: String) -> String {
        switch status {
        case "queued": return "Build is queued."
        case "running": return "Build is running."
        case "passed": return "Build has passed."
        case "passed_with_failures": return "Build has passed with failures."
        case "failed": return "Build has failed."
        case "killed": return "Build was killed."
        case "timed_out": return "Build has timed out."
        default: return "Build is \(status)."
        }
    }
}
