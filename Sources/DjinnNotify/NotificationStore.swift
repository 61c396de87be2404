import DjinnPostgres
import Foundation

/// The reads behind events, mail and commit statuses (worker grants: SELECT on builds,
/// build_tags, build_triggers, users, namespaces, namespace_collaborators, providers,
/// provider_repos; consumer: images, image_downloads, users, namespaces).
public struct NotificationStore: Sendable {
    public let database: any PostgresQueryable

    public init(_ database: any PostgresQueryable) {
        self.database = database
    }

    public func user(id: Int64) async throws -> UserSnapshot? {
        guard let row = try await database.query(
            "SELECT id, email, username, created_at FROM users WHERE id = $1", [id]).first
        else { return nil }
        return UserSnapshot(
            id: try row.decode(Int64.self, column: "id"), email: try row.decode(String.self, column: "email"),
            username: try row.decode(String.self, column: "username"), createdAt: try row.decode(Date?.self, column: "created_at"))
    }

    public func namespace(id: Int64) async throws -> NamespaceSnapshot? {
        guard let row = try await database.query("""
            SELECT id, user_id, root_id, parent_id, name, path, COALESCE(description, '') AS description,
                COALESCE(visibility::text, 'private') AS visibility, created_at
            FROM namespaces WHERE id = $1
            """, [id]).first
        else { return nil }
        let ownerID = try row.decode(Int64.self, column: "user_id")
        return NamespaceSnapshot(
            id: try row.decode(Int64.self, column: "id"), userID: ownerID, rootID: try row.decode(Int64?.self, column: "root_id"),
            parentID: try row.decode(Int64?.self, column: "parent_id"), name: try row.decode(String.self, column: "name"),
            path: try row.decode(String.self, column: "path"), description: try row.decode(String.self, column: "description"),
            visibility: try row.decode(String.self, column: "visibility"),
            createdAt: try row.decode(Date?.self, column: "created_at"), owner: try await user(id: ownerID))
    }

    /// The build as it is now in the database; nil when it (or its owner) is gone.
    public func build(id: Int64) async throws -> BuildSnapshot? {
        guard let row = try await database.query("""
            SELECT id, user_id, namespace_id, number, manifest, COALESCE(status::text, 'queued') AS status, output,
                COALESCE(pinned, false) AS pinned, created_at, started_at, finished_at
            FROM builds WHERE id = $1
            """, [id]).first
        else { return nil }
        let ownerID = try row.decode(Int64.self, column: "user_id")
        guard let owner = try await user(id: ownerID) else { return nil }
        let namespaceID = try row.decode(Int64?.self, column: "namespace_id")
        let tags = try await database.query("SELECT name FROM build_tags WHERE build_id = $1 ORDER BY name", [id])
            .map { try $0.decode(String.self, at: 0) }
        var trigger: TriggerSnapshot?
        if let t = try await database.query("""
            SELECT type::text AS type, comment, data::text AS data, provider_id, repo_id
            FROM build_triggers WHERE build_id = $1 ORDER BY id LIMIT 1
            """, [id]).first {
            trigger = TriggerSnapshot(
                type: try t.decode(String.self, column: "type"), comment: try t.decode(String.self, column: "comment"),
                data: Self.stringObject(try t.decode(String.self, column: "data")),
                providerID: try t.decode(Int64?.self, column: "provider_id"), repoID: try t.decode(Int64?.self, column: "repo_id"))
        }
        return BuildSnapshot(
            id: id, userID: ownerID, namespaceID: namespaceID, number: try row.decode(Int64.self, column: "number"),
            manifest: try row.decode(String.self, column: "manifest"), status: try row.decode(String.self, column: "status"),
            output: try row.decode(String?.self, column: "output"), tags: tags, pinned: try row.decode(Bool.self, column: "pinned"),
            createdAt: try row.decode(Date?.self, column: "created_at"), startedAt: try row.decode(Date?.self, column: "started_at"),
            finishedAt: try row.decode(Date?.self, column: "finished_at"), trigger: trigger, owner: owner,
            namespace: try await namespaceID.asyncMap { try await namespace(id: $0) } ?? nil)
    }

    /// The e-mail addresses of the namespace's collaborators (possibly repeated or empty).
    public func collaboratorEmails(namespaceID: Int64) async throws -> [String] {
        try await database.query("""
            SELECT u.email FROM namespace_collaborators c JOIN users u ON u.id = c.user_id
            WHERE c.namespace_id = $1 ORDER BY c.id
            """, [namespaceID]).map { try $0.decode(String.self, at: 0) }
    }

    /// A `providers` row: its name and sealed access token.
    public func provider(id: Int64) async throws -> (name: String, sealedToken: [UInt8]?)? {
        guard let row = try await database.query("SELECT name, access_token FROM providers WHERE id = $1", [id]).first
        else { return nil }
        return (try row.decode(String.self, column: "name"), try row.decode([UInt8]?.self, column: "access_token"))
    }

    /// The `provider_repos` row `id` of provider `providerID`: the repository's name and id.
    public func repo(id: Int64, providerID: Int64) async throws -> (name: String, repoID: Int64)? {
        guard let row = try await database.query(
            "SELECT COALESCE(name, '') AS name, repo_id FROM provider_repos WHERE id = $1 AND provider_id = $2", [id, providerID]
        ).first else { return nil }
        return (try row.decode(String.self, column: "name"), try row.decode(Int64.self, column: "repo_id"))
    }

    /// The image with its author, owner, namespace and download row.
    public func image(id: Int64, downloadID: Int64?) async throws -> ImageSnapshot? {
        guard let row = try await database.query("""
            SELECT id, author_id, user_id, namespace_id, driver::text AS driver, name, created_at FROM images WHERE id = $1
            """, [id]).first
        else { return nil }
        let authorID = try row.decode(Int64.self, column: "author_id")
        let userID = try row.decode(Int64.self, column: "user_id")
        let namespaceID = try row.decode(Int64?.self, column: "namespace_id")
        var download: ImageSnapshot.Download?
        if let downloadID, let d = try await database.query(
            "SELECT id, source, error, created_at, started_at, finished_at FROM image_downloads WHERE id = $1", [downloadID]
        ).first {
            download = ImageSnapshot.Download(
                id: try d.decode(Int64.self, column: "id"), source: try d.decode(String.self, column: "source"),
                error: try d.decode(String?.self, column: "error"), createdAt: try d.decode(Date?.self, column: "created_at"),
                startedAt: try d.decode(Date?.self, column: "started_at"), finishedAt: try d.decode(Date?.self, column: "finished_at"))
        }
        return ImageSnapshot(
            id: id, authorID: authorID, userID: userID, namespaceID: namespaceID, driver: try row.decode(String.self, column: "driver"),
            name: try row.decode(String.self, column: "name"), createdAt: try row.decode(Date?.self, column: "created_at"),
            author: try await user(id: authorID), owner: try await user(id: userID),
            namespace: try await namespaceID.asyncMap { try await namespace(id: $0) } ?? nil, download: download)
    }

    /// `build_triggers.data`: a JSON object whose string members are kept.
    static func stringObject(_ text: String) -> [String: String] {
        guard let object = try? JSONSerialization.jsonObject(with: Data(text.utf8)) as? [String: Any] else { return [:] }
        var result: [String: String] = [:]
        for (key, value) in object {
            if let string = value as? String { result[key] = string }
        }
        return result
    }
}

extension Optional {
    func asyncMap<T>(_ transform: (Wrapped) async throws -> T) async rethrows -> T? {
        guard let self else { return nil }
        return try await transform(self)
    }
}
