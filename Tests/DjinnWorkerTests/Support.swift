import DjinnBuilds
import DjinnConfig
import DjinnCrypto
import DjinnManifest
import DjinnNotify
import DjinnPostgres
import DjinnQueue
import DjinnRedis
import DjinnRunner
import DjinnSchema
import DjinnTesting
@testable import DjinnWorker
import Foundation
import Logging
import Testing

let quietLogger = Logger(label: "djinn.worker.test", factory: { _ in SwiftLogNoOpLogHandler() })

let testCryptoBlock = "0123456789abcdef"
let testCryptoSalt = "worker-test-salt"

/// Enqueues builds through DjinnQueue's producer (what the server and scheduler do).
struct ProducerEnqueuer: BuildEnqueuer {
    let client: RedisClient

    func enqueue(queue: String, payload: [UInt8]) async throws {
        try await QueueProducer(client: client, queue: queue).enqueue(payload)
    }
}

/// A migrated database of the test's own, a Redis server of its own (the worker consumes the
/// fixed queue `builds_os`), store directories, a user, and a worker service or process.
final class WorkerFixture: Sendable {
    let services: IsolatedServices
    let user: UserRecord

    var db: TestDatabase { services.db }
    var redisServer: PrivateServices { services.redisServer }
    var pool: PostgresPool { services.pool }
    var redis: RedisClient { services.redis }
    var directory: URL { services.directory }
    var artifactsPath: String { directory.appendingPathComponent("artifacts").path }
    var objectsPath: String { directory.appendingPathComponent("objects").path }
    var cipher: DjinnCipher { try! DjinnCipher(block: testCryptoBlock, salt: testCryptoSalt) }

    private init(services: IsolatedServices, user: UserRecord) {
        self.services = services
        self.user = user
    }

    /// Runs `body` with a fixture and always stops its Redis server afterwards.
    static func with(_ body: (WorkerFixture) async throws -> Void) async throws {
        try await withClosing(make, close: { await $0.close() }, body)
    }

    private static func make() async throws -> WorkerFixture {
        let services = try await IsolatedServices.start(prefix: "worker", maxConnections: 8)
        do {
            for sub in ["artifacts", "objects", "tmp"] {
                try FileManager.default.createDirectory(
                    at: services.directory.appendingPathComponent(sub), withIntermediateDirectories: true)
            }
            let user = try await UserStore(services.pool).add(username: "alice", email: "alice@example.com")
            return WorkerFixture(services: services, user: user)
        } catch {
            await services.close()
            throw error
        }
    }

    func close() async {
        await services.close()
    }

    // MARK: Builds

    func settings(
        parallelism: Int = 2, timeout: Duration = .seconds(60), artifactLimit: Int64 = 0, crypto: Bool = true,
        driver: DriverKind = .os
    ) -> WorkerSettings {
        let pg = db.endpoints
        return WorkerSettings(
            parallelism: parallelism, driver: driver.rawValue, driverKind: driver, timeout: timeout,
            crypto: crypto ? CryptoSettings(block: testCryptoBlock, salt: testCryptoSalt) : nil,
            database: DatabaseSettings(addr: pg.pgAddr, name: db.name, username: pg.pgUser, password: pg.pgPassword),
            redis: RedisSettings(addr: redisServer.endpoints.redisAddr),
            artifacts: StoreSettings(path: artifactsPath, limit: artifactLimit),
            objects: StoreSettings(path: objectsPath))
    }

    /// Creates and queues a build exactly as the server does.
    @discardableResult
    func submit(_ manifest: String, enabledDrivers: Set<String> = ["os", "docker"]) async throws -> CreatedBuild {
        let submitter = BuildSubmitter(
            pool: pool, enqueuer: ProducerEnqueuer(client: redis), enabledDrivers: enabledDrivers, host: "https://djinn.example",
            logger: quietLogger)
        return try await submitter.submit(BuildRequest(
            userID: user.id, manifest: try Manifest(parsing: manifest, file: "test.yml"), trigger: .manual(by: user)))
    }

    /// A variable of the user, masked ones stored encrypted as the server does.
    func addVariable(_ key: String, _ value: String, masked: Bool = false) async throws {
        let stored = masked ? cipher.encryptBase64(Array(value.utf8)) : value
        try await pool.execute(
            "INSERT INTO variables (user_id, author_id, key, value, masked) VALUES ($1, $1, $2, $3, $4)",
            [user.id, key, stored, masked])
    }

    func addKey(_ name: String, _ content: String, config: String) async throws {
        try await pool.execute(
            "INSERT INTO keys (user_id, author_id, name, key, config) VALUES ($1, $1, $2, $3, $4)",
            [user.id, name, cipher.encrypt(Array(content.utf8)), config])
    }

