import DjinnPostgres
import DjinnRedis
import DjinnSchema
import Foundation
import Logging

/// What a test of a daemon or of djinnctl needs to itself: a migrated database, a Redis server
/// of its own (the daemons' queue names are fixed, so a shared Redis would mix tests' builds),
/// a pool and a client on them, and a scratch directory. `close()` stops and removes them all.
public final class IsolatedServices: Sendable {
    public let db: TestDatabase
    public let redisServer: PrivateServices
    public let pool: PostgresPool
    public let redis: RedisClient
    public let directory: URL

    private init(db: TestDatabase, redisServer: PrivateServices, pool: PostgresPool, redis: RedisClient, directory: URL) {
        self.db = db
        self.redisServer = redisServer
        self.pool = pool
        self.redis = redis
        self.directory = directory
    }

    /// `prefix` names the database and the scratch directory.
    public static func start(prefix: String, maxConnections: Int) async throws -> IsolatedServices {
        let quiet = Logger(label: "djinn.test") { _ in SwiftLogNoOpLogHandler() }
        let db = try await TestDatabase.create(prefix: prefix)
        let redisServer = try await PrivateServices.start(postgres: false)
        let directory = FileManager.default.temporaryDirectory.appendingPathComponent("djinn-\(prefix)-\(UUID().uuidString.prefix(8))")
        let services = IsolatedServices(
            db: db, redisServer: redisServer, pool: PostgresPool(configuration: db.configuration, maxConnections: maxConnections, logger: quiet),
            redis: RedisClient(configuration: redisServer.endpoints.redisConfiguration, logger: quiet), directory: directory)
        do {
            try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
            _ = try await Migrator(pool: services.pool, logger: quiet).migrate()
        } catch {
            await services.close()
            throw error
        }
        return services
    }

    public func close() async {
        await pool.close()
        await redis.close()
        try? await redisServer.shutdown()
        try? FileManager.default.removeItem(at: directory)
    }
}

/// Runs `body` with what `make` returns and always closes it afterwards, also when `body` throws.
public func withClosing<Fixture>(
    _ make: () async throws -> Fixture, close: (Fixture) async -> Void, _ body: (Fixture) async throws -> Void
) async throws {
    let fixture = try await make()
    do {
        try await body(fixture)
    } catch {
        await close(fixture)
        throw error
    }
    await close(fixture)
}
