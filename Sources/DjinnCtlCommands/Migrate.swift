import ArgumentParser
import DjinnConfig
import DjinnDaemon
import DjinnPostgres
import DjinnSchema
import Logging

/// `djinnctl migrate -config FILE`: brings the database up to Djinn's schema.
struct Migrate: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Create or upgrade Djinn's tables, types and grants in the configured database.",
        discussion: """
            Reads only the `database` block of the given file, so any daemon's configuration \
            works. Safe to run again: applied migrations are recorded in djinn_migrations and \
            skipped; grants are given to whichever of the djinn_* roles exist.
            """,
        helpNames: [.short, .long, .customLong("help", withSingleDash: true)])

    @OptionGroup var options: ConfigOption

    func run() async throws {
        let database = try loadDatabaseSettings(path: options.config)
        let logger = Logger(label: "djinnctl")
        let pool = PostgresPool(configuration: try PostgresConfiguration(settings: database), maxConnections: 1, logger: logger)
        do {
            let report = try await Migrator(pool: pool, logger: logger).migrate()
            for id in report.applied { print("applied \(id)") }
            print(report.applied.isEmpty
                  ? "database is up to date (\(report.alreadyApplied.count) migrations)"
                  : "applied \(report.applied.count) migration(s)")
            await pool.close()
        } catch {
            await pool.close()
            throw CLIError("migrate: \(error)")
        }
    }
}
