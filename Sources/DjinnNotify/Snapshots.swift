import Foundation

/// A `users` row as payloads and mail need it.
public struct UserSnapshot: Sendable, Equatable {
    public var id: Int64
    public var email: String
    public var username: String
    public var createdAt: Date?

    public init(id: Int64, email: String, username: String, createdAt: Date?) {
        self.id = id
        self.email = email
        self.username = username
        self.createdAt = createdAt
    }
}

/// A `namespaces` row with its owner.
public struct NamespaceSnapshot: Sendable, Equatable {
    public var id: Int64
    public var userID: Int64
    public var rootID: Int64?
    public var parentID: Int64?
    public var name: String
    public var path: String
    public var description: String
    public var visibility: String
    public var createdAt: Date?
    public var owner: UserSnapshot?

    public init(
        id: Int64, userID: Int64, rootID: Int64?, parentID: Int64?, name: String, path: String, description: String,
        visibility: String, createdAt: Date?, owner: UserSnapshot?
    ) {
        self.id = id
        self.userID = userID
        self.rootID = rootID
        self.parentID = parentID
        self.name = name
        self.path = path
        self.description = description
        self.visibility = visibility
        self.createdAt = createdAt
        self.owner = owner
    }
}

/// A `build_triggers` row.
public struct TriggerSnapshot: Sendable, Equatable {
    /// `manual`, `push`, `pull` or `schedule`.
    public var type: String
    public var comment: String
    /// `build_triggers.data`: an object of strings (`sha`, `ref`, `action`, `email`, …).
    public var data: [String: String]
    public var providerID: Int64?
    public var repoID: Int64?

    public init(type: String, comment: String, data: [String: String], providerID: Int64? = nil, repoID: Int64? = nil) {
        self.type = type
        self.comment = comment
        self.data = data
        self.providerID = providerID
        self.repoID = repoID
    }
}

/// A build as its events, mail and commit statuses describe it, read once when the event
/// happens (never a shared, changing object: Go's bug 22 delivered `build.started` payloads
/// with the finished build in them).
public struct BuildSnapshot: Sendable, Equatable {
    public var id: Int64
    public var userID: Int64
    public var namespaceID: Int64?
    public var number: Int64
    public var manifest: String
    public var status: String
    public var output: String?
    /// Sorted names.
    public var tags: [String]
    public var pinned: Bool
    public var createdAt: Date?
    public var startedAt: Date?
    public var finishedAt: Date?
    public var trigger: TriggerSnapshot?
    public var owner: UserSnapshot
    public var namespace: NamespaceSnapshot?

    public init(
        id: Int64, userID: Int64, namespaceID: Int64?, number: Int64, manifest: String, status: String, output: String?,
        tags: [String], pinned: Bool, createdAt: Date?, startedAt: Date?, finishedAt: Date?, trigger: TriggerSnapshot?,
        owner: UserSnapshot, namespace: NamespaceSnapshot?
    ) {
        self.id = id
        self.userID = userID
        self.namespaceID = namespaceID
        self.number = number
        self.manifest = manifest
        self.status = status
        self.output = output
        self.tags = tags
        self.pinned = pinned
        self.createdAt = createdAt
        self.startedAt = startedAt
        self.finishedAt = finishedAt
        self.trigger = trigger
        self.owner = owner
        self.namespace = namespace
    }
}
