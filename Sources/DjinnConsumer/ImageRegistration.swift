import DjinnJobs
import DjinnPostgres
import DjinnQueue
import Foundation

/// An image created for download, as Djinn's server creates one from a download URL.
public struct RegisteredImage: Sendable, Equatable {
    public var id: Int64
    public var downloadID: Int64
    public var userID: Int64
    public var name: String
    public var hash: String
    /// The queue job id of the download.
    public var jobID: String
}

public enum ImageRegistrationError: Error, Sendable, Equatable, CustomStringConvertible {
    case invalidName(String)
    case invalidScheme
    case sftpWithoutPassword
    case nameTaken(String)

    public var description: String {
        switch self {
        case .invalidName(let name):
            "invalid image name \(name.debugDescription): use only letters, digits, - and _"
        case .invalidScheme: "invalid url scheme: use http, https or sftp"
        case .sftpWithoutPassword: "missing password from SFTP URL"
        case .nameTaken(let name): "an image named \(name) already exists"
        }
    }
}

/// Creates an `images` row with its `image_downloads` row and queues the download on `jobs`,
/// the way Djinn's server does for an image created from a URL (no namespace).
///
/// Validation follows the server's form: name `^[a-zA-Z0-9_-]+$` and unique among the
/// user's images outside namespaces; scheme http, https or sftp; an sftp URL needs a
/// password. The rows are written in one transaction, then the job is queued (a queueing
/// failure leaves the rows, as on the server). `image_downloads.source` is the URL redacted
/// and lower-cased; the job carries the URL as given.
public struct ImageRegistrar: Sendable {
    public let pool: PostgresPool
    public let producer: QueueProducer

    public init(pool: PostgresPool, producer: QueueProducer) {
        self.pool = pool
        self.producer = producer
    }

    public func register(userID: Int64, name: String, source: String) async throws -> RegisteredImage {
        guard !name.isEmpty, name.allSatisfy({ $0.isASCII && ($0.isLetter || $0.isNumber || $0 == "-" || $0 == "_") }) else {
            throw ImageRegistrationError.invalidName(name)
        }
        let download = DownloadSource(source)
        guard DownloadSource.supportedSchemes.contains(download.scheme) else { throw ImageRegistrationError.invalidScheme }
        if download.scheme == "sftp" && download.rawPassword == nil { throw ImageRegistrationError.sftpWithoutPassword }

        let hash = Self.randomHash()
        let now = Date()
        let (imageID, downloadID) = try await pool.withTransaction { connection -> (Int64, Int64) in
            let taken = try await connection.query(
                "SELECT 1 FROM images WHERE user_id = $1 AND namespace_id IS NULL AND name = $2", [userID, name])
            guard taken.isEmpty else { throw ImageRegistrationError.nameTaken(name) }
            let image = try await connection.query("""
                INSERT INTO images (user_id, author_id, namespace_id, driver, hash, name, created_at)
                VALUES ($1, $1, NULL, 'qemu', $2, $3, $4) RETURNING id
                """, [userID, hash, name, now])
            let imageID = try image[0].decode(Int64.self, column: "id")
            let row = try await connection.query(
                "INSERT INTO image_downloads (image_id, source, created_at) VALUES ($1, $2, $3) RETURNING id",
                [imageID, download.storedForm, now])
            return (imageID, try row[0].decode(Int64.self, column: "id"))
        }
        let job = DownloadJob(id: downloadID, imageID: imageID, source: source)
        let queued = try await producer.enqueue(job.gobEncoded())
        return RegisteredImage(
            id: imageID, downloadID: downloadID, userID: userID, name: name, hash: hash, jobID: queued.id)
    }

    /// 32 random hex digits (Go's server uses a hashid of the time; any unique name works).
    static func randomHash() -> String {
        var generator = SystemRandomNumberGenerator()
        return (0..<16).map { _ in
            let byte = UInt8.random(in: 0...255, using: &generator)
            return String(byte >> 4, radix: 16) + String(byte & 0xF, radix: 16)
        }.joined()
    }
}
