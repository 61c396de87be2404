import Foundation

/// A mail ready for SMTP: envelope and the RFC 5322 text.
public struct MailMessage: Sendable, Equatable {
    public var from: String
    /// Envelope recipients, each once.
    public var recipients: [String]
    public var subject: String
    /// Plain text with `\n` line ends.
    public var body: String

    public init(from: String, recipients: [String], subject: String, body: String) {
        self.from = from
        self.recipients = recipients
        self.subject = subject
        self.body = body
    }

    /// SMTP lines may hold at most 998 octets; longer build output lines are broken.
    static let maximumLineOctets = 990

    /// The message as sent: headers (`From`, `To`, `Subject`, `Date`, MIME), a blank line and
    /// the body, CRLF line ends. (libcurl dot-stuffs it on the wire.)
    public func rendered(date: Date = Date()) -> String {
        var lines = [
            "From: \(Self.headerSafe(from))",
            "To: \(recipients.map(Self.headerSafe).joined(separator: ", "))",
            "Subject: \(Self.headerSafe(subject))",
            "Date: \(Self.rfc5322Date(date))",
            "MIME-Version: 1.0",
            "Content-Type: text/plain; charset=utf-8",
            "Content-Transfer-Encoding: 8bit",
            "",
        ]
        let normalised = body.replacingOccurrences(of: "\r\n", with: "\n").replacingOccurrences(of: "\r", with: "\n")
        for line in normalised.split(separator: "\n", omittingEmptySubsequences: false) {
            lines += Self.wrap(String(line))
        }
        return lines.joined(separator: "\r\n") + "\r\n"
    }

    /// Header values cannot hold line breaks (header injection).
    static func headerSafe(_ value: String) -> String {
        value.replacingOccurrences(of: "\r", with: " ").replacingOccurrences(of: "\n", with: " ")
    }

    static func wrap(_ line: String) -> [String] {
        guard line.utf8.count > maximumLineOctets else { return [line] }
        var pieces: [String] = []
        var current = ""
        var octets = 0
        for scalar in line.unicodeScalars {
            let size = String(scalar).utf8.count
            if octets + size > maximumLineOctets {
                pieces.append(current)
                current = ""
                octets = 0
            }
            current.unicodeScalars.append(scalar)
            octets += size
        }
        pieces.append(current)
        return pieces
    }

    static func rfc5322Date(_ date: Date) -> String {
        let formatter = DateFormatter()
        formatter.locale = Locale(identifier: "en_US_POSIX")
        formatter.timeZone = TimeZone(identifier: "UTC")
        formatter.dateFormat = "EEE, dd MMM yyyy HH:mm:ss '+0000'"
        return formatter.string(from: date)
    }
}

/// The failure mail of a build (spec §4.10): who gets it, its subject and body.
public enum FailureMail {
    /// Final statuses that send it.
    public static let statuses: Set<String> = ["failed", "killed", "timed_out"]
    public static let tailLines = 15

    public static func subject(number: Int64, status: String) -> String {
        "Djinn CI - Build #\(number) \(status)"
    }

    /// The owner's address then the collaborators', empty ones dropped, each address once
    /// (compared case-insensitively; the first spelling is kept).
    public static func recipients(owner: String, collaborators: [String]) -> [String] {
        var seen: Set<String> = []
        var result: [String] = []
        for address in [owner] + collaborators {
            let trimmed = address.trimmingCharacters(in: .whitespaces)
            guard !trimmed.isEmpty, seen.insert(trimmed.lowercased()).inserted else { continue }
            result.append(trimmed)
        }
        return result
    }

    /// `smtp.admin` when set; else `djinn-worker@<host of the server URL>`; else
    /// `djinn-worker@<fallbackHost>` (cron builds carry `djinn-scheduler`, not a URL).
    public static func sender(admin: String, serverURL: String, fallbackHost: String) -> String {
        if !admin.isEmpty { return admin }
        if let host = URLComponents(string: serverURL)?.host, !host.isEmpty { return "djinn-worker@\(host)" }
        return "djinn-worker@\(fallbackHost)"
    }

    /// The last `count` elements of the output split on `\n` (a trailing newline makes the
    /// last element empty, as Go's).
    public static func lastLines(_ output: String, count: Int = tailLines) -> String {
        let lines = output.split(separator: "\n", omittingEmptySubsequences: false)
        return lines.suffix(count).joined(separator: "\n")
    }

    /// The comment's title and body. Title: the first line, trimmed. With no newline and more
    /// than 72 characters: the first 72 and `...`, the body being `...` and the rest. With
    /// the first newline beyond character 72: the whole first line and `...`, the body being
    /// `...` and the (trimmed) rest.
    public static func commentParts(_ comment: String) -> (title: String, body: String) {
        let characters = Array(comment)
        let limit = 72
        guard let newline = characters.firstIndex(of: "\n") else {
            if characters.count > limit {
                return (String(characters[..<limit]) + "...", "..." + String(characters[limit...]))
            }
            return (comment.trimmingCharacters(in: .whitespacesAndNewlines), "")
        }
        let firstLine = String(characters[..<newline])
        let rest = String(characters[(newline + 1)...]).trimmingCharacters(in: .whitespacesAndNewlines)
        if newline > limit {
            return (firstLine + "...", "..." + rest)
        }
        return (firstLine.trimmingCharacters(in: .whitespacesAndNewlines), rest)
    }

    /// What started the build, one line: manual `Submitted by <user> <<email>>`, push
    /// `Committed <sha[0:7]> to <ref>`, pull `<Action> pull request to <ref>`, schedule
    /// nothing; then, for a non-empty comment, a blank line, the title, a blank line, the body.
    public static func triggerSummary(_ trigger: TriggerSnapshot?) -> String {
        guard let trigger else { return "" }
        var lines: [String] = []
        let data = trigger.data
        switch trigger.type {
        case "manual":
            lines.append("Submitted by \(data["username"] ?? "") <\(data["email"] ?? "")>")
        case "push":
            lines.append("Committed \(String((data["sha"] ?? "").prefix(7))) to \(data["ref"] ?? "")")
        case "pull":
            let action = data["action"] ?? ""
            lines.append("\(action.prefix(1).uppercased() + action.dropFirst()) pull request to \(data["ref"] ?? "")")
        default:
            break
        }
        if !trigger.comment.isEmpty {
            let (title, body) = commentParts(trigger.comment)
            if !lines.isEmpty { lines.append("") }
            lines.append(title)
            if !body.isEmpty { lines += ["", body] }
        }
        return lines.joined(separator: "\n")
    }

    /// The body: the build's URL, the trigger summary between `-----` rules, and the last
    /// lines of the output.
    public static func body(buildURL: String, trigger: TriggerSnapshot?, output: String) -> String {
        """
        Build: \(buildURL)

        -----
        \(triggerSummary(trigger))
        -----

        \(lastLines(output))
        """
    }

    /// The whole mail for `build`.
    public static func message(
        for build: BuildSnapshot, collaborators: [String], serverURL: String, admin: String, fallbackHost: String
    ) -> MailMessage {
        MailMessage(
            from: sender(admin: admin, serverURL: serverURL, fallbackHost: fallbackHost),
            recipients: recipients(owner: build.owner.email, collaborators: collaborators),
            subject: subject(number: build.number, status: build.status),
            body: body(buildURL: "\(serverURL)/b/\(build.owner.username)/\(build.number)", trigger: build.trigger, output: build.output ?? ""))
    }
}
