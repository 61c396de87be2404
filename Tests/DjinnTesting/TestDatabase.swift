import Foundation

/// A database of its own for one test, on the run-wide PostgreSQL.
public struct TestDatabase: Sendable {
    public var name: String
    public var endpoints: ServiceEndpoints

    /// Creates an empty database with a unique name (`t_…`).
    public static func create(prefix: String = "t") async throws -> TestDatabase {
        let endpoints = try await TestServices.endpoints()
        let name = "\(prefix)_\(getpid())_\(UUID().uuidString.prefix(8).lowercased())"
        try await endpoints.psql(database: "postgres", "CREATE DATABASE \"\(name)\"")
        return TestDatabase(name: name, endpoints: endpoints)
    }

    /// Runs SQL through `psql` (setup and assertions only; the code under test uses its own client).
    @discardableResult
    public func psql(_ sql: String) async throws -> String {
        try await endpoints.psql(database: name, sql)
    }
}

extension ServiceEndpoints {
    /// Runs SQL through `psql` as the admin user; returns its unaligned, tuples-only output.
    @discardableResult
    public func psql(database: String, _ sql: String) async throws -> String {
        try await runCommand(
            ["/usr/bin/env", "psql", "-X", "-q", "-tA", "-v", "ON_ERROR_STOP=1",
             "-h", pgHost, "-p", String(pgPort), "-U", pgUser, "-d", database, "-c", sql],
            environment: ["PGPASSWORD": pgPassword])
    }
}

/// A unique Redis key prefix for one test on the run-wide Redis.
public func testKeyPrefix(_ label: String = "t") -> String {
    "\(label):\(getpid()):\(UUID().uuidString.prefix(8).lowercased()):"
}

/// A PostgreSQL and Redis pair of one test's own, for tests that stop, restart or
/// password-protect a server. Call `shutdown()` when done.
public final class PrivateServices: Sendable {
    public let endpoints: ServiceEndpoints

    private init(endpoints: ServiceEndpoints) { self.endpoints = endpoints }

    public static func start(postgres: Bool = true, redis: Bool = true, redisPassword: String? = nil) async throws -> PrivateServices {
        var argv = [TestServices.servicesScript, "start"]
        if !postgres { argv.append("--no-pg") }
        if !redis { argv.append("--no-redis") }
        if let redisPassword { argv += ["--redis-password", redisPassword] }
        let output = try await runCommand(argv)
        var env = TestServices.parseEnv(output)
        // A Redis-only or PostgreSQL-only pair still parses: fill the absent side with dummies.
        if !postgres {
            env["DJINN_PG_HOST"] = "127.0.0.1"; env["DJINN_PG_PORT"] = "1"; env["DJINN_PG_USER"] = "none"
        }
        if !redis { env["DJINN_REDIS_ADDR"] = "127.0.0.1:1" }
        return PrivateServices(endpoints: try ServiceEndpoints(environment: env))
    }

    public func stopPostgres() async throws { try await runCommand([TestServices.servicesScript, "stop-pg", endpoints.directory]) }
    public func startPostgres() async throws { try await runCommand([TestServices.servicesScript, "start-pg", endpoints.directory]) }
    public func stopRedis() async throws { try await runCommand([TestServices.servicesScript, "stop-redis", endpoints.directory]) }
    public func startRedis() async throws { try await runCommand([TestServices.servicesScript, "start-redis", endpoints.directory]) }
    public func shutdown() async throws { try await runCommand([TestServices.servicesScript, "stop", endpoints.directory]) }
}
