import DjinnJobs
import DjinnQueue
import DjinnRedis
import DjinnTesting
import Foundation
import Testing

@testable import DjinnConsumer

/// The built `djinn-consumer` and `djinnctl` as an operator runs them, on a Redis of the
/// test's own (the queue name `jobs` is fixed).
@Suite struct ConsumerProcessTests {
    static func builtProgram(_ name: String) -> URL {
        URL(fileURLWithPath: CommandLine.arguments[0]).deletingLastPathComponent().appendingPathComponent(name)
    }

    /// A database, a private Redis, a store and config files naming them.
    struct Fixture {
        let database: ConsumerDatabase
        let redisServer: PrivateServices
        let redis: RedisClient
        let store: TestStore
        let directory: URL

        static func with(_ body: (Fixture) async throws -> Void) async throws {
            let database = try await ConsumerDatabase.make()
            let redisServer: PrivateServices
            do {
                redisServer = try await PrivateServices.start(postgres: false)
            } catch {
                await database.close()
                throw error
            }
            let fixture = Fixture(
                database: database, redisServer: redisServer,
                redis: RedisClient(configuration: redisServer.endpoints.redisConfiguration, logger: quietLogger),
                store: try TestStore(),
                directory: FileManager.default.temporaryDirectory.appendingPathComponent("djinn-consumer-\(UUID().uuidString.prefix(8))"))
            do {
                try FileManager.default.createDirectory(at: fixture.directory, withIntermediateDirectories: true)
                try await body(fixture)
            } catch {
                await fixture.close()
                throw error
            }
            await fixture.close()
        }

        func close() async {
            await redis.close()
            try? await redisServer.shutdown()
            await database.close()
            store.remove()
            try? FileManager.default.removeItem(at: directory)
        }

        /// A consumer config logging to `<name>.log`.
        func config(_ name: String) throws -> String {
            let pg = database.db.endpoints
            let path = directory.appendingPathComponent("\(name).conf").path
            try """
                log info "\(logPath(name))"
                parallelism 2
                database {
                    addr "\(pg.pgAddr)"
                    name "\(database.db.name)"
                    username "\(pg.pgUser)"
                    password "\(pg.pgPassword)"
                }
                redis {
                    addr "\(redisServer.endpoints.redisAddr)"
                }
                store images {
                    type "file"
                    path "\(store.path)"
                }

                """.write(toFile: path, atomically: true, encoding: .utf8)
            return path
        }

        func logPath(_ name: String) -> String { directory.appendingPathComponent("\(name).log").path }

        func log(_ name: String) -> String { (try? String(contentsOfFile: logPath(name), encoding: .utf8)) ?? "" }

        /// Starts djinn-consumer with `<name>.conf`; stop it with `kill(pid, SIGKILL)`.
        func startConsumer(_ name: String) throws -> RunningConsumerProcess {
            let program = ConsumerProcessTests.builtProgram("djinn-consumer").path
            return RunningConsumerProcess(process: try TestProcess.start([program, "-config", try config(name)]))
        }
    }

    struct RunningConsumerProcess {
        let process: TestProcess

        var pid: Int32 { process.pid }

        /// SIGKILL (the consumer gets no chance to hand its job back), then wait.
        func kill() async {
            process.signal(SIGKILL)
            _ = try? await process.wait()
        }
    }

    static func runDjinnctl(_ arguments: [String]) async throws -> (status: Int32, stdout: String, stderr: String) {
        let result = try await TestProcess.run([builtProgram("djinnctl").path] + arguments)
        return (result.status, result.stdout, result.stderr)
    }

    @Test func djinnctlImageAddThenTheConsumerDownloadsIt() async throws {
        let server = try await TestHTTPServer.shared()
        try await Fixture.with { fixture in
            let url = server.authURL("/auth/image.qcow2?size=123456")
            let result = try await Self.runDjinnctl(
                ["image", "add", "-config", try fixture.config("ctl"), "-user", "ann", "-name", "base-image", url])
            #expect(result.status == 0, "\(result.stderr)")
            let pool = fixture.database.pool
            let image = try #require(try await pool.query(
                "SELECT id, user_id, author_id, namespace_id, driver::text AS driver, hash, name FROM images").first)
            let imageID = try image.decode(Int64.self, column: "id")
            let hash = try image.decode(String.self, column: "hash")
            #expect(result.stdout == "image base-image added with id \(imageID); download 1 queued on jobs\n")
            #expect(try image.decode(Int64.self, column: "user_id") == fixture.database.userID)
            #expect(try image.decode(Int64.self, column: "author_id") == fixture.database.userID)
            #expect(try image.decode(Int64?.self, column: "namespace_id") == nil)
            #expect(try image.decode(String.self, column: "driver") == "qemu")
            #expect(hash.count == 32 && hash.allSatisfy(\.isHexDigit))
            let download = try #require(try await fixture.database.download(1))
            #expect(download.source == "http://alice:xxxxx@127.0.0.1:\(server.port)/auth/image.qcow2?size=123456")
            #expect(download.startedAt == nil)

