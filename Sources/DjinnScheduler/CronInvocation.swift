import DjinnBuilds
import DjinnManifest
import Foundation

/// A `cron` row as the scheduler works with it, with its owner's name and email.
public struct CronRecord: Sendable, Equatable {
    public var id: Int64
    /// The owner (the namespace's owner for a namespaced cron).
    public var userID: Int64
    public var authorID: Int64
    public var namespaceID: Int64?
    public var name: String
    public var schedule: CronSchedule
    /// The manifest's YAML text, parsed at each invocation.
    public var manifest: String
    public var prevRun: Date?
    public var nextRun: Date
    /// nil when the owner's `users` row is deleted.
    public var owner: UserRecord?

    public init(
        id: Int64, userID: Int64, authorID: Int64, namespaceID: Int64?, name: String, schedule: CronSchedule,
        manifest: String, prevRun: Date?, nextRun: Date, owner: UserRecord?
    ) {
        self.id = id
        self.userID = userID
        self.authorID = authorID
        self.namespaceID = namespaceID
        self.name = name
        self.schedule = schedule
        self.manifest = manifest
        self.prevRun = prevRun
        self.nextRun = nextRun
        self.owner = owner
    }
}

/// What invoking a cron creates (spec §6.3), worked out without I/O.
public enum CronInvocation {
    /// `cron:<name with spaces replaced by ->`.
    public static func tag(forCronNamed name: String) -> String {
        "cron:" + name.replacingOccurrences(of: " ", with: "-")
    }

    /// `<name>: Scheduled build, next run <the due time being served, "Mon Jan 2 15:04:05 2006">`.
    public static func comment(forCronNamed name: String, dueAt nextRun: Date) -> String {
        "\(name): Scheduled build, next run \(CronTimeFormat.format(nextRun))"
    }

    /// Trigger type `schedule` with the owner's email and username as data.
    public static func trigger(for cron: CronRecord, owner: UserRecord) -> BuildTrigger {
        BuildTrigger(
            type: .schedule, comment: comment(forCronNamed: cron.name, dueAt: cron.nextRun),
            data: ["email": owner.email, "username": owner.username])
    }

    /// The manifest file name used in parse errors: `cron <id> (<name>)`.
    public static func manifestSource(for cron: CronRecord) -> String {
        "cron \(cron.id) (\(cron.name))"
    }

    /// The build request for a cron whose manifest parsed.
    public static func request(for cron: CronRecord, owner: UserRecord, manifest: Manifest) -> BuildRequest {
        BuildRequest(userID: owner.id, manifest: manifest, trigger: trigger(for: cron, owner: owner), tags: [tag(forCronNamed: cron.name)])
    }
}
