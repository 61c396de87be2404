import DjinnPostgres
import DjinnTesting
import Foundation
import Logging
import Synchronization

/// A logger that drops everything (the default handler would print at info level).
let quietLogger = Logger(label: "djinn.postgres.test", factory: { _ in SwiftLogNoOpLogHandler() })


/// SQL string literal for test setup statements that cannot take parameters (CREATE ROLE).
func sqlLiteral(_ text: String) -> String {
    "'" + text.replacingOccurrences(of: "'", with: "''") + "'"
}

/// Runs `body` with a private PostgreSQL and always shuts it down.
func withPrivatePostgres<T>(_ body: (PrivateServices) async throws -> T) async throws -> T {
    let services = try await PrivateServices.start(redis: false)
    do {
        let value = try await body(services)
        try await services.shutdown()
        return value
    } catch {
        try? await services.shutdown()
        throw error
    }
}

/// Runs `body` with a fresh database and an open connection to it, closing it after.
func withConnection<T>(
    logger: Logger = quietLogger, _ body: (PostgresConnection, TestDatabase) async throws -> T
) async throws -> T {
    let database = try await TestDatabase.create()
    let connection = try await PostgresConnection.connect(database.configuration, logger: logger)
    do {
        let value = try await body(connection, database)
        await connection.close()
        return value
    } catch {
        await connection.close()
        throw error
    }
}

/// Expects `body` to throw a `PostgresError` and returns it (nil, with an issue, otherwise).
func postgresError(_ body: () async throws -> Void) async -> PostgresError? {
    do {
        try await body()
        return nil
    } catch let error as PostgresError {
        return error
    } catch {
        return nil
    }
}

/// A value shared between test tasks.
final class Locked<Value: Sendable>: Sendable {
    private let mutex: Mutex<Value>
    init(_ value: Value) { mutex = Mutex(value) }
    var value: Value { mutex.withLock { $0 } }
    func set(_ value: Value) { mutex.withLock { $0 = value } }
    @discardableResult
    func update<R: Sendable>(_ body: (inout Value) -> R) -> R { mutex.withLock { body(&$0) } }
}