            // The queued job is Go's gob DownloadJob with the URL as given.
            let ids = try await fixture.redis.command(["LRANGE", "jobs:active", 0, -1]).strings ?? []
            #expect(ids.count == 1)
            let message = try #require(try await fixture.redis.command(["HGET", "jobs:data", ids[0] ?? ""]).bytes)
            let job = try DownloadJob(gob: try Envelope(decoding: message).data)
            #expect(job == DownloadJob(id: 1, imageID: imageID, source: url))

            let consumer = try fixture.startConsumer("consumer")
            let finished = await eventually(timeout: .seconds(30)) {
                (try? await fixture.database.download(1))??.finishedAt != nil
            }
            await consumer.kill()
            #expect(finished, "\(fixture.log("consumer"))")
            #expect(try await fixture.database.download(1)?.error == nil)
            #expect(fixture.store.files() == ["\(fixture.database.userID)/qemu/\(hash)"])
            #expect(fixture.store.contents("\(fixture.database.userID)/qemu/\(hash)") == qcow2Body(size: 123456))
            let log = fixture.log("consumer")
            #expect(log.contains("consuming jobs from jobs"))
            #expect(log.contains("image downloaded"))
            #expect(!log.contains(TestHTTPServer.encodedPassword) && !log.contains(TestHTTPServer.password))
        }
    }

    @Test func djinnctlImageAddValidatesLikeTheServer() async throws {
        try await Fixture.with { fixture in
            let config = try fixture.config("ctl")
            func add(_ name: String, _ url: String, user: String = "ann") async throws -> (status: Int32, stdout: String, stderr: String) {
                try await Self.runDjinnctl(["image", "add", "-config", config, "-user", user, "-name", name, url])
            }
            var result = try await add("bad name", "http://h/x")
            #expect(result.status == 1 && result.stderr.contains("invalid image name"))
            result = try await add("ok", "ftp://h/x")
            #expect(result.status == 1 && result.stderr.contains("invalid url scheme"))
            result = try await add("ok", "sftp://user@h:22/x")
            #expect(result.status == 1 && result.stderr.contains("missing password from SFTP URL"))
            result = try await add("ok", "http://h/x", user: "nobody")
            #expect(result.status == 1 && result.stderr.contains("no user nobody"))
            result = try await add("ok", "sftp://user:pw@h:22/x")
            #expect(result.status == 0, "\(result.stderr)")
            result = try await add("ok", "http://h/y")
            #expect(result.status == 1 && result.stderr.contains("an image named ok already exists"))
            #expect(try await fixture.database.pool.query("SELECT id FROM images").count == 1)
            #expect(try await fixture.redis.command(["LLEN", "jobs:active"]).int == 1)
        }
    }

    @Test func aConsumerKilledMidDownloadLeavesNoPartialImageAndTheNextOneRedoesTheJob() async throws {
        let server = try await TestHTTPServer.shared()
        try await Fixture.with { fixture in
            // 2 MiB at 64 KiB every 0.2 s: about 6.5 s per download.
            let size = 2 << 20
            let url = server.url("/slow?size=\(size)&chunk=65536&delay=0.2")
            let (imageID, downloadID) = try await fixture.database.addImage(hash: "killed", source: url)
            try await QueueProducer(client: fixture.redis, queue: "jobs")
                .enqueue(DownloadJob(id: downloadID, imageID: imageID, source: url).gobEncoded())
            let directory = "\(fixture.store.path)/\(fixture.database.userID)/qemu"

            let first = try fixture.startConsumer("first")
            let partial = await eventually(timeout: .seconds(30)) {
                let names = (try? FileManager.default.contentsOfDirectory(atPath: directory)) ?? []
                return names.contains { name in
                    name.hasPrefix(".download-killed-")
                        && ((try? FileManager.default.attributesOfItem(atPath: "\(directory)/\(name)")[.size] as? Int) ?? 0) >= 131072
                }
            }
            await first.kill()
            #expect(partial, "\(fixture.log("first"))")
            // What a killed consumer leaves: a temporary file, never the image.
            #expect(fixture.store.files().count == 1)
            #expect(fixture.store.files().allSatisfy { $0.contains("/.download-killed-") })
            #expect(try await fixture.database.download(downloadID)?.finishedAt == nil)

            // The next consumer recovers the job from the dead one (heartbeat expiry 15 s,
            // custodian every 5 s) and downloads it from the start.
            let second = try fixture.startConsumer("second")
            let finished = await eventually(timeout: .seconds(60)) {
                (try? await fixture.database.download(downloadID))??.finishedAt != nil
            }
            await second.kill()
            #expect(finished, "\(fixture.log("second"))")
            // A download of over 5 s logs its progress at info.
            let progress = fixture.log("second").split(separator: "\n").filter { $0.contains(" INFO downloading: ") }
            #expect(!progress.isEmpty && progress.allSatisfy { $0.contains(" bytes=") && $0.contains(" rate=") })
            #expect(try await fixture.database.download(downloadID)?.error == nil)
            #expect(fixture.store.files() == ["\(fixture.database.userID)/qemu/killed"])
            #expect(fixture.store.contents("\(fixture.database.userID)/qemu/killed") == qcow2Body(size: size))
        }
    }
}
