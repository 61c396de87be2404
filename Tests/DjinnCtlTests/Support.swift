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
    let services: IsolatedServices
    let config: String

    var db: TestDatabase { services.db }
    var redisServer: PrivateServices { services.redisServer }
    var pool: PostgresPool { services.pool }
    var redis: RedisClient { services.redis }
    var directory: URL { services.directory }

    /// Runs `body` with a fixture and always stops its Redis server afterwards.
    static func with(_ body: (CtlFixture) async throws -> Void) async throws {
        try await withClosing(make, close: { await $0.close() }, body)
    }

    private static func make() async throws -> CtlFixture {
        let services = try await IsolatedServices.start(prefix: "ctl", maxConnections: 2)
        let config = services.directory.appendingPathComponent("scheduler.conf").path
        let pg = services.db.endpoints
        do {
            try """
                drivers ["os"]
                database {
                    addr "\(pg.pgAddr)"
                    name "\(services.db.name)"
                    username "\(pg.pgUser)"
                    password "\(pg.pgPassword)"
                }
                redis {
                    addr "\(services.redisServer.endpoints.redisAddr)"
                }

                """.write(toFile: config, atomically: true, encoding: .utf8)
        } catch {
            await services.close()
            throw error
        }
        return CtlFixture(services: services, config: config)
    }

    func close() async {
        await services.close()
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
