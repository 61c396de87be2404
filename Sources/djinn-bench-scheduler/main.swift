// djinn-bench-scheduler: how fast the scheduler turns due crons into queued builds.
// Run through bench/scheduler, which starts throwaway PostgreSQL and Redis servers and passes
// their addresses in DJINN_PG_* / DJINN_REDIS_* (scripts/services' environment).
//
// For each run it creates a fresh database, migrates it, inserts the crons with one SQL
// statement (all due, one tiny os manifest), runs CronScheduler passes until none is due, then
// checks that every cron produced exactly one build and one queue entry.
import DjinnBuilds
import DjinnPostgres
import DjinnRedis
import DjinnSchema
import DjinnScheduler
import Foundation
import Logging

struct Options {
    var crons = 100_000
    var baselineCrons = 5_000
    var users = 1
    var batchSize = 1000
    var parallelism = 4

    init(arguments: [String]) {
        var iterator = arguments.makeIterator()
        while let flag = iterator.next() {
            guard let value = iterator.next().flatMap(Int.init), value > 0 else { usage("\(flag) needs a positive number") }
            switch flag {
            case "-crons": crons = value
            case "-baseline-crons": baselineCrons = value
            case "-users": users = value
            case "-batch-size": batchSize = value
            case "-parallelism": parallelism = value
            default: usage("unknown flag \(flag)")
            }
        }
    }
}

func usage(_ message: String) -> Never {
    FileHandle.standardError.write(Data("""
        djinn-bench-scheduler: \(message)
        usage: djinn-bench-scheduler [-crons N] [-baseline-crons N] [-users N] [-batch-size N] [-parallelism N]

        """.utf8))
    exit(2)
}

func environment(_ name: String) -> String {
    guard let value = ProcessInfo.processInfo.environment[name], !value.isEmpty else { usage("\(name) is not set (run bench/scheduler)") }
    return value
}

let manifest = """
    driver:
      type: os
    stages: [build]
    jobs:
      - stage: build
        commands: [make]

    """

let logger = Logger(label: "bench", factory: { _ in SwiftLogNoOpLogHandler() })

struct RunResult {
    var label: String
    var crons: Int
    var seconds: Double
    var batches: [BatchSummary]
    /// /proc/loadavg's 1-minute figure when the timed part started and ended (the machine is shared).
    var loadAtStart: String
    var loadAtEnd: String
    var buildsPerSecond: Double { Double(crons) / seconds }
}

func pgConfiguration(database: String) -> PostgresConfiguration {
    PostgresConfiguration(
        host: environment("DJINN_PG_HOST"), port: Int(environment("DJINN_PG_PORT"))!, database: database,
        user: environment("DJINN_PG_USER"), password: environment("DJINN_PG_PASSWORD"))
}

/// A fresh migrated database with `users` users and `crons` due crons spread over them.
func prepareDatabase(_ name: String, crons: Int, users: Int) async throws -> PostgresPool {
    let admin = try await PostgresConnection.connect(pgConfiguration(database: "postgres"), logger: logger)
    try await admin.execute("DROP DATABASE IF EXISTS \"\(name)\"")
    try await admin.execute("CREATE DATABASE \"\(name)\"")
    await admin.close()
    let setup = PostgresPool(configuration: pgConfiguration(database: name), maxConnections: 1, logger: logger)
    _ = try await Migrator(pool: setup, logger: logger).migrate()
    try await setup.execute("""
        INSERT INTO users (email, username, password, verified, created_at, updated_at)
        SELECT 'user' || g || '@example.com', 'user' || g, '', true, NOW(), NOW() FROM generate_series(1, $1) g
        """, [users])
    try await setup.execute("""
        INSERT INTO cron (user_id, author_id, name, schedule, manifest, next_run, created_at)
        SELECT 1 + g % $2, 1 + g % $2, 'cron ' || g, 'daily', $3, NOW() - interval '1 hour' - g * interval '1 millisecond', NOW()
        FROM generate_series(1, $1) g
        """, [crons, users, manifest])
    try await setup.execute("VACUUM ANALYZE")
    await setup.close()
    return PostgresPool(configuration: pgConfiguration(database: name), maxConnections: 8, logger: logger)
}

/// How a run turns due crons into builds.
enum Method {
    /// The daemon's passes (`CronScheduler.runDue`): one transaction per page.
    case pages
    /// One cron listed, then invoked in a transaction of its own (`CronScheduler.invoke`, the
    /// scheduler's per-cron path), one after the other on one connection.
    case naive
}

