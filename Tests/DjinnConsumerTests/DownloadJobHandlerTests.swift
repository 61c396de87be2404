import DjinnConfig
import DjinnJobs
import Foundation
import Testing

@testable import DjinnConsumer
@testable import DjinnQueue

/// One download through the job handler against the test HTTP server: the image_downloads
/// row afterwards and exactly what the store holds.
struct HTTPScenario: Sendable, CustomTestStringConvertible {
    var name: String
    var url: @Sendable (TestHTTPServer) -> String
    var limit: Int64 = 0
    /// nil: the image lands.
    var error: String?
    /// Whether the queue job fails (transient: retried).
    var retried = false
    var bytes = 0

    var testDescription: String { name }
}

let httpScenarios: [HTTPScenario] = [
    HTTPScenario(name: "valid image", url: { $0.url("/image.qcow2?size=70000") }, bytes: 70000),
    HTTPScenario(name: "basic auth", url: { $0.authURL("/auth/image.qcow2?size=1234") }, bytes: 1234),
    HTTPScenario(
        name: "basic auth missing", url: { $0.url("/auth/image.qcow2") }, error: "unexpected HTTP status 401, expected 2xx"),
    HTTPScenario(
        name: "wrong Content-Type", url: { $0.url("/wrong-type") },
        error: "unexpected Content-Type, expected application/x-qemu-disk"),
    HTTPScenario(name: "404", url: { $0.url("/missing") }, error: "unexpected HTTP status 404, expected 2xx"),
    HTTPScenario(name: "500", url: { $0.url("/error") }, error: "unexpected HTTP status 500, expected 2xx", retried: true),
    HTTPScenario(
        name: "connection cut mid-body", url: { $0.url("/cut?size=300000&after=100000") },
        error: "transfer closed with 200000 bytes remaining to read", retried: true),
    HTTPScenario(
        name: "over the limit", url: { $0.url("/unsized?size=100000") }, limit: 65536,
        error: "file too large, cannot exceed 64 KB"),
    HTTPScenario(name: "not qcow2", url: { $0.url("/not-qcow2") }, error: "not a valid qcow2 file"),
    HTTPScenario(name: "unknown scheme", url: { "ftp://127.0.0.1:\($0.port)/image.qcow2" }, error: "image: invalid url scheme"),
]

@Suite struct DownloadJobHandlerTests {
    func handler(_ database: ConsumerDatabase, _ store: TestStore, limit: Int64 = 0) -> DownloadJobHandler {
        DownloadJobHandler(
            database: database.pool, store: StoreSettings(path: store.path, limit: limit),
            downloader: ImageDownloader(options: .init(connectTimeout: .seconds(5)), logger: quietLogger),
            logger: quietLogger)
    }

    @Test(arguments: httpScenarios)
    func httpDownload(_ scenario: HTTPScenario) async throws {
        let server = try await TestHTTPServer.shared()
        try await withDatabaseAndStore { database, store in
            let url = scenario.url(server)
            let (imageID, downloadID) = try await database.addImage(hash: "img-hash", source: url)
            let job = DownloadJob(id: downloadID, imageID: imageID, source: url)
            let before = Date()
            do {
                try await handler(database, store, limit: scenario.limit).perform(job)
                #expect(!scenario.retried, "the job should have failed to be retried")
            } catch let error as DownloadError {
                #expect(scenario.retried, "\(error)")
                #expect(!error.isPermanent)
            }
            let row = try #require(try await database.download(downloadID))
            #expect(row.startedAt.map { $0 >= before.addingTimeInterval(-1) } == true)
            #expect(row.finishedAt != nil)
            #expect(row.error == scenario.error)
            if scenario.error == nil {
                #expect(store.files() == ["\(database.userID)/qemu/img-hash"])
                #expect(store.contents("\(database.userID)/qemu/img-hash") == qcow2Body(size: scenario.bytes))
            } else {
                #expect(store.files() == [])
            }
        }
    }

    @Test func aMissingImageRowIsRecordedNotRetried() async throws {
        try await withDatabaseAndStore { database, store in
            let (imageID, downloadID) = try await database.addImage(hash: "h", source: "http://127.0.0.1:1/x")
            try await handler(database, store).perform(DownloadJob(id: downloadID, imageID: imageID + 100, source: "http://127.0.0.1:1/x"))
            let row = try #require(try await database.download(downloadID))
            #expect(row.error == "image \(imageID + 100) does not exist")
            #expect(row.startedAt != nil && row.finishedAt != nil)
            #expect(store.files() == [])
        }
    }

    @Test func aMissingDownloadRowIsAPermanentJobFailure() async throws {
        try await withDatabaseAndStore { database, store in
            await #expect(throws: JobFailure.permanent("image download 4242 does not exist")) {
                try await handler(database, store).perform(DownloadJob(id: 4242, imageID: 1, source: "http://h/x"))
            }
        }
    }

    @Test func anUndecodablePayloadIsAPermanentJobFailure() async throws {
        try await withDatabaseAndStore { database, store in
            let job = QueueJob(
                id: "j1", envelope: Envelope(id: "j1", data: [0x01, 0x02, 0x03], attempt: 0), enqueuedAtMilliseconds: nil,
                timeout: nil)
            await #expect {
                try await handler(database, store).handle(job)
            } throws: { error in
                guard case .permanent(let reason)? = error as? JobFailure else { return false }
                return reason.hasPrefix("cannot decode the download job")
            }
        }
    }

    @Test func aRetryClearsTheEarlierErrorAndRecordsItsOwnOutcome() async throws {
        let server = try await TestHTTPServer.shared()
        try await withDatabaseAndStore { database, store in
            let (imageID, downloadID) = try await database.addImage(hash: "h2", source: server.url("/error"))
            let handler = handler(database, store)
            await #expect(throws: DownloadError.self) {
                try await handler.perform(DownloadJob(id: downloadID, imageID: imageID, source: server.url("/error")))
            }
            let failed = try #require(try await database.download(downloadID))
            #expect(failed.error == "unexpected HTTP status 500, expected 2xx")
            // The next run (here with a URL that works) starts clean and succeeds.
            try await handler.perform(DownloadJob(id: downloadID, imageID: imageID, source: server.url("/image.qcow2?size=10")))
            let done = try #require(try await database.download(downloadID))
            #expect(done.error == nil)
            #expect(done.finishedAt != nil)
            #expect(done.startedAt! >= failed.startedAt!)
            #expect(store.files() == ["\(database.userID)/qemu/h2"])
        }
    }
}
