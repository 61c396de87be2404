import DjinnConfig
import DjinnTesting
import Foundation
import Testing
@testable import DjinnDaemon

/// A scratch directory with config files for one test.
struct ConfigDir {
    let url: URL

    init() throws {
        url = FileManager.default.temporaryDirectory.appendingPathComponent("djinn-daemon-\(UUID().uuidString.prefix(8))")
        try FileManager.default.createDirectory(at: url, withIntermediateDirectories: true)
    }

    func path(_ name: String) -> String { url.appendingPathComponent(name).path }

    @discardableResult
    func write(_ name: String, _ text: String) throws -> String {
        let p = path(name)
        try text.write(toFile: p, atomically: true, encoding: .utf8)
        return p
    }

    func remove() { try? FileManager.default.removeItem(at: url) }
}

func workerConfigText(driver: String = "os", database: String = "localhost:5432", redis: String = "localhost:6379",
                      extra: String = "", dir: String = "/tmp") -> String {
    """
    pidfile "\(dir)/worker.pid"
    log debug "\(dir)/worker.log"
    driver "\(driver)"
    timeout 30m
    \(extra)
    database {
        addr "\(database)"
        name "djinn"
        username "djinn_admin"
        password "djinn-admin-secret"
    }
    redis {
        addr "\(redis)"
    }
    store artifacts {
        type "file"
        path "\(dir)/artifacts"
    }
    store objects {
        type "file"
        path "\(dir)/objects"
    }

    """
}

func workerSettings(driver: String) throws -> WorkerSettings {
    let dir = try ConfigDir()
    defer { dir.remove() }
    let path = try dir.write("worker.conf", workerConfigText(driver: driver))
    return try WorkerSettings.load(path: path, environment: [:]).settings
}

/// Runs one of the built executables (they sit next to the test bundle).
struct BuiltProgram {
    let name: String

    var url: URL {
        URL(fileURLWithPath: CommandLine.arguments[0]).deletingLastPathComponent().appendingPathComponent(name)
    }

    /// Runs to completion (reaped off the cooperative pool).
    func run(_ arguments: [String], cwd: String? = nil) async throws -> TestProcess.Result {
        try await TestProcess.run([url.path] + arguments, directory: cwd)
    }

    /// Starts the program in the background; the caller signals and awaits it.
    func start(_ arguments: [String]) throws -> TestProcess {
        try TestProcess.start([url.path] + arguments)
    }
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

@Suite struct DaemonProcessTests {
    @Test(arguments: ["djinn-worker", "djinn-scheduler", "djinn-consumer"])
    func versionLine(_ name: String) async throws {
        let result = try await BuiltProgram(name: name).run(["-version"])
        #expect(result.status == 0)
        #expect(result.stdout == DjinnVersion.line(program: name) + "\n")
    }

    @Test func unknownFlagExitsTwo() async throws {
        let result = try await BuiltProgram(name: "djinn-consumer").run(["-bogus"])
        #expect(result.status == 2)
        #expect(result.stderr.contains("flag provided but not defined: -bogus"))
    }

    @Test func checkPrintsOkForBothWorkerFilesAndConnectsNowhere() async throws {
        let dir = try ConfigDir()
        defer { dir.remove() }
        // Port 1 on loopback: a connection attempt would fail, so "ok" proves none was made.
        let config = try dir.write("worker.conf", workerConfigText(database: "127.0.0.1:1", redis: "127.0.0.1:1", dir: dir.url.path))
        let driver = try dir.write("driver.conf", "driver ssh {\n\ttimeout 60s\n\tuser \"root\"\n}\n")
        let result = try await BuiltProgram(name: "djinn-worker").run(["-check", "-config", config, "-driver", driver])
        #expect(result.status == 0, "\(result.stderr)")
        #expect(result.stdout == "\(config): ok\n\(driver): ok\n")
        #expect(!FileManager.default.fileExists(atPath: dir.path("worker.pid")))
    }

    @Test func checkReportsPositionedErrorsAndExitsOne() async throws {
        let dir = try ConfigDir()
        defer { dir.remove() }
        let config = try dir.write("worker.conf", workerConfigText(driver: "teleport", dir: dir.url.path))
        let driver = try dir.write("driver.conf", "")
        let result = try await BuiltProgram(name: "djinn-worker").run(["-check", "-config", config, "-driver", driver])
        #expect(result.status == 1)
        #expect(result.stderr.contains("\(config):3:"))
        #expect(result.stderr.contains("unknown driver: teleport"))
        #expect(result.stdout.isEmpty)
    }

    @Test func referenceConfigsFromGoDjinnPassCheck() async throws {
        let reference = TestServices.repositoryRoot.deletingLastPathComponent().appendingPathComponent("shared/reference/djinn-dist")
        guard FileManager.default.fileExists(atPath: reference.path) else { return }
        let r = { (name: String) in reference.appendingPathComponent(name).path }
        let worker = try await BuiltProgram(name: "djinn-worker").run(["-check", "-config", r("worker.conf"), "-driver", r("driver.conf")])
        #expect(worker.status == 0, "\(worker.stderr)")
        let scheduler = try await BuiltProgram(name: "djinn-scheduler").run(["-check", "-config", r("scheduler.conf")])
        #expect(scheduler.status == 0, "\(scheduler.stderr)")
        let consumer = try await BuiltProgram(name: "djinn-consumer").run(["-check", "-config", r("consumer.conf")])
        #expect(consumer.status == 0, "\(consumer.stderr)")
    }