    /// An object of the user, its file in the objects store.
    func addObject(_ name: String, _ content: String) async throws {
        let hash = "obj" + UUID().uuidString.prefix(8).lowercased()
        let ownerDirectory = objectsPath + "/\(user.id)"
        try FileManager.default.createDirectory(atPath: ownerDirectory, withIntermediateDirectories: true)
        try content.write(toFile: ownerDirectory + "/" + hash, atomically: true, encoding: .utf8)
        try await pool.execute("""
            INSERT INTO objects (user_id, author_id, hash, name, type, size, md5, sha256)
            VALUES ($1, $1, $2, $3, 'text/plain', $4, $5, $5)
            """, [user.id, hash, name, content.utf8.count, [UInt8](repeating: 0, count: 16)])
    }

    // MARK: Reading back

    struct BuildState: Sendable {
        var status: String
        var output: String?
        var startedAt: Date?
        var finishedAt: Date?
        var jobs: [JobState]

        func job(_ name: String) -> JobState? { jobs.first { $0.name == name } }
        var storedText: String { ([output ?? ""] + jobs.map { $0.output ?? "" }).joined(separator: "\n") }
    }

    struct JobState: Sendable {
        var id: Int64
        var stage: String
        var name: String
        var status: String
        var output: String?
        var startedAt: Date?
        var finishedAt: Date?
    }

    func state(_ buildID: Int64) async throws -> BuildState {
        let build = try await pool.query(
            "SELECT status::text, output, started_at, finished_at FROM builds WHERE id = $1", [buildID])[0]
        let jobs = try await pool.query("""
            SELECT j.id, s.name AS stage, j.name, j.status::text AS status, j.output, j.started_at, j.finished_at
            FROM build_jobs j JOIN build_stages s ON s.id = j.stage_id
            WHERE j.build_id = $1 ORDER BY j.created_at, j.id
            """, [buildID]).map { row in
            JobState(
                id: try row.decode(Int64.self, column: "id"), stage: try row.decode(String.self, column: "stage"),
                name: try row.decode(String.self, column: "name"), status: try row.decode(String.self, column: "status"),
                output: try row.decode(String?.self, column: "output"), startedAt: try row.decode(Date?.self, column: "started_at"),
                finishedAt: try row.decode(Date?.self, column: "finished_at"))
        }
        return BuildState(
            status: try build.decode(String.self, at: 0), output: try build.decode(String?.self, at: 1),
            startedAt: try build.decode(Date?.self, at: 2), finishedAt: try build.decode(Date?.self, at: 3), jobs: jobs)
    }

    /// Polls until `condition` holds for the build; returns that state (or throws after `timeout`).
    @discardableResult
    func wait(
        for buildID: Int64, timeout: Duration = .seconds(60), interval: Duration = .milliseconds(20),
        _ condition: (BuildState) -> Bool
    ) async throws -> BuildState {
        let deadline = ContinuousClock.now + timeout
        var last = try await state(buildID)
        while !condition(last) {
            guard ContinuousClock.now < deadline else { throw WaitTimedOut(state: "\(last)") }
            try await Task.sleep(for: interval)
            last = try await state(buildID)
        }
        return last
    }

    /// Waits for the build's `finished_at`.
    @discardableResult
    func waitFinished(_ buildID: Int64, timeout: Duration = .seconds(60)) async throws -> BuildState {
        try await wait(for: buildID, timeout: timeout) { $0.finishedAt != nil }
    }

    func tags(_ buildID: Int64) async throws -> [String] {
        try await pool.query("SELECT name FROM build_tags WHERE build_id = $1 ORDER BY id", [buildID]).map { try $0.decode(String.self, at: 0) }
    }

    // MARK: Workers

    /// Runs an in-process worker service while `body` runs, then shuts it down.
    func withService<T>(
        _ settings: WorkerSettings? = nil, queueOptions: QueueOptions? = nil, runSettings: RunSettings? = nil,
        makeDriver: (@Sendable (BuildDefinition) -> any BuildDriver)? = nil,
        notifications: NotifierConfiguration? = nil,
        onFinished: @escaping @Sendable (BuildFinished) async -> Void = { _ in },
        _ body: (BuildConsumerService) async throws -> T
    ) async throws -> T {
        let settings = settings ?? self.settings()
        var options = queueOptions ?? BuildConsumerService.workerQueueOptions(settings)
        options.pollTimeout = .milliseconds(500)
        let tmp = directory.appendingPathComponent("tmp").path
        let service = try BuildConsumerService(
            settings: settings, postgres: pool, redis: redis, logger: quietLogger, queueOptions: options, runSettings: runSettings,
            makeDriver: makeDriver ?? { _ in OSDriver(temporaryDirectory: tmp, logger: quietLogger) },
            notifications: notifications, onFinished: onFinished)
        let running = Task { try await service.run() }
        do {
            let result = try await body(service)
            service.shutdown()
            try await running.value
            return result
        } catch {
            service.shutdown()
            try? await running.value
            throw error
        }
    }

    /// The working directories the os driver left in the fixture's temporary directory.
    func leftoverWorkingDirectories() throws -> [String] {
        try FileManager.default.contentsOfDirectory(atPath: directory.appendingPathComponent("tmp").path)
    }

