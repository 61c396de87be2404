import DjinnConfig
import DjinnJobs
import DjinnQueue
import DjinnRedis
import DjinnTesting
import Foundation
import Logging
import Testing

@testable import DjinnConsumer

/// Download jobs through a real QueueConsumer on the test Redis (a queue name of the test's
/// own), with the handler djinn-consumer runs.
@Suite struct DownloadQueueTests {
    /// Spec §3.6: Go's gob of `DownloadJob{ID: 7, ImageID: 3, Source: "https://example.com/img.qcow2"}`.
    static let goFixture: [UInt8] = hexBytes("""
        4d1000122a696d6167652e446f776e6c6f61644a6f62ff830301010b446f776e6c6f61644a6f6201ff84
        000103010249440104000107496d61676549440104000106536f7572636501ff8600000017ff85050101
        0b446f776e6c6f616455524c01ff860000000aff87060102ff8a00000014ff8b0301010855736572696e
        666f01ff8c0000004cff8449010e010601420aff87060102ff8a00000014ff8b0301010855736572696e
        666f01ff8c00000021ff88001d68747470733a2f2f6578616d706c652e636f6d2f696d672e71636f7732
        00
        """)

    /// Quick queue timings; `attempts` as in consumer.conf.
    static func options(attempts: Int, concurrency: Int = 4) -> QueueOptions {
        let settings = ConsumerSettings(
            parallelism: concurrency, attempts: attempts, database: DatabaseSettings(addr: "127.0.0.1:1"),
            redis: RedisSettings(addr: "127.0.0.1:1"), images: StoreSettings(path: "/unused"))
        var options = ConsumerProgram.queueOptions(settings)
        options.heartbeatInterval = .milliseconds(500)
        options.consumerExpiry = .seconds(2)
        options.custodianInterval = .milliseconds(300)
        options.schedulerInterval = .milliseconds(100)
        options.pollTimeout = .seconds(1)
        return options
    }

    /// A consumer running `DownloadJobHandler` on a queue of the test's own until `body` ends.
    func withConsumer(
        _ database: ConsumerDatabase, _ store: TestStore, options: QueueOptions, logger: Logger = quietLogger,
        _ body: (QueueProducer, QueueInspector, String) async throws -> Void
    ) async throws {
        let client = RedisClient(
            configuration: try await TestServices.endpoints().redisConfiguration, logger: quietLogger, maximumConnections: 8)
        let queue = testKeyPrefix("consumer") + "jobs"
        let handler = DownloadJobHandler(
            database: database.pool, store: StoreSettings(path: store.path),
            downloader: ImageDownloader(options: .init(connectTimeout: .seconds(3), lowSpeedTime: .seconds(5)), logger: logger),
            logger: logger)
        let consumer = QueueConsumer(client: client, queue: queue, options: options, logger: logger, handler: handler.handle)
        let running = Task { try await consumer.run() }
        do {
            try await body(QueueProducer(client: client, queue: queue), QueueInspector(client: client), queue)
        } catch {
            consumer.shutdown()
            _ = try? await running.value
            await client.close()
            throw error
        }
        consumer.shutdown()
        _ = try? await running.value
        await client.close()
    }

    @Test func attemptsCountsRunsInAll() {
        #expect(Self.options(attempts: 5).maxAttempts == 4)
        #expect(Self.options(attempts: 1).maxAttempts == 0)
        #expect(Self.options(attempts: 5, concurrency: 3).concurrency == 3)
    }

    @Test func theGoFixtureIsDecodedAndProcessed() async throws {
        let job = try DownloadJob(gob: Self.goFixture)
        #expect(job == DownloadJob(id: 7, imageID: 3, source: "https://example.com/img.qcow2"))
        try await withDatabaseAndStore { database, store in
            _ = try await database.addImage(hash: "fixture", source: job.source, imageID: 3, downloadID: 7)
            // One run only: whatever example.com does from here (unreachable, or an HTML page),
            // the row must show the run and its error.
            try await withConsumer(database, store, options: Self.options(attempts: 1)) { producer, inspector, queue in
                try await producer.enqueue(Self.goFixture)
                let finished = await eventually(timeout: .seconds(30)) {
                    (try? await database.download(7))??.finishedAt != nil
                }
                #expect(finished)
                let row = try #require(try await database.download(7))
                #expect(row.startedAt != nil)
                #expect(row.error != nil)
                #expect(await eventually { (try? await inspector.stats(queue: queue)).map { $0.ready + $0.inFlight } == 0 })
            }
            #expect(store.files() == [])
        }
    }

