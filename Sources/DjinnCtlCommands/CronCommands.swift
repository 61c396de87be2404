import ArgumentParser
import DjinnBuilds
import DjinnManifest
import DjinnPostgres
import DjinnScheduler
import Foundation

/// `djinnctl cron add|list|rm`.
struct CronCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "cron",
        abstract: "Manage cron jobs (scheduled builds) for local use.",
        subcommands: [AddCron.self, ListCrons.self, RemoveCron.self],
        helpNames: [.short, .long, .customLong("help", withSingleDash: true)])
}

/// `-user NAME`.
struct CronUserOption: ParsableArguments {
    @Option(
        name: [.customLong("user", withSingleDash: true), .customLong("user")],
        help: ArgumentHelp("The cron's owner (username).", valueName: "name"))
    var user: String
}

func findUser(_ name: String, in pool: PostgresPool) async throws -> UserRecord {
    guard let user = try await UserStore(pool).find(username: name) else {
        throw CLIError("no user \(name) (add one with djinnctl user add)")
    }
    return user
}

/// `djinnctl cron add -config FILE -user NAME -name NAME -schedule daily|weekly|monthly MANIFEST`.
struct AddCron: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "add",
        abstract: "Add a cron job: the manifest is built daily, weekly or monthly by djinn-scheduler.",
        discussion: """
            The manifest is checked first (as djinnctl build submit does). The first run is the \
            next period's start in UTC: daily the next midnight, weekly the next Monday, \
            monthly the 1st of the next month (see docs/scheduler.md). Whether the manifest's \
            driver is enabled is only known to the scheduler that runs it: if it is not, the \
            cron's builds are recorded as failed.
            """,
        helpNames: [.short, .long, .customLong("help", withSingleDash: true)])

    @OptionGroup var options: ConfigOption
    @OptionGroup var owner: CronUserOption

    @Option(
        name: [.customLong("name", withSingleDash: true), .customLong("name")],
        help: ArgumentHelp("The cron's name (shown in its builds' comment and tag).", valueName: "name"))
    var name: String

    @Option(
        name: [.customLong("schedule", withSingleDash: true), .customLong("schedule")],
        help: ArgumentHelp("daily, weekly or monthly.", valueName: "schedule"))
    var schedule: String

    @Argument(help: ArgumentHelp("The manifest (.djinn.yml).", valueName: "manifest"))
    var manifestPath: String

    func validate() throws {
        guard CronSchedule(rawValue: schedule) != nil else {
            throw ValidationError("-schedule must be daily, weekly or monthly, not \(schedule)")
        }
        guard !name.trimmingCharacters(in: .whitespaces).isEmpty else { throw ValidationError("-name must not be empty") }
    }

    func run() async throws {
        let schedule = CronSchedule(rawValue: schedule)!
        let text: String
        do {
            text = try String(contentsOfFile: manifestPath, encoding: .utf8)
        } catch {
            throw CLIError("cannot read \(manifestPath): \(error.localizedDescription)")
        }
        do {
            _ = try Manifest(parsing: text, file: manifestPath)
        } catch {
            throw CLIError(error.description)
        }
        let cron = try await withDatabase(config: options.config) { pool in
            let user = try await findUser(owner.user, in: pool)
            return try await CronStore(pool).add(user: user, name: name, schedule: schedule, manifest: text)
        }
        Terminal.write("cron \(cron.id) \(cron.name) added (\(cron.schedule.rawValue)), next run \(CronTimeFormat.format(cron.nextRun)) UTC\n")
    }
}

/// `djinnctl cron list -config FILE [-user NAME]`.
struct ListCrons: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "list",
        abstract: "List cron jobs: every user's, or one user's.",
        helpNames: [.short, .long, .customLong("help", withSingleDash: true)])

    @OptionGroup var options: ConfigOption

    @Option(
        name: [.customLong("user", withSingleDash: true), .customLong("user")],
        help: ArgumentHelp("Only this user's crons.", valueName: "name"))
    var user: String?

    func run() async throws {
        let crons = try await withDatabase(config: options.config) { pool in
            var userID: Int64?
            if let user { userID = try await findUser(user, in: pool).id }
            return try await CronStore(pool).list(userID: userID)
        }
        Terminal.write(Self.render(crons))
    }

    /// One line per cron, columns aligned; times in UTC.
    static func render(_ crons: [CronRecord]) -> String {
        func time(_ date: Date?) -> String { date.map { String(PostgresTimestamp.format($0).prefix(19)) } ?? "-" }
        let rows = [["ID", "NAME", "SCHEDULE", "USER", "NEXT RUN (UTC)", "PREV RUN (UTC)"]] + crons.map { cron in
            ["\(cron.id)", cron.name, cron.schedule.rawValue, cron.owner?.username ?? "(deleted user \(cron.userID))",
             time(cron.nextRun), time(cron.prevRun)]
        }
        let widths = (0..<rows[0].count).map { column in rows.map { $0[column].count }.max() ?? 0 }
        return rows.map { row in
            zip(row, widths).enumerated().map { index, cell in
                index == row.count - 1 ? cell.0 : cell.0.padding(toLength: cell.1, withPad: " ", startingAt: 0)
            }.joined(separator: "  ")
        }.joined(separator: "\n") + "\n"
    }
}

/// `djinnctl cron rm -config FILE -user NAME ID|NAME`.
struct RemoveCron: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "rm",
        abstract: "Remove one of a user's cron jobs, by id or name (the builds it made stay).",
        helpNames: [.short, .long, .customLong("help", withSingleDash: true)])

    @OptionGroup var options: ConfigOption
    @OptionGroup var owner: CronUserOption

    @Argument(help: ArgumentHelp("The cron's id, or its name if that is unique for the user.", valueName: "id|name"))
    var cron: String

    func run() async throws {
        let removed = try await withDatabase(config: options.config) { pool in
            let user = try await findUser(owner.user, in: pool)
            let store = CronStore(pool)
            let target: CronRecord
            let byName = try await store.find(userID: user.id, name: cron)
            if byName.count > 1 {
                throw CLIError("\(user.username) has \(byName.count) crons named \(cron) (ids \(byName.map { "\($0.id)" }.joined(separator: ", "))); remove one by id")
            } else if let only = byName.first {
                target = only
            } else if let id = Int64(cron), let found = try await store.list(userID: user.id).first(where: { $0.id == id }) {
                target = found
            } else {
                throw CLIError("\(user.username) has no cron \(cron)")
            }
            guard try await store.remove(id: target.id, userID: user.id) else { throw CLIError("\(user.username) has no cron \(cron)") }
            return target
        }
        Terminal.write("cron \(removed.id) \(removed.name) removed\n")
    }
}
