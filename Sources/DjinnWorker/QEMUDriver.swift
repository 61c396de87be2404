#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif
import DjinnPostgres
import DjinnQEMU
import DjinnRunner
import DjinnSSH
import Foundation
import Logging
import Synchronization

/// The qemu driver (spec §5.4): each build boots a throwaway VM (the image is opened with
/// `snapshot=on`, so the build never changes it) and runs its jobs over SSH as root with an
/// empty password, through the ssh driver.
///
/// * Image: the build's user (or namespace) image from `images`, else the base image
///   `<disks>/_base/qemu/<arch>/<name>`; `..` in the name is rejected.
/// * Host port for the guest's ssh: from `HostPortAllocator.shared` (never the same for two
///   builds of this worker) and free on the host when probed; if qemu still cannot bind it,
///   the next port is tried.
/// * `-enable-kvm` only when /dev/kvm opens read-write and a probe machine runs under it
///   (`KVMCheck`, once per worker); otherwise software emulation.
/// * qemu is spawned with `ChildProcess` and daemonises once the machine runs; its pid file
///   gives the VM's pid, which is killed (SIGTERM, then SIGKILL) by `abort()` and `destroy()`.
///   A watchdog (a small `sh`, as the os driver's) kills the VM if the worker itself dies
///   first (SIGKILL, OOM): a daemonised VM would otherwise run on with nobody to stop it.
public final class QEMUDriver: BuildDriver {
    public struct Configuration: Sendable, Equatable {
        public var arch: String
        public var cpus: Int
        public var memory: Int
        public var disks: String
        public var image: String

        public init(arch: String, cpus: Int, memory: Int, disks: String, image: String) {
            self.arch = arch
            self.cpus = cpus
            self.memory = memory
            self.disks = disks
            self.image = image
        }
    }

    /// An `images` row: the user's image file is `<disks>/<userID>/qemu/<hash>`.
    public struct UserImage: Sendable, Equatable {
        public var userID: Int64
        public var hash: String

        public init(userID: Int64, hash: String) {
            self.userID = userID
            self.hash = hash
        }
    }

    public let configuration: Result<Configuration, DriverError>
    /// Finds the build's own image by name (nil: use the base image).
    private let lookUpImage: @Sendable (String) async throws -> UserImage?
    private let ports: HostPortAllocator
    /// How long to keep trying to log in to the booted machine.
    private let connectTimeout: Duration
    private let killGrace: Duration
    /// Where `qemu-system-<arch>` is looked for (the worker's PATH).
    private let searchPath: String?
    /// The KVM device tried for `-enable-kvm`, if `kvmCheck` finds it runs a machine; nil:
    /// never KVM.
    private let kvmDevice: String?
    private let kvmCheck: KVMCheck
    private let logger: Logger
    private let state = Mutex(State())

    private struct State {
        var ssh: SSHDriver?
        var booting: ChildProcess?
        var vmPID: pid_t?
        var watchdog: ChildProcess?
        var pidFile: String?
        var port: Int?
        var aborted = false
    }

    public init(
        configuration: Result<Configuration, DriverError>, ports: HostPortAllocator = .shared, connectTimeout: Duration = .seconds(300),
        killGrace: Duration = .seconds(2), searchPath: String? = ProcessInfo.processInfo.environment["PATH"],
        kvmDevice: String? = "/dev/kvm", kvmCheck: KVMCheck = .shared, logger: Logger, lookUpImage: @escaping @Sendable (String) async throws -> UserImage?
    ) {
        self.configuration = configuration
        self.searchPath = searchPath
        self.kvmDevice = kvmDevice
        self.kvmCheck = kvmCheck
        self.lookUpImage = lookUpImage
        self.ports = ports
        self.connectTimeout = connectTimeout
        self.killGrace = killGrace
        self.logger = logger
    }

    // MARK: Creating

