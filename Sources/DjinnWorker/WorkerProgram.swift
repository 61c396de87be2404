import DjinnConfig
import DjinnDaemon
import ServiceLifecycle

/// djinn-worker: runs builds from `builds_<driver>`.
public enum WorkerProgram: DaemonProgram {
    public struct Settings: Sendable {
        public var worker: WorkerSettings
        public var drivers: DriverFileSettings
    }

    public static let name = "djinn-worker"
    public static let defaultConfigPath = "djinn-worker.conf"
    public static var defaultDriverPath: String? { "djinn-driver.conf" }

    public static func load(configPath: String, driverPath: String?) throws(ConfigError) -> LoadedDaemonConfig<Settings> {
        let driverPath = driverPath ?? "djinn-driver.conf"
        var errors: [ConfigDiagnostic] = []
        var worker: Loaded<WorkerSettings>?
        var drivers: Loaded<DriverFileSettings>?
        // Both files are checked even when the first fails, so one -check run shows everything.
        do { worker = try WorkerSettings.load(path: configPath) } catch { errors += error.diagnostics }
        do { drivers = try DriverFileSettings.load(path: driverPath) } catch { errors += error.diagnostics }
        guard let worker, let drivers, errors.isEmpty else { throw ConfigError(diagnostics: errors) }
        var warnings = worker.warnings + drivers.warnings
        if let missing = missingDriverBlock(worker.settings.driverKind, in: drivers.settings) {
            warnings.append(.warning(missing, at: SourceLocation(file: driverPath, line: 1, column: 1)))
        }
        return LoadedDaemonConfig(settings: Settings(worker: worker.settings, drivers: drivers.settings),
                                  warnings: warnings, checkedFiles: [configPath, driverPath])
    }

    /// The configured driver's block is what gives it a host, user or disks; without it
    /// every build would fail at driver creation, so say so at start.
    static func missingDriverBlock(_ kind: DriverKind, in drivers: DriverFileSettings) -> String? {
        let present: Bool
        switch kind {
        case .os: return nil
        case .ssh: present = drivers.ssh != nil
        case .docker: present = drivers.docker != nil
        case .qemu: present = drivers.qemu != nil
        }
        return present ? nil : "no \"driver \(kind.rawValue) { … }\" block: \(kind.rawValue) builds will fail until one is added"
    }

    /// The manifest picks the ssh driver's host: with a password and no known_hosts, a build
    /// can have the worker send that password to any host it names.
    static func unverifiedPasswordWarning(_ settings: Settings) -> String? {
        guard settings.worker.driverKind == .ssh, let ssh = settings.drivers.ssh, !ssh.password.isEmpty, ssh.knownHosts.isEmpty
        else { return nil }
        return "the ssh driver logs in with a password and checks no host keys: a build's manifest can name any host "
            + "and receive the password; set known_hosts in the driver file's ssh block (or use key)"
    }

    public static func common(_ settings: Settings) -> CommonSettings {
        let w = settings.worker
        return CommonSettings(pidfile: w.pidfile, log: w.log, database: w.database, redis: w.redis)
    }

    /// `builds_<driver>`; qemu builds are queued per architecture (`builds_qemu-x86_64`).
    public static func queueName(_ settings: WorkerSettings, hostMachine: String = DjinnVersion.machine) -> String {
        if settings.driverKind == .qemu {
            return "builds_qemu-\(settings.qemuArch ?? hostMachine)"
        }
        return "builds_\(settings.driverKind.rawValue)"
    }

    public static func startupNotes(_ settings: Settings) -> [StartupNote] {
        let w = settings.worker
        var notes: [StartupNote] = []
        if w.driverKind == .os {
            notes.append(.init(.warning, "the os driver should only be used if you trust the builds being submitted, or for testing"))
        }
        if let warning = unverifiedPasswordWarning(settings) {
            notes.append(.init(.warning, warning))
        }
        if w.crypto == nil {
            notes.append(.init(.warning, "no crypto block: masked variables, keys and provider tokens cannot be decrypted"))
        }
        if w.smtp == nil {
            notes.append(.init(.info, "no smtp block: failure mail is disabled"))
        }
        notes.append(.init(.info, "enabled build driver \(w.driverKind.rawValue)"))
        notes.append(.init(.info, "queue: \(queueName(w))"))
        notes.append(.init(.info, "using parallelism of: \(w.effectiveParallelism())"))
        return notes
    }

    public static func makeServices(_ settings: Settings, context: DaemonContext) async throws -> [any Service] {
        [try BuildConsumerService(
            settings: settings.worker, drivers: settings.drivers, postgres: context.postgres, redis: context.redis,
            logger: context.logger)]
    }
}
