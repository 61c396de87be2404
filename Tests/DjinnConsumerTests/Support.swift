import DjinnPostgres
import DjinnSchema
import DjinnTesting
import Foundation
import Logging
import Synchronization
import Testing

@testable import DjinnConsumer

let quietLogger = Logger(label: "consumer-test") { _ in SwiftLogNoOpLogHandler() }

/// The qcow2 magic and the byte pattern the test HTTP server uses for image bodies: byte i
/// of a body of any size is the same (scripts/testservers/image_http_server.py).
func qcow2Body(size: Int) -> [UInt8] {
    let magic: [UInt8] = [0x51, 0x46, 0x49, 0xFB]
    var body = Array(magic.prefix(size))
    while body.count < size {
        body.append(UInt8((body.count - 4) % 4096 % 251))
    }
    return body
}

// MARK: Helper servers

struct ServerStartError: Error, CustomStringConvertible {
    var description: String
}

/// The test HTTP server; `user`/`password` guard `/auth/…`.
struct TestHTTPServer: Sendable {
    static let user = "alice"
    /// Characters that must be percent-encoded in a URL, to check decoding.
    static let password = "s3cr:t@pw/x"
    static let encodedPassword = "s3cr%3At%40pw%2Fx"

    let process: HelperServer
    let scheme: String

    var port: Int { process.port }

    func url(_ path: String) -> String { "\(scheme)://127.0.0.1:\(port)\(path)" }

    /// The URL with the right credentials in its userinfo.
    func authURL(_ path: String) -> String {
        "\(scheme)://\(Self.user):\(Self.encodedPassword)@127.0.0.1:\(port)\(path)"
    }

    /// One plain HTTP server per test process.
    static func shared() async throws -> TestHTTPServer { try await SharedServers.instance.http() }

    /// One HTTPS server per test process, with a self-signed certificate for 127.0.0.1.
    static func sharedTLS() async throws -> (server: TestHTTPServer, caFile: String) {
        try await SharedServers.instance.https()
    }
}

/// An sshd serving sftp with password authentication for a throwaway local user
/// (scripts/testservers/ssh_server.py --sftp-only). Needs root.
struct TestSFTPServer: Sendable {
    static let user = "djinnsftp"
    static let password = "sftp p@ss/word"
    static let encodedPassword = "sftp%20p%40ss%2Fword"

    let process: HelperServer

    var port: Int { process.port }

    static var available: Bool { getuid() == 0 && FileManager.default.isExecutableFile(atPath: "/usr/sbin/sshd") }

    static func shared() async throws -> TestSFTPServer { try await SharedServers.instance.sftp() }

    func url(_ path: String, password: String = TestSFTPServer.encodedPassword, query: String = "") -> String {
        "sftp://\(Self.user):\(password)@127.0.0.1:\(port)\(path)\(query)"
    }
}

private actor SharedServers {
    static let instance = SharedServers()

    private var httpTask: Task<TestHTTPServer, Error>?
    private var httpsTask: Task<(server: TestHTTPServer, caFile: String), Error>?
    private var sftpTask: Task<TestSFTPServer, Error>?

    func http() async throws -> TestHTTPServer {
        if httpTask == nil {
            httpTask = Task {
                let process = try await HelperServer.launch(
                    "image_http_server.py", ["--user", TestHTTPServer.user, "--password", TestHTTPServer.password], recording: false)
                return TestHTTPServer(process: process, scheme: "http")
            }
        }
        return try await httpTask!.value
    }

    func https() async throws -> (server: TestHTTPServer, caFile: String) {
        if httpsTask == nil {
            httpsTask = Task {
                let scratch = FileManager.default.temporaryDirectory.appendingPathComponent("djinn-tls-\(UUID().uuidString.prefix(8))")
                try FileManager.default.createDirectory(at: scratch, withIntermediateDirectories: true)
                let cert = scratch.appendingPathComponent("cert.pem").path
                let key = scratch.appendingPathComponent("key.pem").path
                try await runCommand([
                    "/usr/bin/openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "2", "-subj", "/CN=127.0.0.1",
                    "-addext", "subjectAltName=IP:127.0.0.1", "-keyout", key, "-out", cert,
                ])
                let process = try await HelperServer.launch(
                    "image_http_server.py",
                    ["--user", TestHTTPServer.user, "--password", TestHTTPServer.password, "--cert", cert, "--key", key],
                    scratch: scratch, recording: false)
                return (TestHTTPServer(process: process, scheme: "https"), cert)
            }
        }
        return try await httpsTask!.value
    }

    func sftp() async throws -> TestSFTPServer {
        if sftpTask == nil {
            sftpTask = Task {
                let scratch = FileManager.default.temporaryDirectory.appendingPathComponent("djinn-sshd-\(UUID().uuidString.prefix(8))")
                try FileManager.default.createDirectory(at: scratch, withIntermediateDirectories: true)
                let process = try await HelperServer.launch(
                    "ssh_server.py",
                    ["--sftp-only", "--dir", scratch.path, "--user", TestSFTPServer.user, "--password", TestSFTPServer.password],
                    scratch: scratch, recording: false)
                return TestSFTPServer(process: process)
            }
        }
        return try await sftpTask!.value
    }
}

