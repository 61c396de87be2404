import ArgumentParser

/// The daemons' command line, Go flag style: `-config FILE`, `-config=FILE` and
/// `--config FILE` all work, as they do with Go's flag package.
public struct DaemonFlags: Equatable, Sendable {
    public var config: String
    public var driver: String?
    public var check: Bool
    public var version: Bool
    /// `-print-pidfile`: load the configuration, print its `pidfile` (an empty line when
    /// there is none) and exit; the SysV init scripts find the daemon's pidfile this way.
    public var printPidfile: Bool = false
}

/// Why the command line was not accepted, and the exit status Go's flag package uses.
public enum DaemonFlagsOutcome: Equatable, Sendable {
    case run(DaemonFlags)
    /// `-h`: usage on stdout, exit 0.
    case help(String)
    /// Unknown flag or missing value: message and usage on stderr, exit 2.
    case usageError(String)
}

enum FlagParser {
    static func parse<P: DaemonProgram>(_ program: P.Type, arguments: [String]) -> DaemonFlagsOutcome {
        do {
            if P.defaultDriverPath != nil {
                let parsed = try WorkerArguments.parse(arguments)
                return .run(DaemonFlags(config: parsed.shared.config ?? P.defaultConfigPath,
                                        driver: parsed.driver ?? P.defaultDriverPath,
                                        check: parsed.shared.check, version: parsed.shared.version,
                                        printPidfile: parsed.shared.printPidfile))
            }
            let parsed = try CommonArguments.parse(arguments)
            return .run(DaemonFlags(config: parsed.shared.config ?? P.defaultConfigPath, driver: nil,
                                    check: parsed.shared.check, version: parsed.shared.version,
                                    printPidfile: parsed.shared.printPidfile))
        } catch {
            let usage = usageText(program)
            if CommonArguments.exitCode(for: error) == .success { return .help(usage) }
            var message = CommonArguments.message(for: error)
            // Go's wording for the common case, so scripts that grep for it keep working.
            if message.hasPrefix("Unknown option '") {
                let flag = message.dropFirst("Unknown option '".count).prefix { $0 != "'" }
                message = "flag provided but not defined: \(flag)"
            }
            return .usageError(message + "\n" + usage)
        }
    }

    static func usageText<P: DaemonProgram>(_ program: P.Type) -> String {
        var lines = ["Usage of \(P.name):",
                     "  -check",
                     "        load and validate the configuration, connect nowhere, and exit",
                     "  -config string",
                     "        the configuration file to use (default \"\(P.defaultConfigPath)\")"]
        if let driver = P.defaultDriverPath {
            lines += ["  -driver string",
                      "        the driver configuration file to use (default \"\(driver)\")"]
        }
        lines += ["  -print-pidfile",
                  "        load the configuration, print its pidfile path (empty if none) and exit",
                  "  -version",
                  "        print the version and exit"]
        return lines.joined(separator: "\n")
    }
}

private let helpNames: NameSpecification = [.short, .long, .customLong("help", withSingleDash: true)]

private struct SharedOptions: ParsableArguments {
    @Option(name: [.customLong("config", withSingleDash: true), .customLong("config")])
    var config: String?

    @Flag(name: [.customLong("check", withSingleDash: true), .customLong("check")])
    var check = false

    @Flag(name: [.customLong("version", withSingleDash: true), .customLong("version")])
    var version = false

    @Flag(name: [.customLong("print-pidfile", withSingleDash: true), .customLong("print-pidfile")])
    var printPidfile = false
}

private struct CommonArguments: ParsableCommand {
    static let configuration = CommandConfiguration(helpNames: helpNames)
    @OptionGroup var shared: SharedOptions
}

private struct WorkerArguments: ParsableCommand {
    static let configuration = CommandConfiguration(helpNames: helpNames)
    @OptionGroup var shared: SharedOptions

    @Option(name: [.customLong("driver", withSingleDash: true), .customLong("driver")])
    var driver: String?
}
