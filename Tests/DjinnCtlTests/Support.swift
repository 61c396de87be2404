import DjinnPostgres
import DjinnRedis
import DjinnSchema
import DjinnTesting
import Foundation
import Logging

let quietLogger = Logger(label: "djinnctl.test", factory: { _ in SwiftLogNoOpLogHandler() })

/// Runs the built `djinnctl` (it sits next to the test bundle).
struct Djinnctl {
    typealias Result = TestProcess.Result

    static var url: URL {
        URL(fileURLWithPath: CommandLine.arguments[0]).deletingLastPathComponent().appendingPathComponent("djinnctl")
    }

    /// Runs to completion (reaped off the cooperative pool).
    static func run(_ arguments: [String]) async throws -> Result {
        try await start(arguments).finish()
    }

    /// Starts djinnctl; its output goes to files, readable while it runs.
    static func start(_ arguments: [String]) throws -> Running {
        Running(process: try TestProcess.start([url.path] + arguments))
    }

    struct Running: Sendable {
        let process: TestProcess

        /// Standard output so far.
        var stdout: String { process.stdout }

        var pid: Int32 { process.pid }

        /// Waits until standard output contains `text`; throws after 20 s.
        func waitForOutput(_ text: String) async throws {
            for _ in 0..<2000 {
                if stdout.contains(text) { return }
                try await Task.sleep(for: .milliseconds(10))
            }
            throw TimedOut(waitingFor: text, stdout: stdout)
        }

        struct TimedOut: Error, CustomStringConvertible {
            var waitingFor: String
            var stdout: String
            var description: String { "djinnctl did not print \(waitingFor.debugDescription); it printed \(stdout.debugDescription)" }
        }

        func terminate() { process.signal(SIGTERM) }

        func finish() async throws -> Result {
            let status = try await process.wait()
            return Result(status: status, stdout: process.stdout, stderr: process.stderr)
        }
    }
}

/// A migrated database of the test's own, a Redis of its own (queue names are fixed, so the
/// shared one would mix tests' builds), and a config file naming both.
struct CtlFixture {
    let db: TestDatabase
    let redisServer: PrivateServices
    let pool: PostgresPool
    let redis: RedisClient
    let directory: URL
    let config: String

    /// Runs `body` with a fixture and always stops its Redis server afterwards.
    static func with(_ body: (CtlFixture) async throws -> Void) async throws {
        let fixture = try await make()
        do {
            try await body(fixture)
            await fixture.close()
        } catch {
            await fixture.close()
            throw error
        }
    }

    private static func make() async throws -> CtlFixture {
        let db = try await TestDatabase.create(prefix: "ctl")
        let redisServer = try await PrivateServices.start(postgres: false)
        let pool = PostgresPool(configuration: db.configuration, maxConnections: 2, logger: quietLogger)
        do {
            _ = try await Migrator(pool: pool, logger: quietLogger).migrate()
        } catch {
            await pool.close()
            try? await redisServer.shutdown()
            throw error
        }
        let redis = RedisClient(configuration: redisServer.endpoints.redisConfiguration, logger: quietLogger)
        let directory = FileManager.default.temporaryDirectory.appendingPathComponent("djinnctl-test-\(UUID().uuidString.prefix(8))")
        try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
        let config = directory.appendingPathComponent("scheduler.conf").path
        let pg = db.endpoints
        try """
            drivers ["os"]
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
        return CtlFixture(db: db, redisServer: redisServer, pool: pool, redis: redis, directory: directory, config: config)
    }

    func close() async {
        await pool.close()
        await redis.close()
        try? await redisServer.shutdown()
        try? FileManager.default.removeItem(at: directory)
    }

    @discardableResult
    func write(_ name: String, _ text: String) throws -> String {
        let path = directory.appendingPathComponent(name).path
        try text.write(toFile: path, atomically: true, encoding: .utf8)
        return path
    }

    func rows(_ sql: String, _ parameters: [(any PostgresBindable)?] = []) async throws -> [[String?]] {
        try await pool.query(sql, parameters).map { row in
            try (0..<row.columns.count).map { index in
                let cell = try row.cell(at: index)
                return cell.isNull ? nil : cell.text
            }
        }
    }

    func djinnctl(_ arguments: String...) async throws -> Djinnctl.Result {
        try await Djinnctl.run(arguments)
    }
}
