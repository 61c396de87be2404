import DjinnManifest
import DjinnPostgres
import Foundation

/// Resolves a manifest's `path[@owner]` to a namespace as Djinn does (spec §6.4 step 2): the
/// owner is the named user or the submitter; a namespace missing from the owner's tree is
/// created, with any missing parents, as private (or with its parent's visibility); the
/// submitter must own it or collaborate on its root.
///
/// Run it inside a transaction so that a refused submission leaves no namespace behind, and
/// hold a lock that serialises submissions for the owner (`BuildSubmitter` does both), so that
/// two submissions do not create the same namespace twice.
public struct NamespaceStore: Sendable {
    public let database: any PostgresQueryable

    public init(_ database: any PostgresQueryable) {
        self.database = database
    }

    /// The user a path's namespace belongs to.
    public func owner(of path: NamespacePath, submitter: UserRecord) async throws -> UserRecord {
        guard let name = path.owner, name != submitter.username else { return submitter }
        guard let owner = try await UserStore(database).find(username: name) else {
            throw BuildSubmissionError.namespaceOwnerNotFound(namespace: path.description, owner: name)
        }
        return owner
    }

    /// The namespace at `path` in `owner`'s tree, created if missing, after checking that
    /// `submitter` may submit to it.
    public func resolve(_ path: NamespacePath, owner: UserRecord, submitter: UserRecord, createdAt: Date = Date()) async throws
        -> NamespaceRecord
    {
        let namespace: NamespaceRecord
        if let existing = try await find(ownerID: owner.id, path: path.path) {
            namespace = existing
        } else {
            namespace = try await create(path, owner: owner, createdAt: createdAt)
        }
        guard try await canSubmit(submitter, to: namespace) else {
            throw BuildSubmissionError.notCollaborator(namespace: path.path + "@" + owner.username, username: submitter.username)
        }
        return namespace
    }

    public func find(ownerID: Int64, path: String) async throws -> NamespaceRecord? {
        try await database.query("""
            SELECT id, user_id, root_id, parent_id, name, path, level, visibility::text AS visibility
            FROM namespaces WHERE user_id = $1 AND path = $2 ORDER BY id LIMIT 1
            """, [ownerID, path]).first.map(Self.record)
    }

    /// The owner, and the collaborators of the namespace's root (where Djinn records them).
    public func canSubmit(_ user: UserRecord, to namespace: NamespaceRecord) async throws -> Bool {
        if namespace.userID == user.id { return true }
        let rows = try await database.query(
            "SELECT 1 FROM namespace_collaborators WHERE namespace_id = $1 AND user_id = $2 LIMIT 1",
            [namespace.rootID, user.id])
        return !rows.isEmpty
    }

    /// Creates the missing namespaces along `path`, each under the previous one.
    private func create(_ path: NamespacePath, owner: UserRecord, createdAt: Date) async throws -> NamespaceRecord {
        var parent: NamespaceRecord?
        var prefix = ""
        for segment in path.segments {
            prefix = prefix.isEmpty ? segment : prefix + "/" + segment
            if let existing = try await find(ownerID: owner.id, path: prefix) {
                parent = existing
                continue
            }
            let level = parent.map { $0.level + 1 } ?? 0
            let visibility = parent?.visibility ?? "private"
            let id = try await database.query("""
                INSERT INTO namespaces (user_id, root_id, parent_id, name, path, description, level, visibility, created_at)
                VALUES ($1, $2, $3, $4, $5, '', $6, $7, $8)
                RETURNING id
                """, [owner.id, parent?.rootID, parent?.id, segment, prefix, level, visibility, createdAt])[0]
                .decode(Int64.self, at: 0)
            var created = NamespaceRecord(
                id: id, userID: owner.id, rootID: parent?.rootID ?? id, parentID: parent?.id, name: segment,
                path: prefix, level: level, visibility: visibility)
            if parent == nil {
                try await database.execute("UPDATE namespaces SET root_id = $1 WHERE id = $1", [id])
                created.rootID = id
            }
            parent = created
        }
        // segments is never empty for a parsed path
        return parent!
    }

    static func record(_ row: PostgresRow) throws -> NamespaceRecord {
        let id = try row.decode(Int64.self, column: "id")
        return NamespaceRecord(
            id: id,
            userID: try row.decode(Int64.self, column: "user_id"),
            rootID: try row.decode(Int64?.self, column: "root_id") ?? id,
            parentID: try row.decode(Int64?.self, column: "parent_id"),
            name: try row.decode(String.self, column: "name"),
            path: try row.decode(String.self, column: "path"),
            level: try row.decode(Int.self, column: "level"),
            visibility: try row.decode(String?.self, column: "visibility") ?? "private")
    }
}