    @Test func aGoLayoutJobForALoopbackURLDownloads() async throws {
        let server = try await TestHTTPServer.shared()
        try await withDatabaseAndStore { database, store in
            let url = server.authURL("/auth/image.qcow2?size=90000")
            let (imageID, downloadID) = try await database.addImage(hash: "go-layout", source: url)
            try await withConsumer(database, store, options: Self.options(attempts: 5)) { producer, inspector, queue in
                try await producer.enqueue(DownloadJob(id: downloadID, imageID: imageID, source: url).gobEncoded())
                #expect(await eventually { (try? await database.download(downloadID))??.finishedAt != nil })
                let row = try #require(try await database.download(downloadID))
                #expect(row.error == nil)
                #expect(store.contents("\(database.userID)/qemu/go-layout") == qcow2Body(size: 90000))
                #expect(await eventually { (try? await inspector.stats(queue: queue))?.isIdle == true })
            }
            #expect(store.files() == ["\(database.userID)/qemu/go-layout"])
        }
    }

    @Test func fourDownloadsRunAtOnceAndAllLand() async throws {
        let server = try await TestHTTPServer.shared()
        try await withDatabaseAndStore { database, store in
            // ~4 s each, all four enqueued in one batch after their rows exist: they can only
            // finish one after another (16 s) if the consumer does not run them side by side.
            let url = server.url("/slow?size=262144&chunk=32768&delay=0.5")
            var downloads: [Int64] = []
            var requests: [EnqueueRequest] = []
            for index in 0..<4 {
                let (imageID, downloadID) = try await database.addImage(hash: "parallel-\(index)", source: url)
                downloads.append(downloadID)
                requests.append(EnqueueRequest(data: DownloadJob(id: downloadID, imageID: imageID, source: url).gobEncoded()))
            }
            try await withConsumer(database, store, options: Self.options(attempts: 5, concurrency: 4)) { producer, _, _ in
                _ = try await producer.enqueueBatch(requests)
                #expect(await eventually(timeout: .seconds(30)) {
                    var done = 0
                    for id in downloads where (try? await database.download(id))??.finishedAt != nil { done += 1 }
                    return done == 4
                })
            }
            var rows: [ConsumerDatabase.DownloadRow] = []
            for id in downloads { rows.append(try #require(try await database.download(id))) }
            #expect(rows.allSatisfy { $0.error == nil })
            // All four were running at the same moment.
            let lastStart = rows.compactMap(\.startedAt).max()!
            let firstFinish = rows.compactMap(\.finishedAt).min()!
            #expect(lastStart < firstFinish)
            #expect(store.files() == (0..<4).map { "\(database.userID)/qemu/parallel-\($0)" })
            for index in 0..<4 {
                #expect(store.contents("\(database.userID)/qemu/parallel-\(index)") == qcow2Body(size: 262144))
            }
        }
    }

    @Test func aTransientFailureRunsAttemptsTimesThenTheJobDies() async throws {
        let server = try await TestHTTPServer.shared()
        let logs = LogRecorder()
        try await withDatabaseAndStore { database, store in
            let url = server.url("/error")
            let (imageID, downloadID) = try await database.addImage(hash: "flaky", source: url)
            try await withConsumer(database, store, options: Self.options(attempts: 2), logger: logs.logger) {
                producer, inspector, queue in
                try await producer.enqueue(DownloadJob(id: downloadID, imageID: imageID, source: url).gobEncoded())
                #expect(await eventually(timeout: .seconds(30)) { (try? await inspector.stats(queue: queue))?.dead == 1 })
            }
            #expect(logs.all.filter { $0.contains("image download failed, will retry") }.count == 2)
            let row = try #require(try await database.download(downloadID))
            #expect(row.error == "unexpected HTTP status 500, expected 2xx")
            #expect(store.files() == [])
        }
    }

    @Test func aPermanentFailureRunsOnceAndTheJobSucceeds() async throws {
        let server = try await TestHTTPServer.shared()
        let logs = LogRecorder()
        try await withDatabaseAndStore { database, store in
            let url = server.url("/missing")
            let (imageID, downloadID) = try await database.addImage(hash: "gone", source: url)
            try await withConsumer(database, store, options: Self.options(attempts: 5), logger: logs.logger) {
                producer, inspector, queue in
                try await producer.enqueue(DownloadJob(id: downloadID, imageID: imageID, source: url).gobEncoded())
                #expect(await eventually { (try? await database.download(downloadID))??.finishedAt != nil })
                #expect(await eventually { (try? await inspector.stats(queue: queue))?.isIdle == true })
            }
            #expect(logs.all.filter { $0.contains("image download failed") }.count == 1)
            #expect(try await database.download(downloadID)?.error == "unexpected HTTP status 404, expected 2xx")
        }
    }
}

extension QueueStats {
    /// Nothing ready, scheduled, in flight or dead.
    var isIdle: Bool { ready == 0 && scheduled == 0 && inFlight == 0 && dead == 0 }
}

func hexBytes(_ text: String) -> [UInt8] {
    let digits = Array(text.filter(\.isHexDigit))
    return stride(from: 0, to: digits.count, by: 2).map { UInt8(String(digits[$0...$0 + 1]), radix: 16)! }
}
