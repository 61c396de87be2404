import ArgumentParser

/// `djinnctl`: the admin CLI. Options take Go-style single-dash names like the daemons
/// (`-config FILE`, `-config=FILE`), and the GNU `--config` form too.
public struct Djinnctl: AsyncParsableCommand {
    public static let configuration = CommandConfiguration(
        commandName: "djinnctl",
        abstract: "Administer a Djinn CI installation: schema, queues, builds, users, crons, images.",
        discussion: """
            Every command but help takes -config FILE: any daemon's configuration file \
            (worker, scheduler or consumer); only its database and redis blocks are used. \
            Options are written -name VALUE, -name=VALUE or --name VALUE. Every command \
            and subcommand has -h, -help and --help; -version prints the version. Exit \
            status: 0 on success, 1 on an error (reported on stderr as Error: MESSAGE), 64 \
            on a bad command line. See docs/operations.md.
            """,
        version: DjinnctlVersion.line,
        subcommands: [Migrate.self, BuildCommand.self, UserCommand.self, CronCommand.self, ImageCommand.self, Queues.self, Dead.self],
        helpNames: [.short, .long, .customLong("help", withSingleDash: true)]
    )

    public init() {}

    /// The entry point. Written out because, called from another module's top-level code,
    /// `main()` resolves to ParsableCommand's synchronous one, which cannot run async commands.
    public static func runMain(arguments: [String]? = nil) async -> Never {
        // `-version` as the daemons spell it (ArgumentParser knows only --version).
        if (arguments ?? Array(CommandLine.arguments.dropFirst())) == ["-version"] {
            print(DjinnctlVersion.line)
            exit()
        }
        do {
            var command = try parseAsRoot(arguments)
            if var asyncCommand = command as? any AsyncParsableCommand {
                try await asyncCommand.run()
            } else {
                try command.run()
            }
            exit()
        } catch {
            exit(withError: error)
        }
    }
}

/// `-config FILE`: any daemon's configuration file; djinnctl reads only what it needs.
struct ConfigOption: ParsableArguments {
    @Option(
        name: [.customLong("config", withSingleDash: true), .customLong("config")],
        help: ArgumentHelp("A daemon configuration file (worker, scheduler or consumer).", valueName: "file"))
    var config: String
}
