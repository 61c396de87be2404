import Foundation
import Synchronization

/// Where the throwaway servers of a test run are.
///
/// `scripts/test` starts one PostgreSQL and one Redis for the whole run and exports
/// their addresses (`DJINN_PG_*`, `DJINN_REDIS_*`); tests isolate themselves with a
/// fresh database or a key prefix each. Run under plain `swift test`, the first test
/// to ask starts a private pair with `scripts/services` and stops it at exit.
/// Tests that stop or restart a server use `PrivateServices` so they disturb nobody.
public struct ServiceEndpoints: Sendable, Equatable {
    public var directory: String
    public var pgHost: String
    public var pgPort: Int
    public var pgSocket: String
    public var pgUser: String
    public var pgPassword: String
    public var redisHost: String
    public var redisPort: Int
    public var redisPassword: String

    /// `host:port` as a `database { addr … }` directive would give it.
    public var pgAddr: String { "\(pgHost):\(pgPort)" }
    /// `host:port` as a `redis { addr … }` directive would give it.
    public var redisAddr: String { "\(redisHost):\(redisPort)" }

    init(environment env: [String: String]) throws {
        func need(_ key: String) throws -> String {
            guard let value = env[key], !value.isEmpty else { throw TestServicesError.missing(key) }
            return value
        }
        directory = env["DJINN_SERVICES_DIR"] ?? ""
        pgHost = try need("DJINN_PG_HOST")
        guard let port = Int(try need("DJINN_PG_PORT")) else { throw TestServicesError.missing("DJINN_PG_PORT") }
        pgPort = port
        pgSocket = env["DJINN_PG_SOCKET"] ?? ""
        pgUser = try need("DJINN_PG_USER")
        pgPassword = env["DJINN_PG_PASSWORD"] ?? ""
        let redis = try need("DJINN_REDIS_ADDR")
        guard let colon = redis.lastIndex(of: ":"), let rport = Int(redis[redis.index(after: colon)...]) else {
            throw TestServicesError.missing("DJINN_REDIS_ADDR")
        }
        redisHost = String(redis[..<colon])
        redisPort = rport
        redisPassword = env["DJINN_REDIS_PASSWORD"] ?? ""
    }
}

public enum TestServicesError: Error, CustomStringConvertible {
    case missing(String)
    case command(String, Int32, String)

    public var description: String {
        switch self {
        case .missing(let key): return "test services: \(key) is not set (run the suite with scripts/test)"
        case .command(let cmd, let status, let output): return "test services: `\(cmd)` exited \(status): \(output)"
        }
    }
}

public enum TestServices {
    /// The repository root, found from this file's location.
    public static let repositoryRoot: URL = URL(fileURLWithPath: #filePath)
        .deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()

    public static var servicesScript: String { repositoryRoot.appendingPathComponent("scripts/services").path }

    private static let shared = SharedServices()

    /// The run-wide PostgreSQL and Redis.
    public static func endpoints() async throws -> ServiceEndpoints {
        try await shared.get()
    }

    /// Parses `KEY=VALUE` lines as `scripts/services start` prints them.
    static func parseEnv(_ text: String) -> [String: String] {
        var env: [String: String] = [:]
        for line in text.split(separator: "\n") {
            guard let eq = line.firstIndex(of: "=") else { continue }
            env[String(line[..<eq])] = String(line[line.index(after: eq)...])
        }
        return env
    }
}

private actor SharedServices {
    private var cached: ServiceEndpoints?
    private var starting: Task<ServiceEndpoints, Error>?

    func get() async throws -> ServiceEndpoints {
        if let cached { return cached }
        let env = ProcessInfo.processInfo.environment
        if env["DJINN_PG_HOST"] != nil {
            let endpoints = try ServiceEndpoints(environment: env)
            cached = endpoints
            return endpoints
        }
        if let starting { return try await starting.value }
        let task = Task { () throws -> ServiceEndpoints in
            let output = try await runCommand([TestServices.servicesScript, "start"])
            let endpoints = try ServiceEndpoints(environment: TestServices.parseEnv(output))
            runAtExit([TestServices.servicesScript, "stop", endpoints.directory])
            return endpoints
        }
        starting = task
        let endpoints = try await task.value
        cached = endpoints
        return endpoints
    }
}

/// Runs `argv` (a stop command) when the test process exits, after every command registered
/// before it: the servers a plain `swift test` started are stopped, not left running.
public func runAtExit(_ argv: [String]) {
    let first = exitCommands.withLock { commands in
        commands.append(argv)
        return commands.count == 1
    }
    guard first else { return }
    atexit {
        for argv in exitCommands.withLock({ $0 }).reversed() {
            let p = Process()
            p.executableURL = URL(fileURLWithPath: argv[0])
            p.arguments = Array(argv.dropFirst())
            try? p.run()
            p.waitUntilExit()
        }
    }
}

private let exitCommands = Mutex<[[String]]>([])

/// Runs a command to completion without blocking a cooperative thread. Returns standard
/// output; throws on non-zero with both outputs.
@discardableResult
public func runCommand(_ argv: [String], environment: [String: String]? = nil) async throws -> String {
    let result = try await TestProcess.run(argv, environment: environment)
    guard result.status == 0 else {
        throw TestServicesError.command(argv.joined(separator: " "), result.status, result.stdout + result.stderr)
    }
    return result.stdout
}