    public func create(_ setup: DriverSetup, output: DriverOutput) async throws {
        let configuration = try configuration.get()
        output.write("Running with Driver qemu...\n")
        output.write("Creating machine with arch \(configuration.arch)...\n")
        output.write("Booting machine with image \(configuration.image)...\n")

        let imagePath: String
        do {
            if let own = try await lookUpImage(configuration.image) {
                imagePath = try QEMUImages.userPath(disks: configuration.disks, userID: own.userID, hash: own.hash)
            } else {
                imagePath = try QEMUImages.basePath(disks: configuration.disks, arch: configuration.arch, name: configuration.image)
            }
        } catch let error as QEMUImages.PathError {
            throw DriverError(error.description)
        }
        let program = "qemu-system-\(configuration.arch)"
        guard let executable = Self.find(program, path: searchPath) else {
            throw DriverError("failed to boot machine\n\(program) is not installed on the worker's host")
        }
        var kvm = false
        if let kvmDevice {
            switch try await kvmCheck.verdict(device: kvmDevice, executable: executable, arch: configuration.arch, logger: logger) {
            case .usable: kvm = true
            case .unusable(let why): output.write("\(why): the machine runs without KVM (slow)\n")
            }
        } else {
            output.write("KVM is not used: the machine runs without KVM (slow)\n")
        }

        let port = try await boot(configuration, executable: executable, imagePath: imagePath, kvm: kvm)
        let ssh = SSHDriver(
            configuration: SSHDriver.Configuration(
                addressText: "127.0.0.1:\(port)", address: SSHAddress(host: "127.0.0.1", port: port),
                // The build's own fresh VM on loopback: no key to know, nothing secret sent.
                credentials: SSHCredentials(user: "root", password: ""), connectTimeout: connectTimeout, knownHostsFile: nil),
            quiet: true, logger: logger)
        let aborted = state.withLock { state in
            state.ssh = ssh
            return state.aborted
        }
        if aborted { throw CancellationError() }
        guard case .success(let sshConfiguration) = ssh.configuration else { throw DriverError("ssh configuration") }
        try await ssh.connect(sshConfiguration, output: output)
        output.write("Established SSH connection to machine as root...\n\n")
        try await ssh.prepare(setup, output: output)
    }

    /// Starts qemu on a free host port; returns the port.
    private func boot(_ configuration: Configuration, executable: String, imagePath: String, kvm: Bool) async throws -> Int {
        var template = Array((FileManager.default.temporaryDirectory.path + "/djinn-qemu-XXXXXX").utf8CString)
        let fd = mkstemp(&template)
        guard fd >= 0 else { throw DriverError("cannot create the pid file: \(String(cString: strerror(errno)))") }
        close(fd)
        let pidFile = SafePaths.string(fromCString: template)
        state.withLock { $0.pidFile = pidFile }

        var from: Int?
        while true {
            try Task.checkCancellation()
            guard let port = ports.reserve(from: from, isFree: Self.portIsFree) else {
                throw DriverError("failed to boot machine\nno free host port for the machine's ssh")
            }
            state.withLock { $0.port = port }
            let machine = QEMUMachine(
                arch: configuration.arch, cpus: configuration.cpus, memory: configuration.memory, imagePath: imagePath,
                pidFile: pidFile, hostPort: port, kvm: kvm)
            let process = try ChildProcess.spawn(ChildProcess.Configuration(
                executable: executable, arguments: machine.arguments, workingDirectory: "/",
                environment: ["PATH=\(ProcessInfo.processInfo.environment["PATH"] ?? OSDriver.defaultPath)"]))
            let aborted = state.withLock { state in
                state.booting = process
                return state.aborted
            }
            if aborted { await process.terminateGroup(grace: killGrace) }
            async let printed = Self.collect(process)
            let status = try await process.wait()
            process.endOutputWhenDrained()
            let text = String(decoding: await printed, as: UTF8.self)
            state.withLock { $0.booting = nil }
            if state.withLock({ $0.aborted }) {
                // Stopped while starting: qemu's daemon child (the VM, in a session of its own)
                // may have been forked before its parent was killed.
                for pid in Self.machines(usingPIDFile: pidFile) { kill(pid, SIGKILL) }
                throw CancellationError()
            }
            if status.succeeded {
                let pid = (try? String(contentsOfFile: pidFile, encoding: .utf8))
                    .flatMap { pid_t($0.trimmingCharacters(in: .whitespacesAndNewlines)) }
                guard let pid, pid > 0 else { throw DriverError("failed to boot machine\nqemu wrote no pid to \(pidFile)") }
                let watchdog = Self.startWatchdog(workerPID: getpid(), vmPID: pid, pidFile: pidFile, logger: logger)
                let abortedMeanwhile = state.withLock { state in
                    state.vmPID = pid
                    state.watchdog = watchdog
                    return state.aborted
                }
                if abortedMeanwhile { throw CancellationError() }
                return port
            }
            let failure = QEMUBootFailure(stderr: text)
            ports.release(port)
            state.withLock { $0.port = nil }
            if failure == .portInUse {
                from = port + 1
                continue
            }
            if case .other = failure { logger.warning("qemu did not start", metadata: ["status": "\(status)", "output": "\(text)"]) }
            throw DriverError((["failed to boot machine"] + failure.lines(image: configuration.image)).joined(separator: "\n"))
        }
    }