    /// Writes worker.conf and driver.conf for a `djinn-worker` process.
    /// `driverKind`/`driverFile` choose the worker's driver and driver.conf's text.
    func writeWorkerConfig(
        parallelism: Int = 2, timeout: String = "60s", logLevel: String = "debug", driverKind: String = "os",
        driverFile: String = "driver os {}\n"
    ) throws -> (config: String, driver: String, log: String) {
        let pg = db.endpoints
        let config = directory.appendingPathComponent("worker.conf").path
        let driver = directory.appendingPathComponent("driver.conf").path
        let log = directory.appendingPathComponent("worker-\(UUID().uuidString.prefix(6)).log").path
        try """
            log \(logLevel) "\(log)"
            driver "\(driverKind)"
            parallelism \(parallelism)
            timeout \(timeout)
            crypto {
                block "\(testCryptoBlock)"
                salt "\(testCryptoSalt)"
            }
            database {
                addr "\(pg.pgAddr)"
                name "\(db.name)"
                username "\(pg.pgUser)"
                password "\(pg.pgPassword)"
            }
            redis {
                addr "\(redisServer.endpoints.redisAddr)"
            }
            store artifacts {
                type "file"
                path "\(artifactsPath)"
            }
            store objects {
                type "file"
                path "\(objectsPath)"
            }

            """.write(toFile: config, atomically: true, encoding: .utf8)
        try driverFile.write(toFile: driver, atomically: true, encoding: .utf8)
        return (config, driver, log)
    }
}

struct WaitTimedOut: Error, CustomStringConvertible {
    var state: String
    var description: String { "timed out waiting; last state: \(state)" }
}

/// A `djinn-worker` process (the binary next to the test bundle), spawned and reaped with
/// DjinnRunner's `ChildProcess` (its own process group; waited for on a thread of its own).
final class WorkerProcess: Sendable {
    let child: ChildProcess
    let logPath: String
    private let drained: Task<Void, Never>

    var pid: Int32 { child.pid }

    /// `executable` defaults to the debug `djinn-worker` built with the tests.
    init(config: String, driver: String, log: String, environment: [String: String] = [:], executable: String? = nil) throws {
        let url = executable.map { URL(fileURLWithPath: $0) }
            ?? URL(fileURLWithPath: CommandLine.arguments[0]).deletingLastPathComponent().appendingPathComponent("djinn-worker")
        let merged = ProcessInfo.processInfo.environment.merging(environment) { $1 }
        child = try ChildProcess.spawn(ChildProcess.Configuration(
            executable: url.path, arguments: ["-config", config, "-driver", driver],
            workingDirectory: FileManager.default.currentDirectoryPath,
            environment: merged.map { "\($0.key)=\($0.value)" }))
        logPath = log
        let child = self.child
        // stdout/stderr carry only start-up errors; read them so the worker never blocks.
        drained = Task { do { for try await _ in child.output {} } catch {} }
    }

    func signal(_ signal: Int32) { kill(pid, signal) }

    /// The exit status (or, negated, the signal that ended it).
    func status() async -> Int32? {
        switch try? await child.wait() {
        case .exited(let code): return code
        case .signalled(let signal): return -signal
        case nil: return nil
        }
    }

    var log: String { (try? String(contentsOfFile: logPath, encoding: .utf8)) ?? "" }

    /// Peak resident memory (`VmHWM`) in kB, while the process lives.
    var peakResidentKilobytes: Int? {
        guard let status = try? String(contentsOfFile: "/proc/\(pid)/status", encoding: .utf8) else { return nil }
        for line in status.split(separator: "\n") where line.hasPrefix("VmHWM:") {
            return Int(line.split(separator: " ", omittingEmptySubsequences: true).dropFirst().first ?? "")
        }
        return nil
    }

    /// Waits until the log contains `text`.
    func waitForLog(_ text: String, timeout: Duration = .seconds(30)) async throws {
        let deadline = ContinuousClock.now + timeout
        while !log.contains(text) {
            guard ContinuousClock.now < deadline else { throw WaitTimedOut(state: "log: \(log)") }
            try await Task.sleep(for: .milliseconds(20))
        }
    }

    /// Stops it (SIGTERM) and waits.
    func stop() async -> Int32? {
        signal(SIGTERM)
        return await status()
    }
}

/// True while any process of the group is alive (zombies waiting for init do not count).
func processGroupExists(_ pgid: Int32) -> Bool {
    ProcessGroups.isAlive(pgid)
}

/// Polls until `condition` holds or `timeout` passes.
func eventually(timeout: Duration = .seconds(10), _ condition: () throws -> Bool) async rethrows -> Bool {
    let deadline = ContinuousClock.now + timeout
    while ContinuousClock.now < deadline {
        if try condition() { return true }
        try? await Task.sleep(for: .milliseconds(20))
    }
    return try condition()
}