func run(
    label: String, method: Method, database: String, crons: Int, users: Int, batchSize: Int, parallelism: Int, redis: RedisClient
) async throws -> RunResult {
    let pool = try await prepareDatabase(database, crons: crons, users: users)
    let prefix = "bench:\(database):"
    _ = try await redis.command(["DEL", prefix + "builds_os:active", prefix + "builds_os:data"])
    let submitter = BuildSubmitter(
        pool: pool, enqueuer: QueueBuildEnqueuer(client: redis, keyPrefix: prefix, logger: logger), enabledDrivers: ["os"],
        host: "djinn-scheduler", logger: logger)
    let scheduler = CronScheduler(pool: pool, submitter: submitter, batchSize: batchSize, parallelism: parallelism, logger: logger)
    // Open the connections before the clock starts, as a running daemon has them.
    try await withThrowingTaskGroup(of: Void.self) { group in
        for _ in 0..<min(8, parallelism + 1) { group.addTask { try await pool.withConnection { try await $0.ping() } } }
        try await group.waitForAll()
    }

    let loadAtStart = loadAverage()
    let started = ContinuousClock.now
    var batches: [BatchSummary] = []
    switch method {
    case .pages:
        while true {
            let pass = try await scheduler.runDue()
            batches += pass.batches
            if pass.outcomes.isEmpty { break }
        }
    case .naive:
        let now = Date()
        try await pool.withConnection { connection in
            var after: CronKey?
            while true {
                let started = ContinuousClock.now
                guard let key = try await CronStore(connection).dueBatch(now: now, after: after, limit: 1).first else { break }
                after = key
                let outcome = await scheduler.invoke(key, now: now, on: connection)
                batches.append(BatchSummary(loaded: 1, outcomes: [outcome], duration: ContinuousClock.now - started))
            }
        }
    }
    let elapsed = ContinuousClock.now - started
    let loadAtEnd = loadAverage()
    let seconds = Double(elapsed.components.seconds) + Double(elapsed.components.attoseconds) / 1e18

    let builds = try await pool.query("SELECT count(*), count(DISTINCT (user_id, number)) FROM builds")[0]
    let linked = try await pool.query("SELECT count(DISTINCT cron_id) FROM cron_builds")[0].decode(Int.self, at: 0)
    let due = try await pool.query("SELECT count(*) FROM cron WHERE next_run <= NOW()")[0].decode(Int.self, at: 0)
    let queued = try await redis.command(["LLEN", prefix + "builds_os:active"]).int ?? -1
    let failures = batches.reduce(0) { $0 + $1.failed + $1.errors }
    let buildCount = try builds.decode(Int.self, at: 0), distinctNumbers = try builds.decode(Int.self, at: 1)
    guard buildCount == crons, distinctNumbers == crons, linked == crons, due == 0, queued == crons, failures == 0 else {
        throw BenchError(
            "\(label): expected \(crons) of each; builds \(buildCount) (distinct numbers \(distinctNumbers)), crons linked \(linked), "
                + "still due \(due), queued \(queued), failed/errors \(failures)")
    }
    _ = try await redis.command(["DEL", prefix + "builds_os:active", prefix + "builds_os:data"])
    await pool.close()
    let admin = try await PostgresConnection.connect(pgConfiguration(database: "postgres"), logger: logger)
    try await admin.execute("DROP DATABASE IF EXISTS \"\(database)\"")
    await admin.close()
    return RunResult(
        label: label, crons: crons, seconds: seconds, batches: batches.filter { $0.loaded > 0 }, loadAtStart: loadAtStart,
        loadAtEnd: loadAtEnd)
}

/// The 1-minute load average (other jobs share the machine).
func loadAverage() -> String {
    let text = (try? String(contentsOfFile: "/proc/loadavg", encoding: .utf8)) ?? "?"
    return String(text.split(separator: " ").first ?? "?")
}

struct BenchError: Error, CustomStringConvertible {
    var description: String
    init(_ description: String) { self.description = description }
}

func milliseconds(_ duration: Duration) -> Double {
    Double(duration.components.seconds) * 1000 + Double(duration.components.attoseconds) / 1e15
}

/// Unbuffered, so that progress shows in a pipe or file while the next run goes on.
func say(_ line: String) {
    FileHandle.standardOutput.write(Data((line + "\n").utf8))
}

func report(_ result: RunResult) {
    let times = result.batches.map { milliseconds($0.duration) }.sorted()
    let perBatch: String
    if times.isEmpty {
        perBatch = "-"
    } else {
        let mean = times.reduce(0, +) / Double(times.count)
        perBatch = String(format: "%d batches of up to %d: mean %.1f ms, median %.1f ms, max %.1f ms", times.count,
                          result.batches.map(\.loaded).max() ?? 0, mean, times[times.count / 2], times.last!)
    }
    say(String(format: "%@: %d builds in %.2f s = %.0f builds/s; %@ (load average %@ at start, %@ at end)", result.label,
                 result.crons, result.seconds, result.buildsPerSecond, perBatch, result.loadAtStart, result.loadAtEnd))
}

let options = Options(arguments: Array(CommandLine.arguments.dropFirst()))
let redis = RedisClient(
    configuration: try RedisConfiguration(addr: environment("DJINN_REDIS_ADDR"), password: ProcessInfo.processInfo.environment["DJINN_REDIS_PASSWORD"] ?? ""),
    logger: logger)
/// The client's floor: one `SELECT 1` round trip on an open connection (thread hop, libpq, server).
func roundTripMicros() async throws -> Double {
    let connection = try await PostgresConnection.connect(pgConfiguration(database: "postgres"), logger: logger)
    for _ in 0..<200 { try await connection.ping() }
    let started = ContinuousClock.now
    let count = 3000
    for _ in 0..<count { try await connection.ping() }
    let elapsed = milliseconds(ContinuousClock.now - started) * 1000 / Double(count)
    await connection.close()
    return elapsed
}

do {
    say(String(format: "one SELECT 1 round trip: %.0f µs", try await roundTripMicros()))
    let scheduler = try await run(
        label: "scheduler (one transaction per page of \(options.batchSize), \(options.users) user(s))", method: .pages,
        database: "bench_scheduler", crons: options.crons, users: options.users, batchSize: options.batchSize,
        parallelism: options.parallelism, redis: redis)
    report(scheduler)
    let baseline = try await run(
        label: "naive baseline (one cron listed, then invoked in its own transaction, one at a time, \(options.users) user(s))",
        method: .naive, database: "bench_scheduler_baseline", crons: options.baselineCrons, users: options.users, batchSize: 1, parallelism: 1,
        redis: redis)
    report(baseline)
    say(String(format: "speed-up over the baseline: %.1fx", scheduler.buildsPerSecond / baseline.buildsPerSecond))
} catch {
    FileHandle.standardError.write(Data("djinn-bench-scheduler: \(error)\n".utf8))
    await redis.close()
    exit(1)
}
await redis.close()