    /// What a qemu run printed (its first 64 KiB); `seen` gets all of it so far after each piece.
    static func collect(_ process: ChildProcess, seen: @Sendable ([UInt8]) -> Void = { _ in }) async -> [UInt8] {
        var bytes: [UInt8] = []
        do {
            for try await chunk in process.output where bytes.count < 64 * 1024 {
                bytes += chunk
                seen(bytes)
            }
        } catch {}
        return bytes
    }

    /// True when `pid` is gone or a zombie: the daemonised VM is not our child, and its
    /// reaper (init, a container's pid 1) may take seconds to collect it, or never does.
    static func hasEnded(_ pid: pid_t, proc: String = "/proc") -> Bool {
        if kill(pid, 0) != 0 { return true }
        guard let stat = try? String(contentsOfFile: "\(proc)/\(pid)/stat", encoding: .utf8),
            let close = stat.lastIndex(of: ")")
        else { return false }
        // `pid (comm) STATE …`: comm may hold spaces and parentheses, the last `)` ends it.
        return stat[stat.index(after: close)...].split(separator: " ").first == "Z"
    }

    /// The processes whose command line holds `-pidfile PIDFILE`: this build's qemu (the pid
    /// file's name is unique), also before it wrote its pid.
    static func machines(usingPIDFile pidFile: String, proc: String = "/proc") -> [pid_t] {
        let entries = (try? FileManager.default.contentsOfDirectory(atPath: proc)) ?? []
        return entries.compactMap { entry -> pid_t? in
            guard let pid = pid_t(entry), pid > 0, let data = FileManager.default.contents(atPath: "\(proc)/\(entry)/cmdline") else {
                return nil
            }
            let arguments = data.split(separator: 0).map { String(decoding: $0, as: UTF8.self) }
            let found = zip(arguments, arguments.dropFirst()).contains { $0 == "-pidfile" && $1 == pidFile }
            return found ? pid : nil
        }
    }

