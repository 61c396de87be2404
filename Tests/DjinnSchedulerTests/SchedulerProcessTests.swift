import DjinnBuilds
import DjinnJobs
import DjinnPostgres
import DjinnRedis
import DjinnSchema
import DjinnTesting
import Foundation
import Testing

/// Runs the built `djinn-scheduler` (it sits next to the test bundle) in the background.
struct SchedulerProcess {
    let process: TestProcess

    static func start(config: String) throws -> SchedulerProcess {
        let program = URL(fileURLWithPath: CommandLine.arguments[0]).deletingLastPathComponent()
            .appendingPathComponent("djinn-scheduler")
        return SchedulerProcess(process: try TestProcess.start([program.path, "-config", config]))
    }

    func signal(_ signal: Int32) { process.signal(signal) }

    func status() async -> Int32? {
        try? await process.wait()
    }
}

/// A migrated database, a Redis of its own (the daemon's queue names carry no test prefix), a
/// scratch directory for config and log files.
struct ProcessFixture {
    let services: IsolatedServices

    var db: TestDatabase { services.db }
    var pool: PostgresPool { services.pool }
    var redisServer: PrivateServices { services.redisServer }
    var redis: RedisClient { services.redis }
    var directory: URL { services.directory }

    static func with(_ body: (ProcessFixture) async throws -> Void) async throws {
        try await withClosing(
            { ProcessFixture(services: try await IsolatedServices.start(prefix: "schedproc", maxConnections: 2)) },
            close: { await $0.services.close() }, body)
    }

    func path(_ name: String) -> String { directory.appendingPathComponent(name).path }

    /// A scheduler config logging at debug to `<name>.log`; nil leaves a directive out.
    func writeConfig(_ name: String, interval: String? = "1s", batchSize: Int? = 1000) throws -> String {
        let pg = db.endpoints
        let config = path(name + ".conf")
        try """
            pidfile "\(path(name + ".pid"))"
            log debug "\(path(name + ".log"))"
            \(interval.map { "interval \($0)" } ?? "")
            \(batchSize.map { "batch_size \($0)" } ?? "")
            drivers ["os", "docker"]
            crypto {
                salt "scheduler-test-salt"
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

            """.write(toFile: config, atomically: true, encoding: .utf8)
        return config
    }

    func log(_ name: String) -> String { (try? String(contentsOfFile: path(name + ".log"), encoding: .utf8)) ?? "" }

    func count(_ sql: String) async throws -> Int { try await pool.query(sql)[0].decode(Int.self, at: 0) }

    /// Polls until `condition` holds; false after `timeout`.
    func eventually(timeout: Duration, _ condition: () async throws -> Bool) async throws -> Bool {
        let deadline = ContinuousClock.now + timeout
        while ContinuousClock.now < deadline {
            if try await condition() { return true }
            try await Task.sleep(for: .milliseconds(100))
        }
        return try await condition()
    }
}

/// The sum of N over the `submitted N build(s)` lines of a log.
func submittedCount(_ log: String) -> Int {
    log.split(separator: "\n").reduce(0) { total, line in
        guard let range = line.range(of: "submitted "), line.hasSuffix(" build(s)") else { return total }
        return total + (Int(line[range.upperBound...].dropLast(" build(s)".count)) ?? 0)
    }
}

