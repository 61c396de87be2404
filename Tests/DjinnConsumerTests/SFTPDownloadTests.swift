import DjinnTesting
import DjinnConfig
import DjinnJobs
import Foundation
import Testing

@testable import DjinnConsumer

/// Downloads over sftp from a real sshd on loopback (password authentication for a
/// throwaway local user), through the job handler: the image_downloads row and the store.
@Suite(.enabled(if: TestSFTPServer.available, "needs root (sshd checks passwords in /etc/shadow and runs as root) and /usr/sbin/sshd"))
struct SFTPDownloadTests {
    /// Files the sftp user can read: a directory of the test's own under /tmp.
    struct RemoteFiles {
        let url: URL

        init() throws {
            url = URL(fileURLWithPath: "/tmp").appendingPathComponent("djinn-sftp-\(UUID().uuidString.prefix(8))")
            try FileManager.default.createDirectory(at: url, withIntermediateDirectories: true, attributes: [.posixPermissions: 0o755])
        }

        func write(_ name: String, _ bytes: [UInt8]) throws -> String {
            let path = url.appendingPathComponent(name).path
            guard FileManager.default.createFile(atPath: path, contents: Data(bytes), attributes: [.posixPermissions: 0o644]) else {
                throw ServerStartError(description: "cannot write \(path)")
            }
            return path
        }

        func remove() { try? FileManager.default.removeItem(at: url) }
    }

    /// Runs one download job for `url`; returns the row and whether the job failed (retry).
    func run(_ url: String, limit: Int64 = 0, in database: ConsumerDatabase, _ store: TestStore) async throws
        -> (row: ConsumerDatabase.DownloadRow, retried: Bool)
    {
        let (imageID, downloadID) = try await database.addImage(hash: "sftp-img", source: url)
        let handler = DownloadJobHandler(
            database: database.pool, store: StoreSettings(path: store.path, limit: limit),
            downloader: ImageDownloader(options: .init(connectTimeout: .seconds(10)), logger: quietLogger), logger: quietLogger)
        var retried = false
        do {
            try await handler.perform(DownloadJob(id: downloadID, imageID: imageID, source: url))
        } catch let error as DownloadError {
            #expect(!error.isPermanent)
            retried = true
        }
        let row = try #require(try await database.download(downloadID))
        #expect(row.startedAt != nil && row.finishedAt != nil)
        #expect(row.source == DownloadSource(url).storedForm)
        #expect(!row.source.contains("p%40ss"))
        return (row, retried)
    }

    @Test func theRightFileLands() async throws {
        let server = try await TestSFTPServer.shared()
        let files = try RemoteFiles()
        defer { files.remove() }
        let path = try files.write("image.qcow2", qcow2Body(size: 200_000))
        try await withDatabaseAndStore { database, store in
            // ?timeout= is the connect timeout (Go duration), not part of the remote path.
            let (row, retried) = try await run(server.url(path, query: "?timeout=5s"), in: database, store)
            #expect(row.error == nil)
            #expect(!retried)
            #expect(store.files() == ["\(database.userID)/qemu/sftp-img"])
            #expect(store.contents("\(database.userID)/qemu/sftp-img") == qcow2Body(size: 200_000))
        }
    }

    @Test func aWrongPasswordIsPermanentAndNeverShown() async throws {
        let server = try await TestSFTPServer.shared()
        let files = try RemoteFiles()
        defer { files.remove() }
        let path = try files.write("image.qcow2", qcow2Body(size: 100))
        try await withDatabaseAndStore { database, store in
            let (row, retried) = try await run(server.url(path, password: "not-the-Password"), in: database, store)
            #expect(!retried)
            let error = try #require(row.error)
            #expect(error.lowercased().contains("auth"), "\(error)")
            #expect(!error.contains("not-the-Password"))
            #expect(store.files() == [])
        }
    }

    @Test func aMissingFileIsPermanent() async throws {
        let server = try await TestSFTPServer.shared()
        let files = try RemoteFiles()
        defer { files.remove() }
        try await withDatabaseAndStore { database, store in
            let (row, retried) = try await run(server.url(files.url.appendingPathComponent("nope.qcow2").path), in: database, store)
            #expect(!retried)
            let error = try #require(row.error)
            #expect(error.contains("No such file"), "\(error)")
            #expect(store.files() == [])
        }
    }

    @Test func theQCOW2MagicAndTheLimitAreChecked() async throws {
        let server = try await TestSFTPServer.shared()
        let files = try RemoteFiles()
        defer { files.remove() }
        let text = try files.write("notes.txt", Array("just some text, not an image\n".utf8))
        let big = try files.write("big.qcow2", qcow2Body(size: 100_000))
        try await withDatabaseAndStore { database, store in
            let (row, retried) = try await run(server.url(text), in: database, store)
            #expect(row.error == "not a valid qcow2 file")
            #expect(!retried)
            #expect(store.files() == [])
        }
        try await withDatabaseAndStore { database, store in
            let (row, retried) = try await run(server.url(big), limit: 65536, in: database, store)
            #expect(row.error == "file too large, cannot exceed 64 KB")
            #expect(!retried)
            #expect(store.files() == [])
        }
    }

    @Test func nothingListeningIsTransient() async throws {
        let port = try unusedLoopbackPort()
        try await withDatabaseAndStore { database, store in
            let (row, retried) = try await run(
                "sftp://\(TestSFTPServer.user):\(TestSFTPServer.encodedPassword)@127.0.0.1:\(port)/tmp/x.qcow2", in: database, store)
            #expect(retried)
            #expect(row.error != nil)
            #expect(store.files() == [])
        }
    }
}
