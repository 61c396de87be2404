import DjinnBuilds
import DjinnJobs
import DjinnManifest
import DjinnPostgres
import DjinnQueue
import DjinnRedis
import DjinnSchema
import DjinnTesting
import Foundation
import Logging

let quietLogger = Logger(label: "djinn.builds.test", factory: { _ in SwiftLogNoOpLogHandler() })

/// A migrated database of the test's own, the shared Redis under a key prefix of its own, and
/// helpers to set up users, namespaces, variables … with SQL.
struct BuildFixture {
    let db: TestDatabase
    let pool: PostgresPool
    let redis: RedisClient
    let prefix: String

    /// Runs `body` with a fixture and always closes its connections afterwards.
    static func with(maxConnections: Int = 4, _ body: (BuildFixture) async throws -> Void) async throws {
        let fixture = try await make(maxConnections: maxConnections)
        do {
            try await body(fixture)
            await fixture.close()
        } catch {
            await fixture.close()
            throw error
        }
    }

    private static func make(maxConnections: Int = 4) async throws -> BuildFixture {
        let db = try await TestDatabase.create(prefix: "builds")
        let pool = PostgresPool(configuration: db.configuration, maxConnections: maxConnections, logger: quietLogger)
        _ = try await Migrator(pool: pool, logger: quietLogger).migrate()
        let redis = RedisClient(configuration: db.endpoints.redisConfiguration, logger: quietLogger)
        return BuildFixture(db: db, pool: pool, redis: redis, prefix: testKeyPrefix("builds"))
    }

    func close() async {
        await pool.close()
        await redis.close()
    }

    var enqueuer: QueueBuildEnqueuer { QueueBuildEnqueuer(client: redis, keyPrefix: prefix, logger: quietLogger) }

    func submitter(
        enabled: Set<String> = ["docker", "os", "qemu-x86_64", "ssh"], enqueuer: (any BuildEnqueuer)? = nil,
        host: String = "https://djinn.example"
    ) -> BuildSubmitter {
        BuildSubmitter(pool: pool, enqueuer: enqueuer ?? self.enqueuer, enabledDrivers: enabled, host: host, logger: quietLogger)
    }

    @discardableResult
    func addUser(_ name: String) async throws -> UserRecord {
        try await UserStore(pool).add(username: name, email: "\(name)@example.com")
    }

    /// Runs one statement and returns the first column of the first row as an Int64.
    func insert(_ sql: String, _ parameters: [(any PostgresBindable)?] = []) async throws -> Int64 {
        try await pool.query(sql, parameters)[0].decode(Int64.self, at: 0)
    }

    func count(_ table: String) async throws -> Int {
        try await pool.query("SELECT count(*) FROM \(table)")[0].decode(Int.self, at: 0)
    }

    /// Row counts of every table a submission writes.
    func buildRowCounts() async throws -> [String: Int] {
        var counts: [String: Int] = [:]
        for table in [
            "builds", "build_tags", "build_triggers", "build_drivers", "build_variables", "build_keys", "build_objects",
            "build_stages", "build_jobs", "build_artifacts", "namespaces",
        ] {
            counts[table] = try await count(table)
        }
        return counts
    }

    /// Every Redis key of this test.
    func redisKeys() async throws -> [String] {
        let reply = try await redis.command(["KEYS", prefix + "*"])
        return (reply.strings ?? []).compactMap { $0 }.sorted()
    }

    /// The job messages on a queue, in queue order, decoded down to the build payload.
    func queuedBuilds(_ queue: String) async throws -> [(envelope: Envelope, payload: BuildPayload)] {
        let ids = (try await redis.command(["LRANGE", prefix + queue + ":active", 0, -1]).strings ?? []).compactMap { $0 }
        var jobs: [(Envelope, BuildPayload)] = []
        for id in ids {
            guard let message = try await redis.command(["HGET", prefix + queue + ":data", id]).bytes else { continue }
            let envelope = try Envelope(decoding: message)
            jobs.append((envelope, try BuildPayload(gob: envelope.data)))
        }
        return jobs
    }
}

/// An enqueuer that always fails, as a Redis outage would.
struct FailingEnqueuer: BuildEnqueuer {
    struct Failure: Error, CustomStringConvertible {
        var description: String { "connection refused (test)" }
    }

    func enqueue(queue: String, payload: [UInt8]) async throws {
        throw Failure()
    }
}

func parse(_ text: String) throws -> Manifest {
    try Manifest(parsing: text, file: "test.yml")
}

let osManifest = """
    driver:
      type: os
    stages: [build]
    jobs:
      - stage: build
        commands: [make]
    """
