import Foundation
import DjinnConfig
import Logging
import Testing
@testable import DjinnDaemon
@testable import DjinnWorker
@testable import DjinnScheduler

@Suite struct FlagTests {
    @Test(arguments: [
        ["-config", "w.conf"], ["-config=w.conf"], ["--config", "w.conf"], ["--config=w.conf"],
    ])
    func configFlagGoStyles(_ argv: [String]) {
        #expect(FlagParser.parse(SchedulerProgram.self, arguments: argv)
            == .run(DaemonFlags(config: "w.conf", driver: nil, check: false, version: false)))
    }

    @Test func defaultsPerDaemon() {
        #expect(FlagParser.parse(SchedulerProgram.self, arguments: [])
            == .run(DaemonFlags(config: "djinn-scheduler.conf", driver: nil, check: false, version: false)))
        #expect(FlagParser.parse(WorkerProgram.self, arguments: ["-check"])
            == .run(DaemonFlags(config: "djinn-worker.conf", driver: "djinn-driver.conf", check: true, version: false)))
    }

    @Test func workerTakesDriverFile() {
        #expect(FlagParser.parse(WorkerProgram.self, arguments: ["-driver=d.conf", "-config", "w.conf", "-version"])
            == .run(DaemonFlags(config: "w.conf", driver: "d.conf", check: false, version: true)))
    }

    @Test func printPidfileFlag() {
        #expect(FlagParser.parse(WorkerProgram.self, arguments: ["-print-pidfile", "-config", "w.conf"])
            == .run(DaemonFlags(config: "w.conf", driver: "djinn-driver.conf", check: false, version: false, printPidfile: true)))
        #expect(FlagParser.usageText(SchedulerProgram.self).contains("  -print-pidfile\n"))
    }

    @Test func unknownFlagUsesGoWording() {
        guard case .usageError(let message) = FlagParser.parse(SchedulerProgram.self, arguments: ["-x"]) else {
            Issue.record("expected a usage error"); return
        }
        #expect(message.hasPrefix("flag provided but not defined: -x"))
        #expect(message.contains("Usage of djinn-scheduler:"))
    }

    @Test func driverFlagOnlyForTheWorker() {
        guard case .usageError = FlagParser.parse(SchedulerProgram.self, arguments: ["-driver", "d.conf"]) else {
            Issue.record("the scheduler must reject -driver"); return
        }
    }

    @Test(arguments: ["-h", "--help", "-help"])
    func helpIsNotAnError(_ flag: String) {
        guard case .help(let usage) = FlagParser.parse(WorkerProgram.self, arguments: [flag]) else {
            Issue.record("expected help"); return
        }
        #expect(usage.contains("-driver string"))
    }
}

@Suite struct VersionTests {
    @Test func goArchNames() {
        #expect(DjinnVersion.goArch(machine: "x86_64") == "amd64")
        #expect(DjinnVersion.goArch(machine: "aarch64") == "arm64")
        #expect(DjinnVersion.line(program: "djinn-worker").hasPrefix("djinn-worker v"))
        #expect(DjinnVersion.line(program: "x").hasSuffix(" linux/\(DjinnVersion.arch)"))
    }
}

@Suite struct PidfileTests {
    func tempPath() -> String {
        FileManager.default.temporaryDirectory.appendingPathComponent("djinn-pid-\(UUID().uuidString)").path
    }

    @Test func writesDecimalPIDWithoutNewlineAndRemoves() throws {
        let path = tempPath()
        let file = Pidfile(path: path)
        try file.write()
        #expect(try String(contentsOfFile: path, encoding: .utf8) == String(getpid()))
        let mode = try FileManager.default.attributesOfItem(atPath: path)[.posixPermissions] as? Int
        #expect(mode == 0o644)
        try file.remove()
        #expect(!FileManager.default.fileExists(atPath: path))
        try file.remove()  // already gone is fine
    }

    @Test func refusesALiveProcessButReplacesAStaleFile() throws {
        let path = tempPath()
        defer { try? FileManager.default.removeItem(atPath: path) }
        // PID 1 is always alive.
        try "1".write(toFile: path, atomically: true, encoding: .utf8)
        #expect(throws: Pidfile.Failure.running(path: path, pid: 1)) { try Pidfile(path: path).write() }
        // A PID far above pid_max cannot exist.
        try "99999999".write(toFile: path, atomically: true, encoding: .utf8)
        try Pidfile(path: path).write()
        #expect(try String(contentsOfFile: path, encoding: .utf8) == String(getpid()))
    }

    @Test func unwritableDirectoryIsAClearError() {
        #expect(throws: Pidfile.Failure.self) { try Pidfile(path: "/nonexistent-dir/x.pid").write() }
    }
}

@Suite struct LogFormatTests {
    @Test func goDjinnLineFormat() {
        // 2023-11-05 12:34:56 UTC
        let line = DjinnLogHandler.format(level: .info, message: "consuming jobs from jobs", metadata: [:], at: 1_699_187_696)
        #expect(line == "2023/11/05 12:34:56 INFO consuming jobs from jobs")
        #expect(DjinnLogHandler.levelName(.warning) == "WARN")
        #expect(DjinnLogHandler.levelName(.critical) == "ERROR")
        #expect(DjinnLogHandler.levelName(.trace) == "DEBUG")
        let withMeta = DjinnLogHandler.format(level: .error, message: "m", metadata: ["b": "2", "a": "1"], at: 0)
        #expect(withMeta == "1970/01/01 00:00:00 ERROR m a=1 b=2")
    }

