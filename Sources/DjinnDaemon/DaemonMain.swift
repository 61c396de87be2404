import DjinnConfig
import DjinnPostgres
import DjinnRedis
import Foundation
import Logging
import ServiceLifecycle
import UnixSignals

/// The start-up and shutdown sequence every daemon shares.
///
/// Order: flags → config (and driver file) → `-check` stops here → log destination →
/// pidfile → PostgreSQL and Redis (pinged) → services under a `ServiceGroup` that turns
/// SIGINT and SIGTERM alike into a graceful shutdown → connections closed → pidfile
/// removed. Any start-up failure prints `NAME: MESSAGE` on stderr and exits 1; once the
/// pidfile is written it is removed on every exit path (Go leaves it behind).
public enum DaemonMain {
    /// Runs the daemon and returns its exit status.
    public static func run<P: DaemonProgram>(
        _ program: P.Type,
        arguments: [String] = Array(CommandLine.arguments.dropFirst()),
        environment: [String: String] = ProcessInfo.processInfo.environment
    ) async -> Int32 {
        let flags: DaemonFlags
        switch FlagParser.parse(program, arguments: arguments) {
        case .help(let usage):
            print(usage)
            return 0
        case .usageError(let message):
            printError(message)
            return 2
        case .run(let parsed):
            flags = parsed
        }
        if flags.version {
            print(DjinnVersion.line(program: P.name))
            return 0
        }

        let loaded: LoadedDaemonConfig<P.Settings>
        do {
            loaded = try P.load(configPath: flags.config, driverPath: flags.driver)
        } catch {
            for diagnostic in error.diagnostics { printError(diagnostic.description) }
            printError("\(P.name): invalid configuration")
            if !flags.check && !flags.printPidfile { SystemdNotifier(environment: environment).failed() }
            return 1
        }
        for warning in loaded.warnings { printError(warning.description) }
        if flags.check {
            for file in loaded.checkedFiles { print("\(file): ok") }
            return 0
        }
        if flags.printPidfile {
            print(P.common(loaded.settings).pidfile)
            return 0
        }
        let notifier = SystemdNotifier(environment: environment)
        let status = await serve(program, loaded: loaded, notifier: notifier)
        // A supervisor waiting for READY=1 (start-stop-daemon --notify-await in the SysV
        // scripts) learns at once that start-up failed instead of waiting out its timeout.
        if status != 0 { notifier.failed() }
        return status
    }

    private static func serve<P: DaemonProgram>(
        _ program: P.Type, loaded: LoadedDaemonConfig<P.Settings>, notifier: SystemdNotifier
    ) async -> Int32 {
        let settings = loaded.settings
        let common = P.common(settings)

        let destination: LogDestination
        do {
            destination = try LogDestination.open(path: common.log.file)
        } catch {
            printError("\(P.name): \(error)")
            return 1
        }
        defer { destination.close() }
        let level = common.log.level.swiftLogLevel
        LoggingBootstrapper.bootstrap(destination: destination, level: level)
        var logger = Logger(label: P.name)
        logger.logLevel = level
        logger.info("logging initialized, writing to \(destination.path) at level \(common.log.level.rawValue.uppercased())")
        for warning in loaded.warnings { logger.warning("\(warning.description)") }
        for note in P.startupNotes(settings) + commonNotes(common) { logger.log(level: note.level, "\(note.message)") }

        var pidfile: Pidfile?
        if !common.pidfile.isEmpty {
            let file = Pidfile(path: common.pidfile)
            do {
                try file.write()
            } catch {
                return fail(P.name, logger, "\(error)")
            }
            pidfile = file
        }
        var status = await runConnected(program, settings: settings, common: common, logger: logger,
                                        destination: destination, notifier: notifier)
        if let pidfile {
            do {
                try pidfile.remove()
            } catch {
                printError("\(P.name): \(error)")
                status = 1
            }
        }
        logger.info("\(P.name) stopped")
        return status
    }

    private static func runConnected<P: DaemonProgram>(
        _ program: P.Type, settings: P.Settings, common: CommonSettings, logger: Logger,
        destination: LogDestination, notifier: SystemdNotifier
    ) async -> Int32 {
        let connections: DaemonConnections
        do {
            connections = try await DaemonConnections.open(database: common.database, redis: common.redis, logger: logger)
        } catch {
            return fail(P.name, logger, "\(error)")
        }
        let context = DaemonContext(logger: logger, postgres: connections.postgres, redis: connections.redis,
                                    redisConfiguration: connections.redisConfiguration, notifier: notifier)
        var status: Int32 = 0
        do {
            let services = try await P.makeServices(settings, context: context)
            let housekeeping = HousekeepingService(logger: logger, notifier: notifier, destination: destination)
            let group = ServiceGroup(configuration: .init(
                services: (services + [housekeeping]).map { ServiceGroupConfiguration.ServiceConfiguration(service: $0) },
                gracefulShutdownSignals: [.sigterm, .sigint],
                logger: logger))
            notifier.ready()
            try await group.run()
        } catch {
            status = fail(P.name, logger, "\(error)")
        }
        await connections.close()
        return status
    }

    /// What the shared blocks imply that an operator would not expect.
    static func commonNotes(_ common: CommonSettings) -> [StartupNote] {
        if let tls = common.database.tls, tls.ca.isEmpty || tls.cert.isEmpty || tls.key.isEmpty {
            return [.init(.warning, "database tls needs ca, cert and key for sslmode verify-full: connecting without TLS")]
        }
        return []
    }

    private static func fail(_ name: String, _ logger: Logger, _ message: String) -> Int32 {
        logger.error("\(message)")
        printError("\(name): \(message)")
        return 1
    }

    static func printError(_ text: String) {
        FileHandle.standardError.write(Data((text + "\n").utf8))
    }
}

/// Logs the signal that started the shutdown, tells systemd STOPPING=1, and reopens the
/// log file on SIGHUP (logrotate) for as long as the daemon runs.
struct HousekeepingService: Service {
    let logger: Logger
    let notifier: SystemdNotifier
    let destination: LogDestination

    func run() async throws {
        let hangups = await UnixSignalsSequence(trapping: .sighup)
        await withTaskGroup(of: Void.self) { group in
            group.addTask {
                try? await gracefulShutdown()
                notifier.stopping()
                logger.info("shutting down")
            }
            group.addTask {
                for await _ in hangups.cancelOnGracefulShutdown() {
                    do {
                        guard destination.path != LogDestination.standardOutput.path else { continue }
                        try destination.reopen()
                        logger.info("log file reopened")
                    } catch {
                        logger.error("\(error)")
                    }
                }
            }
        }
    }
}

/// Installs the Djinn log handler process-wide, once.
enum LoggingBootstrapper {
    private static let once = OnceFlag()

    static func bootstrap(destination: LogDestination, level: Logger.Level) {
        guard once.claim() else { return }
        LoggingSystem.bootstrap { label in
            DjinnLogHandler(label: label, destination: destination, level: level)
        }
    }
}

extension LogLevel {
    var swiftLogLevel: Logger.Level {
        switch self {
        case .debug: return .debug
        case .info: return .info
        case .warn: return .warning
        case .error: return .error
        }
    }
}
