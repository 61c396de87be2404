import Testing
@testable import DjinnConfig
import Foundation

/// The example files shipped with Go Djinn (shared/reference/djinn-dist), copied
/// byte for byte, and the examples in the admin docs (seeds 000-002): all must load.
@Suite struct ReferenceFileTests {
    /// `shared/` sits beside the package (shared/README.md); nil when it is absent.
    private func distFile(_ name: String, sourceLocation: Testing.SourceLocation = #_sourceLocation) -> (String, [UInt8])? {
        let packageRoot = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()
        let directory = packageRoot.deletingLastPathComponent().appendingPathComponent("shared/reference/djinn-dist").path
        guard FileManager.default.fileExists(atPath: directory) else { return nil }
        let path = directory + "/\(name).conf"
        switch ConfigFileSystem.local.read(path) {
        case .success(let bytes): return (path, bytes)
        case .failure(let failure):
            Issue.record("cannot read \(path): \(failure)", sourceLocation: sourceLocation)
            return nil
        }
    }

    @Test func distWorkerConf() throws {
        let loaded = try loadWorker(ReferenceFiles.worker)
        let worker = loaded.settings
        #expect(loaded.warnings.isEmpty)
        #expect(worker.pidfile == "/var/run/djinn/worker.pid")
        #expect(worker.log == LogSettings(level: .info, file: "/var/log/djinn/worker.log"))
        #expect(worker.parallelism == 0)
        #expect(worker.driver == "qemu-x86_64")
        #expect(worker.driverKind == .qemu)
        #expect(worker.qemuArch == "x86_64")
        #expect(worker.timeout == .seconds(30 * 60))
        #expect(worker.crypto == CryptoSettings(block: "1a2b3c4d5e6f7g8h", salt: "1a2b3c4d5e6f7g8h"))
        #expect(worker.database == DatabaseSettings(addr: "localhost:5432", name: "djinn", username: "djinn_worker", password: "secret"))
        #expect(worker.redis == RedisSettings(addr: "localhost:6379"))
        #expect(worker.smtp == SMTPSettings(
            addr: "smtp.example.com:587", ca: "/etc/ssl/cert.pem", admin: "noreply@djinn-ci.com",
            username: "postmaster@example.com", password: "secret"))
        #expect(worker.artifacts == StoreSettings(type: "file", path: "/var/lib/djinn/artifacts", limit: 52_428_800))
        #expect(worker.objects == StoreSettings(type: "file", path: "/var/lib/djinn/objects"))
        #expect(worker.providers == [
            "github": ProviderSettings(name: "github"),
            "gitlab": ProviderSettings(name: "gitlab"),
        ])
        #expect(worker.providers["github"]?.endpoint == "https://api.github.com")
        #expect(worker.providers["gitlab"]?.endpoint == "https://gitlab.com/api/v4")
        #expect(loaded.files == ["worker.conf"])
    }

    @Test func distConsumerConf() throws {
        let loaded = try loadConsumer(ReferenceFiles.consumer)
        let consumer = loaded.settings
        #expect(loaded.warnings.isEmpty)
        #expect(consumer.pidfile == "/var/run/djinn/consumer.pid")
        #expect(consumer.log == LogSettings(level: .info, file: "/var/log/djinn/consumer.log"))
        #expect(consumer.parallelism == 0)
        #expect(consumer.attempts == 5)
        #expect(consumer.crypto == nil)
        #expect(consumer.database == DatabaseSettings(addr: "localhost:5432", name: "djinn", username: "djinn_consumer", password: "secret"))
        #expect(consumer.redis == RedisSettings(addr: "localhost:6379"))
        #expect(consumer.images == StoreSettings(type: "file", path: "/var/lib/djinn/images"))
    }

    @Test func distSchedulerConf() throws {
        let loaded = try loadScheduler(ReferenceFiles.scheduler)
        let scheduler = loaded.settings
        #expect(loaded.warnings.isEmpty)
        #expect(scheduler.pidfile == "/var/run/djinn/scheduler.pid")
        #expect(scheduler.log == LogSettings(level: .info, file: "/var/log/djinn/scheduler.log"))
        #expect(scheduler.interval == .seconds(60))
        #expect(scheduler.batchSize == 1000)
        #expect(scheduler.drivers == ["qemu-x86_64"])
        #expect(scheduler.crypto == CryptoSettings(salt: "1a2b3c4d5e6f7g8h"))
        #expect(scheduler.database == DatabaseSettings(addr: "localhost:5432", name: "djinn", username: "djinn_scheduler", password: "secret"))
        #expect(scheduler.redis == RedisSettings(addr: "localhost:6379"))
    }

    @Test func distDriverConf() throws {
        let loaded = try loadDriverFile(ReferenceFiles.driver)
        #expect(loaded.warnings.isEmpty)
        #expect(loaded.settings.ssh == SSHDriverSettings(user: "root", timeout: .seconds(60)))
        #expect(loaded.settings.docker == DockerDriverSettings(host: "unix:///var/run/docker.sock", version: "1.40"))
        #expect(loaded.settings.qemu == QEMUDriverSettings(cpus: 1, memory: 2048, disks: "/var/lib/djinn/images"))
    }

    /// The reference files as they are on disk, when the shared directory is present.
    @Test(arguments: ["worker", "consumer", "scheduler", "driver"])
    func distFilesOnDiskMatchTheCopies(name: String) throws {
        guard let (path, bytes) = distFile(name) else { return }
        let copy = switch name {
        case "worker": ReferenceFiles.worker
        case "consumer": ReferenceFiles.consumer
        case "scheduler": ReferenceFiles.scheduler
        default: ReferenceFiles.driver
        }
        #expect(String(decoding: bytes, as: UTF8.self) == copy)
        switch name {
        case "worker": _ = try WorkerSettings.load(path: path, environment: [:])
        case "consumer": _ = try ConsumerSettings.load(path: path, environment: [:])
        case "scheduler": _ = try SchedulerSettings.load(path: path, environment: [:])
        default: _ = try DriverFileSettings.load(path: path, environment: [:])
        }
    }

    /// No daemon of ours reads these two, but they are the same language.
    @Test(arguments: ["curator", "server"])
    func otherDistFilesParseCleanly(name: String) throws {
        guard let (_, bytes) = distFile(name) else { return }
        let parsed = ConfigParser.parse(bytes: bytes, file: "\(name).conf")
        #expect(parsed.diagnostics.isEmpty)
        #expect(parsed.parameters.contains { $0.name.text == "database" })
    }

    @Test func distWorkerConfWithCRLFLineEndings() throws {
        let crlf = ReferenceFiles.worker.replacingOccurrences(of: "\n", with: "\r\n")
        let loaded = try loadWorker(crlf)
        #expect(loaded.warnings.isEmpty)
        #expect(loaded.settings.smtp?.password == "secret")
        #expect(loaded.settings.artifacts.limit == 52_428_800)
    }

    @Test func distDriverConfWithACommentAtEndOfFile() throws {
        let loaded = try loadDriverFile(ReferenceFiles.driver + "# the end, no newline")
        #expect(loaded.settings.qemu?.memory == 2048)
    }

    @Test func inlineCommentsAfterEveryParameter() throws {
        let loaded = try loadConsumer("""
            pidfile "/run/c.pid"            # where the PID goes
            parallelism 2                   # two at once
            database {
                addr "localhost:5432"       # primary
                name "djinn"                # database name
                username "djinn_consumer"   # role
            }                               # end of database
            redis { addr "localhost:6379" } # redis
            store images {
                type "file"                 # the only type
                path "/var/lib/djinn/images"# no space before the comment
            }
            """)
        #expect(loaded.warnings.isEmpty)
        #expect(loaded.settings.database.username == "djinn_consumer")
        #expect(loaded.settings.images.path == "/var/lib/djinn/images")
        #expect(loaded.settings.parallelism == 2)
    }

    @Test func seedConsumerExample() throws {
        let loaded = try loadConsumer(ReferenceFiles.seedConsumerExample)
        #expect(loaded.warnings.isEmpty)
        #expect(loaded.settings.database.username == "djinn_curator")
        #expect(loaded.settings.images.path == "/var/lib/djinn/images")
        #expect(loaded.settings.log.file == "/var/log/djinn/consumer.log")
    }

    @Test func seedWorkerDirectives() throws {
        let loaded = try loadWorker(ReferenceFiles.seedWorkerExample)
        #expect(loaded.warnings.isEmpty)
        let worker = loaded.settings
        #expect(worker.parallelism == 4)
        #expect(worker.driverKind == .docker)
        #expect(worker.database.tls == TLSFiles(ca: "/var/lib/ssl/ca.crt", cert: "/var/lib/ssl/pgclient.crt", key: "/var/lib/ssl/pgclient.key"))
        #expect(worker.artifacts.limit == 50 * 1024 * 1024)
        #expect(worker.objects.limit == 0)
        #expect(worker.providers["github"] == ProviderSettings(name: "github", secret: "hook-secret"))
    }

    @Test func seedSchedulerDirectives() throws {
        let loaded = try loadScheduler(ReferenceFiles.seedSchedulerExample)
        #expect(loaded.warnings.isEmpty)
        #expect(loaded.settings.drivers == ["docker", "qemu-x86_64"])
        #expect(loaded.settings.crypto?.salt == "1a2b3c4d5e6f7g8h")
        #expect(loaded.settings.database.tls == TLSFiles(ca: "/ca.crt", cert: "/c.crt", key: "/c.key"))
    }
}
