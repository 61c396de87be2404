import DjinnPostgres
import DjinnTesting
import Foundation
import Logging
import Synchronization

/// A logger that drops everything (the default handler would print at info level).
let quietLogger = Logger(label: "djinn.postgres.test", factory: { _ in SwiftLogNoOpLogHandler() })

/// Collects every log line (message and metadata) for assertions about what is logged.
final class LogRecorder: Sendable {
    private let lines = Mutex<[String]>([])

    var logger: Logger {
        var logger = Logger(label: "djinn.postgres.test", factory: { _ in RecordingLogHandler(recorder: self) })
        logger.logLevel = .trace
        return logger
    }

    var all: [String] { lines.withLock { $0 } }

    func append(_ line: String) { lines.withLock { $0.append(line) } }
}

struct RecordingLogHandler: LogHandler {
    let recorder: LogRecorder
    var metadata: Logger.Metadata = [:]
    var logLevel: Logger.Level = .trace

    subscript(metadataKey key: String) -> Logger.Metadata.Value? {
        get { metadata[key] }
        set { metadata[key] = newValue }
    }

    func log(event: LogEvent) {
        let merged = metadata.merging(event.metadata ?? [:]) { $1 }
        let rendered = merged.sorted { $0.key < $1.key }.map { "\($0.key)=\($0.value)" }.joined(separator: " ")
        recorder.append("\(event.level) \(event.message) \(rendered)")
    }
}

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