    @Test func filtersByLevelAndAppendsToTheFile() throws {
        let path = FileManager.default.temporaryDirectory.appendingPathComponent("djinn-log-\(UUID().uuidString)").path
        defer { try? FileManager.default.removeItem(atPath: path) }
        let destination = try LogDestination.open(path: path)
        let logger = Logger(label: "t") { DjinnLogHandler(label: $0, destination: destination, level: .info) }
        logger.debug("hidden")
        logger.info("shown")
        logger.warning("warned")
        destination.close()
        let lines = try String(contentsOfFile: path, encoding: .utf8).split(separator: "\n")
        #expect(lines.count == 2)
        #expect(lines[0].hasSuffix(" INFO shown"))
        #expect(lines[1].hasSuffix(" WARN warned"))
        let mode = try FileManager.default.attributesOfItem(atPath: path)[.posixPermissions] as? Int
        #expect(mode == 0o640)
    }

    @Test func reopenFollowsARotatedFile() throws {
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("djinn-rot-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: dir) }
        let path = dir.appendingPathComponent("d.log").path
        let destination = try LogDestination.open(path: path)
        destination.write("one")
        try FileManager.default.moveItem(atPath: path, toPath: path + ".1")
        try destination.reopen()
        destination.write("two")
        destination.close()
        #expect(try String(contentsOfFile: path + ".1", encoding: .utf8) == "one\n")
        #expect(try String(contentsOfFile: path, encoding: .utf8) == "two\n")
    }
}

@Suite struct SystemdNotifierTests {
    @Test func sendsDatagramsToNotifySocket() throws {
        let path = FileManager.default.temporaryDirectory.appendingPathComponent("n-\(UUID().uuidString.prefix(8))").path
        let fd = socket(AF_UNIX, Int32(SOCK_DGRAM.rawValue), 0)
        #expect(fd >= 0)
        defer { close(fd); unlink(path) }
        var address = sockaddr_un()
        address.sun_family = sa_family_t(AF_UNIX)
        withUnsafeMutableBytes(of: &address.sun_path) { raw in
            for (i, b) in path.utf8.enumerated() { raw[i] = b }
        }
        let bound = withUnsafePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { bind(fd, $0, socklen_t(MemoryLayout<sockaddr_un>.size)) }
        }
        #expect(bound == 0)
        let notifier = SystemdNotifier(environment: ["NOTIFY_SOCKET": path])
        notifier.ready()
        notifier.stopping()
        notifier.failed()
        var buffer = [UInt8](repeating: 0, count: 256)
        let first = recv(fd, &buffer, buffer.count, 0)
        #expect(String(decoding: buffer[0..<max(first, 0)], as: UTF8.self) == "READY=1")
        let second = recv(fd, &buffer, buffer.count, 0)
        #expect(String(decoding: buffer[0..<max(second, 0)], as: UTF8.self) == "STOPPING=1")
        let third = recv(fd, &buffer, buffer.count, 0)
        #expect(String(decoding: buffer[0..<max(third, 0)], as: UTF8.self) == "ERRNO=\(EIO)")
        #expect(SystemdNotifier(environment: [:]).send("READY=1") == false)
    }
}

@Suite struct WorkerQueueNameTests {
    @Test func qemuQueuesPerArchitecture() throws {
        #expect(WorkerProgram.queueName(try workerSettings(driver: "os")) == "builds_os")
        #expect(WorkerProgram.queueName(try workerSettings(driver: "qemu"), hostMachine: "x86_64") == "builds_qemu-x86_64")
        #expect(WorkerProgram.queueName(try workerSettings(driver: "qemu-aarch64")) == "builds_qemu-aarch64")
    }
}

@Suite struct StartupNoteTests {
    @Test func partialTLSIsWarnedAbout() {
        let database = { (tls: TLSFiles?) in
            CommonSettings(pidfile: "", log: LogSettings(), database: DatabaseSettings(addr: "h:1", name: "", username: "", password: "", tls: tls),
                           redis: RedisSettings(addr: "h:2", password: ""))
        }
        #expect(DaemonMain.commonNotes(database(nil)).isEmpty)
        #expect(DaemonMain.commonNotes(database(TLSFiles(ca: "a", cert: "c", key: "k"))).isEmpty)
        #expect(DaemonMain.commonNotes(database(TLSFiles(ca: "a", cert: "", key: ""))).first?.level == .warning)
    }

    @Test func workerWarnsWhenItsDriverHasNoBlock() {
        #expect(WorkerProgram.missingDriverBlock(.os, in: DriverFileSettings()) == nil)
        #expect(WorkerProgram.missingDriverBlock(.docker, in: DriverFileSettings())?.contains("driver docker") == true)
        #expect(WorkerProgram.missingDriverBlock(.ssh, in: DriverFileSettings(ssh: SSHDriverSettings(timeout: .seconds(60)))) == nil)
    }
}
