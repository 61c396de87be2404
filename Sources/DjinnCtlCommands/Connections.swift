import DjinnConfig
import DjinnDaemon
import DjinnPostgres
import DjinnRedis
import Foundation
import Logging

/// The `redis` block of any daemon's config file (config errors become a CLIError).
func loadRedisSettings(path: String) throws -> RedisSettings {
    do {
        return try RedisSettings.load(fromConfigAt: path)
    } catch {
        throw CLIError(error.description)
    }
}

/// djinnctl's own log lines: warnings and errors only, on stderr (stdout is for results).
func quietLogger() -> Logger {
    var logger = Logger(label: "djinnctl") { StreamLogHandler.standardError(label: $0) }
    logger.logLevel = .warning
    return logger
}

/// A pool on the config file's database, closed when `body` ends.
func withDatabase<T>(config path: String, _ body: (PostgresPool) async throws -> T) async throws -> T {
    let settings = try loadDatabaseSettings(path: path)
    let configuration: PostgresConfiguration
    do {
        configuration = try PostgresConfiguration(settings: settings)
    } catch {
        throw CLIError("\(path): database: \(error)")
    }
    let pool = PostgresPool(configuration: configuration, maxConnections: 2, logger: quietLogger())
    do {
        let result = try await body(pool)
        await pool.close()
        return result
    } catch {
        await pool.close()
        throw error
    }
}

/// A Redis client on the config file's redis block, closed when `body` ends.
func withRedis<T>(config path: String, _ body: (RedisClient) async throws -> T) async throws -> T {
    let settings = try loadRedisSettings(path: path)
    let configuration: RedisConfiguration
    do {
        configuration = try RedisConfiguration(settings: settings)
    } catch {
        throw CLIError("\(path): redis: \(error)")
    }
    let client = RedisClient(configuration: configuration, logger: quietLogger(), maximumConnections: 1)
    do {
        let result = try await body(client)
        await client.close()
        return result
    } catch {
        await client.close()
        throw error
    }
}

/// Unbuffered standard output, so that followed output appears as it arrives even in a pipe.
enum Terminal {
    static func write(_ text: String) {
        FileHandle.standardOutput.write(Data(text.utf8))
    }
}