// MARK: Store directories

/// An `images` store directory of the test's own.
struct TestStore {
    let url: URL

    init() throws {
        url = FileManager.default.temporaryDirectory.appendingPathComponent("djinn-images-\(UUID().uuidString.prefix(8))")
        try FileManager.default.createDirectory(at: url, withIntermediateDirectories: true)
    }

    var path: String { url.path }

    func destination(userID: Int64 = 1, hash: String = "abc123", limit: Int64 = 0) -> ImageDestination {
        ImageDestination(storePath: path, userID: userID, hash: hash, limit: limit)
    }

    /// Every file under the store, relative to it, sorted.
    func files() -> [String] {
        guard let enumerator = FileManager.default.enumerator(atPath: path) else { return [] }
        var files: [String] = []
        while let relative = enumerator.nextObject() as? String {
            var isDirectory: ObjCBool = false
            if FileManager.default.fileExists(atPath: "\(path)/\(relative)", isDirectory: &isDirectory), !isDirectory.boolValue {
                files.append(relative)
            }
        }
        return files.sorted()
    }

    func contents(_ relative: String) -> [UInt8]? {
        FileManager.default.contents(atPath: "\(path)/\(relative)").map { [UInt8]($0) }
    }

    func remove() { try? FileManager.default.removeItem(at: url) }
}

// MARK: Database

/// A migrated database of the test's own with one user, and helpers for images rows.
struct ConsumerDatabase {
    let db: TestDatabase
    let pool: PostgresPool
    let userID: Int64

    static func make() async throws -> ConsumerDatabase {
        let db = try await TestDatabase.create(prefix: "consumer")
        let pool = PostgresPool(configuration: db.configuration, maxConnections: 4, logger: quietLogger)
        do {
            _ = try await Migrator(pool: pool, logger: quietLogger).migrate()
            let rows = try await pool.query("""
                INSERT INTO users (email, username, password, verified, created_at, updated_at)
                VALUES ('ann@example.com', 'ann', '', true, now(), now()) RETURNING id
                """)
            return ConsumerDatabase(db: db, pool: pool, userID: try rows[0].decode(Int64.self, column: "id"))
        } catch {
            await pool.close()
            throw error
        }
    }

    func close() async { await pool.close() }

    /// An images row and its image_downloads row, as the server creates them.
    func addImage(hash: String, source: String, imageID: Int64? = nil, downloadID: Int64? = nil) async throws
        -> (imageID: Int64, downloadID: Int64)
    {
        let image = try await pool.query("""
            INSERT INTO images (id, user_id, author_id, driver, hash, name, created_at)
            VALUES (COALESCE($1, nextval('images_id_seq')), $2, $2, 'qemu', $3, $3, now()) RETURNING id
            """, [imageID, userID, hash])
        let id = try image[0].decode(Int64.self, column: "id")
        let download = try await pool.query("""
            INSERT INTO image_downloads (id, image_id, source, created_at)
            VALUES (COALESCE($1, nextval('image_downloads_id_seq')), $2, $3, now()) RETURNING id
            """, [downloadID, id, DownloadSource(source).storedForm])
        return (id, try download[0].decode(Int64.self, column: "id"))
    }

    struct DownloadRow: Sendable {
        var startedAt: Date?
        var finishedAt: Date?
        var error: String?
        var source: String
    }

    func download(_ id: Int64) async throws -> DownloadRow? {
        let rows = try await pool.query(
            "SELECT started_at, finished_at, error, source FROM image_downloads WHERE id = $1", [id])
        guard let row = rows.first else { return nil }
        return DownloadRow(
            startedAt: try row.decode(Date?.self, column: "started_at"),
            finishedAt: try row.decode(Date?.self, column: "finished_at"),
            error: try row.decode(String?.self, column: "error"),
            source: try row.decode(String.self, column: "source"))
    }
}

/// Runs `body` with a database and a store, always cleaned up.
func withDatabaseAndStore(_ body: (ConsumerDatabase, TestStore) async throws -> Void) async throws {
    let database = try await ConsumerDatabase.make()
    let store = try TestStore()
    do {
        try await body(database, store)
    } catch {
        await database.close()
        store.remove()
        throw error
    }
    await database.close()
    store.remove()
}

// MARK: Logs


/// Polls `condition` until it holds or `timeout` passes; returns whether it held.
@discardableResult
func eventually(timeout: Duration = .seconds(20), _ condition: () async throws -> Bool) async rethrows -> Bool {
    let deadline = ContinuousClock.now + timeout
    while true {
        if try await condition() { return true }
        if ContinuousClock.now >= deadline { return false }
        try? await Task.sleep(for: .milliseconds(50))
    }
}
