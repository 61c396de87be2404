import DjinnBuilds
import DjinnConfig
import DjinnDaemon
import ServiceLifecycle

/// djinn-scheduler: turns due cron rows into queued builds.
public enum SchedulerProgram: DaemonProgram {
    public typealias Settings = SchedulerSettings

    public static let name = "djinn-scheduler"
    public static let defaultConfigPath = "djinn-scheduler.conf"
    /// The payload's `Host` for cron builds.
    public static let buildHost = "djinn-scheduler"
    /// Pages under way at once, and crons invoked at once when a page falls back to one
    /// transaction per cron (each on its own connection of the daemon's pool of 8).
    public static let parallelism = 4

    public static func load(configPath: String, driverPath: String?) throws(ConfigError) -> LoadedDaemonConfig<Settings> {
        let loaded = try SchedulerSettings.load(path: configPath)
        return LoadedDaemonConfig(settings: loaded.settings, warnings: loaded.warnings, checkedFiles: [configPath])
    }

    public static func common(_ s: Settings) -> CommonSettings {
        CommonSettings(pidfile: s.pidfile, log: s.log, database: s.database, redis: s.redis)
    }

    public static func startupNotes(_ s: Settings) -> [StartupNote] {
        var notes: [StartupNote] = [
            .init(.info, "batch interval set to \(GoDuration.format(s.interval))"),
            .init(.info, "batch size set to \(s.batchSize)"),
            .init(.info, "drivers enabled: \(s.drivers.joined(separator: ", "))"),
        ]
        if s.crypto == nil {
            // Go needs the salt for hashids; artifact names here are random ids instead.
            notes.append(.init(.info, "no crypto block: artifact names are random ids (nothing else needs it)"))
        }
        return notes
    }

    public static func makeServices(_ settings: Settings, context: DaemonContext) async throws -> [any Service] {
        let submitter = BuildSubmitter(
            pool: context.postgres, enqueuer: QueueBuildEnqueuer(client: context.redis, logger: context.logger),
            enabledDrivers: Set(settings.drivers), host: buildHost, logger: context.logger)
        let scheduler = CronScheduler(
            pool: context.postgres, submitter: submitter, batchSize: settings.batchSize, parallelism: parallelism,
            logger: context.logger)
        return [SchedulerService(scheduler: scheduler, interval: settings.interval, logger: context.logger)]
    }
}