    /// The example configs shipped in dist/ are what operators copy: they must load.
    @Test func distExampleConfigsPassCheck() async throws {
        let dist = TestServices.repositoryRoot.appendingPathComponent("dist")
        let d = { (name: String) in dist.appendingPathComponent(name).path }
        let worker = try await BuiltProgram(name: "djinn-worker").run(["-check", "-config", d("worker.conf"), "-driver", d("driver.conf")])
        #expect(worker.status == 0, "\(worker.stderr)")
        #expect(worker.stderr.isEmpty, "warnings: \(worker.stderr)")
        for (program, file) in [("djinn-scheduler", "scheduler.conf"), ("djinn-consumer", "consumer.conf")] {
            let result = try await BuiltProgram(name: program).run(["-check", "-config", d(file)])
            #expect(result.status == 0, "\(file): \(result.stderr)")
            #expect(result.stderr.isEmpty, "\(file) warnings: \(result.stderr)")
        }
    }

    @Test(arguments: [SIGTERM, SIGINT])
    func runsWithPidfileAndStopsCleanlyOnSignal(_ signal: Int32) async throws {
        let endpoints = try await TestServices.endpoints()
        let db = try await TestDatabase.create()
        let dir = try ConfigDir()
        defer { dir.remove() }
        let config = try dir.write("consumer.conf", """
            pidfile "\(dir.path("consumer.pid"))"
            log info "\(dir.path("consumer.log"))"
            database {
                addr "\(endpoints.pgAddr)"
                name "\(db.name)"
                username "\(endpoints.pgUser)"
                password "\(endpoints.pgPassword)"
            }
            redis {
                addr "\(endpoints.redisAddr)"
            }
            store images {
                type "file"
                path "\(dir.path("images"))"
            }

            """)
        let running = try BuiltProgram(name: "djinn-consumer").start(["-config", config])
        let log = dir.path("consumer.log")
        let ready = await eventually {
            ((try? String(contentsOfFile: log, encoding: .utf8)) ?? "").contains("consumer ready")
        }
        #expect(ready)
        let pid = try String(contentsOfFile: dir.path("consumer.pid"), encoding: .utf8)
        #expect(pid == String(running.pid))
        running.signal(signal)
        #expect(try await running.wait() == 0)
        #expect(!FileManager.default.fileExists(atPath: dir.path("consumer.pid")))
        let text = try String(contentsOfFile: log, encoding: .utf8)
        #expect(text.contains("INFO logging initialized, writing to \(log) at level INFO"))
        #expect(text.contains("djinn-consumer stopped"))
        #expect(!text.contains(endpoints.pgPassword))
    }

    @Test func unreachableDatabaseFailsStartAndRemovesPidfile() async throws {
        let dir = try ConfigDir()
        defer { dir.remove() }
        let config = try dir.write("scheduler.conf", """
            pidfile "\(dir.path("s.pid"))"
            log info "\(dir.path("s.log"))"
            drivers ["os"]
            database {
                addr "127.0.0.1:1"
                name "djinn"
                username "djinn"
                password "hunter2-secret"
            }
            redis {
                addr "127.0.0.1:1"
            }

            """)
        let result = try await BuiltProgram(name: "djinn-scheduler").run(["-config", config])
        #expect(result.status == 1)
        #expect(result.stderr.hasPrefix("djinn-scheduler: database "))
        #expect(!result.stderr.contains("hunter2-secret"))
        #expect(!FileManager.default.fileExists(atPath: dir.path("s.pid")))
        let log = try String(contentsOfFile: dir.path("s.log"), encoding: .utf8)
        #expect(!log.contains("hunter2-secret"))
    }

    @Test func djinnctlMigrateTwiceWithAWorkerConfig() async throws {
        let endpoints = try await TestServices.endpoints()
        let db = try await TestDatabase.create()
        let dir = try ConfigDir()
        defer { dir.remove() }
        // Any daemon's file works: only `database` is read (the rest would not even connect).
        let config = try dir.write("worker.conf", workerConfigText(database: endpoints.pgAddr, redis: "127.0.0.1:1", dir: dir.url.path)
            .replacingOccurrences(of: "name \"djinn\"", with: "name \"\(db.name)\"")
            .replacingOccurrences(of: "djinn-admin-secret", with: endpoints.pgPassword)
            .replacingOccurrences(of: "username \"djinn_admin\"", with: "username \"\(endpoints.pgUser)\""))
        let first = try await BuiltProgram(name: "djinnctl").run(["migrate", "-config", config])
        #expect(first.status == 0, "\(first.stderr)")
        #expect(first.stdout.contains("applied 0001_initial"))
        let second = try await BuiltProgram(name: "djinnctl").run(["migrate", "-config=\(config)"])
        #expect(second.status == 0, "\(second.stderr)")
        #expect(second.stdout.contains("database is up to date"))
        let tables = try await db.psql("SELECT count(*) FROM information_schema.tables WHERE table_schema = 'public'")
        #expect(tables == "30\n")
    }

    @Test func djinnctlMigrateReportsConfigErrorsWithPosition() async throws {
        let dir = try ConfigDir()
        defer { dir.remove() }
        let config = try dir.write("bad.conf", "database {\n\tname \"djinn\"\n}\n")
        let result = try await BuiltProgram(name: "djinnctl").run(["migrate", "-config", config])
        #expect(result.status == 1)
        #expect(result.stderr.contains("\(config):1:1:"))
    }
}