@Suite struct SchedulerProcessTests {
    /// Acceptance: two djinn-scheduler processes on 5,000 due crons make exactly 5,000 builds.
    @Test func twoSchedulerProcessesOnFiveThousandDueCronsMakeFiveThousandBuilds() async throws {
        try await ProcessFixture.with { f in
            try await f.pool.execute("""
                INSERT INTO users (email, username, password, verified, created_at, updated_at)
                SELECT 'u' || g || '@example.com', 'u' || g, '', true, NOW(), NOW() FROM generate_series(1, 10) g
                """)
            try await f.pool.execute("""
                INSERT INTO cron (user_id, author_id, name, schedule, manifest, next_run)
                SELECT 1 + g % 10, 1 + g % 10, 'cron ' || g, (ARRAY['daily', 'weekly', 'monthly'])[1 + g % 3]::schedule, $1,
                       NOW() - interval '1 day' + g * interval '1 second'
                FROM generate_series(1, 5000) g
                """, [osManifest])
            let first = try SchedulerProcess.start(config: try f.writeConfig("a", batchSize: 700))
            let second = try SchedulerProcess.start(config: try f.writeConfig("b", batchSize: 700))
            let done = try await f.eventually(timeout: .seconds(180)) {
                let due = try await f.count("SELECT count(*) FROM cron WHERE next_run <= NOW()")
                let queued = try await f.redis.command(["LLEN", "builds_os:active"]).int ?? 0
                return due == 0 && queued >= 5000
            }
            // One more interval: a double invocation would show up now.
            try await Task.sleep(for: .milliseconds(1500))
            first.signal(SIGINT)
            second.signal(SIGTERM)
            #expect(await first.status() == 0)
            #expect(await second.status() == 0)
            #expect(done)

            #expect(try await f.count("SELECT count(*) FROM builds") == 5000)
            #expect(try await f.count("SELECT count(*) FROM builds WHERE status = 'queued'") == 5000)
            #expect(try await f.count("SELECT count(*) FROM cron_builds") == 5000)
            #expect(try await f.count("SELECT count(DISTINCT cron_id) FROM cron_builds") == 5000)
            #expect(try await f.count("SELECT count(DISTINCT (user_id, number)) FROM builds") == 5000)
            #expect(try await f.count("SELECT max(number) FROM builds") == 500)
            #expect(try await f.count("SELECT count(*) FROM cron WHERE prev_run IS NULL") == 0)
            let payloads = try await SchedulerFixture.queuedBuilds(redis: f.redis, queue: "builds_os")
            #expect(payloads.count == 5000)
            #expect(Set(payloads.map(\.buildID)).count == 5000)
            #expect(payloads.allSatisfy { $0.host == "djinn-scheduler" })

            let (logA, logB) = (f.log("a"), f.log("b"))
            #expect(submittedCount(logA) + submittedCount(logB) == 5000)
            for log in [logA, logB] {
                #expect(log.contains("batch interval set to 1s"))
                #expect(log.contains("batch size set to 700"))
                #expect(log.contains("loading batch of size 700"))
                #expect(log.contains("stopping scheduler"))
                #expect(log.contains("djinn-scheduler stopped"))
                #expect(!log.contains(f.db.endpoints.pgPassword))
            }
            #expect(!FileManager.default.fileExists(atPath: f.path("a.pid")))
        }
    }

    @Test func defaultsAndAFailedCronInTheRunningDaemon() async throws {
        try await ProcessFixture.with { f in
            try await f.pool.execute("""
                INSERT INTO users (email, username, password, verified, created_at, updated_at)
                VALUES ('a@example.com', 'alice', '', true, NOW(), NOW())
                """)
            try await f.pool.execute("""
                INSERT INTO cron (user_id, author_id, name, schedule, manifest, next_run) VALUES
                (1, 1, 'qemu one', 'weekly', 'driver:\n  type: qemu\n  image: x\n', NOW() - interval '3 days'),
                (1, 1, 'good', 'monthly', $1, NOW() - interval '40 days')
                """, [osManifest])
            // interval and batch_size absent: 1m and 1000; the first pass runs at start.
            let config = try f.writeConfig("d", interval: nil, batchSize: nil)
            let scheduler = try SchedulerProcess.start(config: config)
            let done = try await f.eventually(timeout: .seconds(60)) {
                try await f.count("SELECT count(*) FROM cron WHERE prev_run IS NOT NULL") == 2
            }
            #expect(done)
            scheduler.signal(SIGINT)
            #expect(await scheduler.status() == 0)
            let log = f.log("d")
            #expect(log.contains("batch interval set to 1m0s"))
            #expect(log.contains("batch size set to 1000"))
            #expect(log.contains("driver error: qemu-x86_64 - driver disabled; recorded as failed build"))
            #expect(log.contains("submitted 1 build(s)"))
            #expect(log.contains("stopping scheduler"))
            let rows = try await f.pool.query("SELECT b.status::text, b.output FROM builds b ORDER BY id")
            #expect(try rows.map { try $0.decode(String.self, at: 0) } == ["queued", "failed"])  // the good cron was due first
            #expect(try rows[1].decode(String?.self, at: 1) == "driver error: qemu-x86_64 - driver disabled")
        }
    }
}