    /// True when nothing on the host listens on 127.0.0.1:`port` (a bind succeeds).
    static func portIsFree(_ port: Int) -> Bool {
        let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue) | Int32(SOCK_CLOEXEC.rawValue), 0)
        guard fd >= 0 else { return false }
        defer { close(fd) }
        var address = sockaddr_in()
        address.sin_family = sa_family_t(AF_INET)
        address.sin_addr.s_addr = inet_addr("127.0.0.1")
        address.sin_port = in_port_t(UInt16(port).bigEndian)
        return withUnsafePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { bind(fd, $0, socklen_t(MemoryLayout<sockaddr_in>.size)) }
        } == 0
    }

    static func find(_ program: String, path: String?) -> String? {
        for directory in (path ?? OSDriver.defaultPath).split(separator: ":") where !directory.isEmpty {
            let candidate = "\(directory)/\(program)"
            if access(candidate, X_OK) == 0 { return candidate }
        }
        return nil
    }

    // MARK: Running jobs

    private func ssh() throws -> SSHDriver {
        guard let ssh = state.withLock({ $0.ssh }) else { throw DriverError("the qemu driver was not created") }
        return ssh
    }

    public func execute(_ job: DriverJob, output: DriverOutput) async throws -> JobOutcome {
        try await ssh().execute(job, output: output)
    }

    public func artifactFiles(_ source: String) async throws -> [ArtifactFile] {
        try await ssh().artifactFiles(source)
    }

    public func openArtifact(_ source: String) async throws -> OpenFile {
        try await ssh().openArtifact(source)
    }

    // MARK: Stopping

    /// Ends the SSH connection and kills the machine (and a qemu still starting).
    public func abort() async {
        let (ssh, booting) = state.withLock { state in
            state.aborted = true
            return (state.ssh, state.booting)
        }
        await ssh?.abort()
        await booting?.terminateGroup(grace: killGrace)
        await killMachine()
    }

    public func destroy() async {
        let (ssh, pidFile, port) = state.withLock { state in
            state.aborted = true
            defer {
                state.ssh = nil
                state.pidFile = nil
                state.port = nil
            }
            return (state.ssh, state.pidFile, state.port)
        }
        // The machine is thrown away: nothing on it needs cleaning, only the connection closing.
        await ssh?.abort()
        await ssh?.destroy()
        await killMachine()
        if let pidFile {
            // Whatever runs with this build's pid file and was never recorded as the VM.
            for pid in Self.machines(usingPIDFile: pidFile) { kill(pid, SIGKILL) }
            unlink(pidFile)
        }
        if let port { ports.release(port) }
    }

    /// `sh -c SCRIPT djinn-qemu-watchdog WORKER_PID VM_PID PID_FILE`: waits while the worker
    /// lives, then kills the VM (if that pid is still a qemu) and removes its pid file. Signals
    /// that stop the worker's children are ignored; `killMachine` ends it with SIGKILL.
    static let watchdogScript = """
        trap '' HUP INT TERM
        while kill -0 "$1" 2>/dev/null; do sleep 1; done
        if grep -q qemu "/proc/$2/cmdline" 2>/dev/null; then kill -s KILL "$2" 2>/dev/null; fi
        rm -f -- "$3"
        """

    static func startWatchdog(workerPID: pid_t, vmPID: pid_t, pidFile: String, logger: Logger) -> ChildProcess? {
        do {
            return try ChildProcess.spawn(ChildProcess.Configuration(
                executable: "/bin/sh", arguments: ["-c", watchdogScript, "djinn-qemu-watchdog", "\(workerPID)", "\(vmPID)", pidFile],
                workingDirectory: "/", environment: ["PATH=\(OSDriver.defaultPath)"]))
        } catch {
            logger.warning("cannot start the machine's watchdog; the VM outlives a crash of the worker", metadata: [
                "error": "\(error)"
            ])
            return nil
        }
    }

    private func killMachine() async {
        let watchdog = state.withLock { state -> ChildProcess? in
            defer { state.watchdog = nil }
            return state.watchdog
        }
        if let watchdog {
            watchdog.signalGroup(SIGKILL)
            _ = try? await watchdog.wait()
        }
        guard let pid = state.withLock({ state -> pid_t? in
            defer { state.vmPID = nil }
            return state.vmPID
        }) else { return }
        guard kill(pid, SIGTERM) == 0 else { return }
        let deadline = ContinuousClock.now + killGrace
        while ContinuousClock.now < deadline {
            if Self.hasEnded(pid) { return }
            try? await Task.sleep(for: .milliseconds(50))
        }
        kill(pid, SIGKILL)
    }
}

/// The `images` row of a qemu build (spec §5.4): by name in the build's namespace when it
/// has one, else among the build owner's images.
enum QEMUImageLookup {
    static func image(named name: String, namespaceID: Int64?, ownerID: Int64, in pool: PostgresPool) async throws -> QEMUDriver.UserImage? {
        let rows: PostgresRows
        if let namespaceID {
            rows = try await pool.query(
                "SELECT user_id, hash FROM images WHERE name = $1 AND namespace_id = $2 AND driver = 'qemu' ORDER BY id DESC LIMIT 1",
                [name, namespaceID])
        } else {
            rows = try await pool.query(
                "SELECT user_id, hash FROM images WHERE name = $1 AND user_id = $2 AND driver = 'qemu' ORDER BY id DESC LIMIT 1",
                [name, ownerID])
        }
        guard let row = rows.first else { return nil }
        return QEMUDriver.UserImage(userID: try row.decode(Int64.self, column: "user_id"), hash: try row.decode(String.self, column: "hash"))
    }
}
