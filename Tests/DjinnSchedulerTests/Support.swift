import DjinnBuilds
import DjinnJobs
import DjinnPostgres
import DjinnQueue
import DjinnRedis
import DjinnSchema
import DjinnScheduler
import DjinnTesting
import Foundation
import Logging
import Synchronization

let quietLogger = Logger(label: "djinn.scheduler.test", factory: { _ in SwiftLogNoOpLogHandler() })

/// Log lines kept in memory, for checking what the scheduler says.
final class LogCapture: Sendable {
    private let lines = Mutex<[String]>([])

    var logger: Logger {
        var logger = Logger(label: "djinn.scheduler.test") { _ in CapturingHandler(capture: self) }
        logger.logLevel = .debug
        return logger
    }

    var all: [String] { lines.withLock { $0 } }
    func append(_ line: String) { lines.withLock { $0.append(line) } }
    func contains(_ text: String) -> Bool { all.contains { $0.contains(text) } }

    struct CapturingHandler: LogHandler {
        let capture: LogCapture
        var metadata: Logger.Metadata = [:]
        var logLevel: Logger.Level = .debug

        subscript(metadataKey key: String) -> Logger.Metadata.Value? {
            get { metadata[key] }
            set { metadata[key] = newValue }
        }

        func log(event: LogEvent) {
            capture.append("\(event.level.rawValue.uppercased()) \(event.message)")
        }
    }
}

let osManifest = """
    driver:
      type: os
    stages: [build]
    jobs:
      - stage: build
        commands: [make]

    """

/// A migrated database of the test's own, the shared Redis under a key prefix of its own.
struct SchedulerFixture {
    let db: TestDatabase
    let pool: PostgresPool
    let redis: RedisClient
    let prefix: String
    let log = LogCapture()

    static func with(maxConnections: Int = 6, _ body: (SchedulerFixture) async throws -> Void) async throws {
        let db = try await TestDatabase.create(prefix: "sched")
        let pool = PostgresPool(configuration: db.configuration, maxConnections: maxConnections, logger: quietLogger)
        let redis = RedisClient(configuration: db.endpoints.redisConfiguration, logger: quietLogger)
        let fixture = SchedulerFixture(db: db, pool: pool, redis: redis, prefix: testKeyPrefix("sched"))
        do {
            _ = try await Migrator(pool: pool, logger: quietLogger).migrate()
            try await body(fixture)
            await fixture.close()
        } catch {
            await fixture.close()
            throw error
        }
    }

    /// Makes the database refuse a `build_drivers` row whose config holds `"marker":"M"`,
    /// with the SQLSTATE and message given for M: a database error caused by one cron's data.
    func refuseDriverRows(marked errors: [(marker: String, sqlstate: String, message: String)]) async throws {
        let branches = errors.enumerated().map { index, error in
            """
            \(index == 0 ? "IF" : "ELSIF") NEW.config::text LIKE '%"marker":"\(error.marker)"%' THEN
                RAISE EXCEPTION '\(error.message)' USING ERRCODE = '\(error.sqlstate)';
            """
        }.joined(separator: "\n")
        try await pool.execute("""
            CREATE FUNCTION refuse_marked_drivers() RETURNS trigger LANGUAGE plpgsql AS $$
            BEGIN
                \(branches)
                END IF;
                RETURN NEW;
            END $$
            """)
        try await pool.execute(
            "CREATE TRIGGER refuse BEFORE INSERT ON build_drivers FOR EACH ROW EXECUTE FUNCTION refuse_marked_drivers()")
    }

    func close() async {
        if let keys = try? await redisKeys(), !keys.isEmpty { _ = try? await redis.command(["DEL"] + keys) }
        await pool.close()
        await redis.close()
    }

    func submitter(enabled: Set<String> = ["os"], enqueuer: (any BuildEnqueuer)? = nil, pool: PostgresPool? = nil) -> BuildSubmitter {
        BuildSubmitter(
            pool: pool ?? self.pool, enqueuer: enqueuer ?? QueueBuildEnqueuer(client: redis, keyPrefix: prefix, logger: quietLogger),
            enabledDrivers: enabled, host: "djinn-scheduler", logger: log.logger)
    }

    func scheduler(
        enabled: Set<String> = ["os"], batchSize: Int = 1000, parallelism: Int = 4, enqueuer: (any BuildEnqueuer)? = nil,
        pool: PostgresPool? = nil, clock: (@Sendable () -> Date)? = nil
    ) -> CronScheduler {
        CronScheduler(
            pool: pool ?? self.pool, submitter: submitter(enabled: enabled, enqueuer: enqueuer, pool: pool),
            batchSize: batchSize, parallelism: parallelism, logger: log.logger, clock: clock ?? { Date() })
    }

    @discardableResult
    func addUser(_ name: String) async throws -> UserRecord {
        try await UserStore(pool).add(username: name, email: "\(name)@example.com")
    }

    /// Inserts a cron with SQL, as the server would; returns its id.
    @discardableResult
    func addCron(
        _ name: String, user: UserRecord, schedule: CronSchedule = .daily, manifest: String = osManifest, nextRun: Date,
        namespaceID: Int64? = nil
    ) async throws -> Int64 {
        try await pool.query("""
            INSERT INTO cron (user_id, author_id, namespace_id, name, schedule, manifest, next_run, created_at)
            VALUES ($1, $1, $2, $3, $4, $5, $6, $6) RETURNING id
            """, [user.id, namespaceID, name, schedule, manifest, nextRun])[0].decode(Int64.self, at: 0)
    }

    /// Every column of every row as text (nil for NULL).
    func rows(_ sql: String, _ parameters: [(any PostgresBindable)?] = []) async throws -> [[String?]] {
        try await pool.query(sql, parameters).map { row in
            try (0..<row.columns.count).map { index in
                let cell = try row.cell(at: index)
                return cell.isNull ? nil : cell.text
            }
        }
    }

    func count(_ sql: String, _ parameters: [(any PostgresBindable)?] = []) async throws -> Int {
        try await pool.query(sql, parameters)[0].decode(Int.self, at: 0)
    }

    func redisKeys() async throws -> [String] {
        let reply = try await redis.command(["KEYS", prefix + "*"])
        return (reply.strings ?? []).compactMap { $0 }.sorted()
    }

    /// The build payloads on a queue, in queue order.
    func queuedBuilds(_ queue: String = "builds_os") async throws -> [BuildPayload] {
        try await Self.queuedBuilds(redis: redis, queue: prefix + queue)
    }

    static func queuedBuilds(redis: RedisClient, queue: String) async throws -> [BuildPayload] {
        let ids = (try await redis.command(["LRANGE", queue + ":active", 0, -1]).strings ?? []).compactMap { $0 }
        var payloads: [BuildPayload] = []
        for id in ids {
            guard let message = try await redis.command(["HGET", queue + ":data", id]).bytes else { continue }
            let envelope = try Envelope(decoding: message)
            precondition(envelope.id == id && envelope.attempt == 0)
            payloads.append(try BuildPayload(gob: envelope.data))
        }
        return payloads
    }
}

/// `YYYY-MM-DD HH:MM:SS.ffffff` as PostgreSQL prints a timestamp.
func pgText(_ date: Date) -> String { PostgresTimestamp.format(date) }
