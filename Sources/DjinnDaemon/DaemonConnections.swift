import DjinnConfig
import DjinnPostgres
import DjinnRedis
import Logging

/// The PostgreSQL pool and Redis client a daemon runs with, opened and pinged at start.
struct DaemonConnections: Sendable {
    var postgres: PostgresPool
    var redis: RedisClient
    var redisConfiguration: RedisConfiguration

    static func open(database: DatabaseSettings, redis: RedisSettings, logger: Logger) async throws -> DaemonConnections {
        let pgConfig = try PostgresConfiguration(settings: database)
        let pool = PostgresPool(configuration: pgConfig, maxConnections: 8, logger: logger)
        do {
            _ = try await pool.query("SELECT 1", [])
        } catch {
            await pool.close()
            throw DaemonStartError.database(pgConfig.description, error)
        }
        let redisConfig = try RedisConfiguration(settings: redis)
        let client = RedisClient(configuration: redisConfig, logger: logger)
        do {
            _ = try await client.command(["PING"])
        } catch {
            await client.close()
            await pool.close()
            throw DaemonStartError.redis(redisConfig.description, error)
        }
        logger.info("connected to \(pgConfig.description) and \(redisConfig.description)")
        return DaemonConnections(postgres: pool, redis: client, redisConfiguration: redisConfig)
    }

    func close() async {
        await redis.close()
        await postgres.close()
    }
}

enum DaemonStartError: Error, CustomStringConvertible {
    case database(String, any Error)
    case redis(String, any Error)

    var description: String {
        switch self {
        case .database(let target, let error): return "database \(target): \(error)"
        case .redis(let target, let error): return "\(target): \(error)"
        }
    }
}
