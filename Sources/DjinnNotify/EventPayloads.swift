import Foundation

/// The JSON payloads of Djinn's events (spec §4.9, §7 step 5), as the server's JSON methods
/// write them. `apiServer` is `$DJINN_API_SERVER` (the prefix of every URL in them).
public enum EventPayloads {
    /// `{email, username, created_at}`.
    public static func user(_ user: UserSnapshot) -> JSONValue {
        .object([
            ("email", .string(user.email)),
            ("username", .string(user.username)),
            ("created_at", .time(user.createdAt)),
        ])
    }

    /// The namespace's fields and URLs, with its owner as `user`. (The server also nests the
    /// namespace's last `build` and its `parent` when it has loaded them; the worker does not.)
    public static func namespace(_ namespace: NamespaceSnapshot, apiServer: String) -> JSONValue {
        let owner = namespace.owner?.username ?? ""
        let url = "\(apiServer)/n/\(owner)/\(namespace.path)"
        var members: [(String, JSONValue)] = [
            ("id", .int(namespace.id)),
            ("user_id", .int(namespace.userID)),
            ("root_id", .optional(namespace.rootID)),
            ("parent_id", .optional(namespace.parentID)),
            ("name", .string(namespace.name)),
            ("path", .string(namespace.path)),
            ("description", .string(namespace.description)),
            ("visibility", .string(namespace.visibility)),
            ("created_at", .time(namespace.createdAt)),
            ("url", .string(url)),
        ]
        for section in ["builds", "namespaces", "images", "objects", "variables", "keys", "invites", "collaborators", "webhooks"] {
            members.append(("\(section)_url", .string("\(url)/-/\(section)")))
        }
        if let ownerSnapshot = namespace.owner { members.append(("user", user(ownerSnapshot))) }
        return .object(members)
    }

    /// The build event payload (`build.started`, `build.finished`), manifest included.
    public static func build(_ build: BuildSnapshot, apiServer: String) -> JSONValue {
        let url = "\(apiServer)/b/\(build.owner.username)/\(build.number)"
        var members: [(String, JSONValue)] = [
            ("id", .int(build.id)),
            ("user_id", .int(build.userID)),
            ("namespace_id", .optional(build.namespaceID)),
            ("number", .int(build.number)),
            ("manifest", .string(build.manifest)),
            ("status", .string(build.status)),
            ("output", .optional(build.output)),
            ("tags", .array(build.tags.sorted().map { .string($0) })),
            ("pinned", .bool(build.pinned)),
            ("created_at", .time(build.createdAt)),
            ("started_at", .time(build.startedAt)),
            ("finished_at", .time(build.finishedAt)),
            ("url", .string(url)),
        ]
        for section in ["objects", "variables", "jobs", "artifacts", "tags"] {
            members.append(("\(section)_url", .string("\(url)/\(section)")))
        }
        if let trigger = build.trigger {
            members.append(("trigger", .object([
                ("type", .string(trigger.type)),
                ("comment", .string(trigger.comment)),
                ("data", .stringMap(trigger.data)),
            ])))
        }
        members.append(("user", user(build.owner)))
        if let namespace = build.namespace { members.append(("namespace", self.namespace(namespace, apiServer: apiServer))) }
        return .object(members)
    }

    /// The consumer's `images` event: `{"image": …, "action": "downloaded"}`.
    public static func imageDownloaded(_ image: ImageSnapshot, apiServer: String) -> JSONValue {
        var members: [(String, JSONValue)] = [
            ("id", .int(image.id)),
            ("author_id", .int(image.authorID)),
            ("user_id", .int(image.userID)),
            ("namespace_id", .optional(image.namespaceID)),
            ("driver", .string(image.driver)),
            ("name", .string(image.name)),
            ("created_at", .time(image.createdAt)),
            ("url", .string("\(apiServer)/images/\(image.id)")),
        ]
        if let author = image.author { members.append(("author", user(author))) }
        if let owner = image.owner { members.append(("user", user(owner))) }
        if let namespace = image.namespace { members.append(("namespace", self.namespace(namespace, apiServer: apiServer))) }
        if let download = image.download {
            members.append(("download", .object([
                ("id", .int(download.id)),
                ("source", .string(download.source)),
                ("error", .optional(download.error)),
                ("created_at", .time(download.createdAt)),
                ("started_at", .time(download.startedAt)),
                ("finished_at", .time(download.finishedAt)),
            ])))
        }
        return .object([("image", .object(members)), ("action", .string("downloaded"))])
    }
}

/// An `images` row with what its event names.
public struct ImageSnapshot: Sendable, Equatable {
    public struct Download: Sendable, Equatable {
        public var id: Int64
        /// As stored: lower-cased, password redacted.
        public var source: String
        public var error: String?
        public var createdAt: Date?
        public var startedAt: Date?
        public var finishedAt: Date?

        public init(id: Int64, source: String, error: String?, createdAt: Date?, startedAt: Date?, finishedAt: Date?) {
            self.id = id
            self.source = source
            self.error = error
            self.createdAt = createdAt
            self.startedAt = startedAt
            self.finishedAt = finishedAt
        }
    }

    public var id: Int64
    public var authorID: Int64
    public var userID: Int64
    public var namespaceID: Int64?
    public var driver: String
    public var name: String
    public var createdAt: Date?
    public var author: UserSnapshot?
    public var owner: UserSnapshot?
    public var namespace: NamespaceSnapshot?
    public var download: Download?

    public init(
        id: Int64, authorID: Int64, userID: Int64, namespaceID: Int64?, driver: String, name: String, createdAt: Date?,
        author: UserSnapshot?, owner: UserSnapshot?, namespace: NamespaceSnapshot?, download: Download?
    ) {
        self.id = id
        self.authorID = authorID
        self.userID = userID
        self.namespaceID = namespaceID
        self.driver = driver
        self.name = name
        self.createdAt = createdAt
        self.author = author
        self.owner = owner
        self.namespace = namespace
        self.download = download
    }
}
