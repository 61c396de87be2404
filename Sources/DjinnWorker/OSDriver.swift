#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif
import BlockingIO
import DjinnRunner
import Foundation
import Logging
import Synchronization

/// The os driver (spec §5.2, intended form): builds run on the worker's host. For trusted
/// builds only — a build can do whatever the worker's user can.
///
/// * Each build gets a temporary working directory `driver-os-XXXXXX` (mode 0700) in the
///   worker's temporary directory, which is also its `HOME`.
/// * Environment: nothing of the worker's; `HOME` = the working directory, `PATH` =
///   `OSDriver.defaultPath`, then the build's variables in order (a variable named `PATH` or
///   `HOME` replaces ours).
/// * Objects are copied to their destination below the working directory (an absolute
///   destination is mapped inside it); keys go to `$HOME/.ssh/<name>` (0600) with
///   `$HOME/.ssh/config`.
/// * Each job is one `/bin/sh -c` script (`set -ex`, stderr merged: `JobScript`) spawned in a
///   process group of its own with the working directory and environment given explicitly:
///   the worker never changes its own (Go's `chdir`/`setenv`, spec §12 item 21).
/// * `abort()` (kill, timeout, shutdown) and the end of the build terminate every process
///   group the build started (SIGTERM, then SIGKILL after `killGrace`), background
///   processes included; `destroy()` removes the directory.
public final class OSDriver: BuildDriver {
    public static let defaultPath = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"

    /// The longest job script `/bin/sh -c` can take as one argument (Linux: 128 KiB).
    static let maximumScriptBytes = 128 * 1024 - 1

    public let temporaryDirectory: String
    public let killGrace: Duration
    private let logger: Logger
    private let files: BlockingThread
    private let state = Mutex(State())

    private struct State {
        var directory: String?
        var environment: [String] = []
        /// Processes whose group may still have members.
        var processes: [ChildProcess] = []
        var aborted = false
        /// Kills the build's process groups and removes its directory if the worker dies.
        var watchdog: ChildProcess?
        /// The process groups of the build, one per line, for the watchdog.
        var groupsFile: String?
    }

    /// The watchdog (`sh -c SCRIPT watchdog WORKER_PID GROUPS_FILE DIRECTORY`): waits while the
    /// worker lives; once it is gone (SIGKILL, crash) kills every process group listed in the
    /// file and removes the build's directory. At the end of a build the worker kills it.
    static let watchdogScript = """
        trap '' HUP INT TERM
        while kill -0 "$1" 2>/dev/null; do sleep 1; done
        if [ -f "$2" ]; then
            while read -r group; do kill -s KILL -- "-$group" 2>/dev/null; done < "$2"
        fi
        rm -rf -- "$3" "$2"
        """

    public init(
        temporaryDirectory: String = FileManager.default.temporaryDirectory.path, killGrace: Duration = .milliseconds(500),
        logger: Logger
    ) {
        self.temporaryDirectory = temporaryDirectory
        self.killGrace = killGrace
        self.logger = logger
        self.files = BlockingThread(name: "os-driver-files")
    }

    deinit {
        files.shutdown()
    }

    /// The build's working directory, once created.
    public var directory: String? { state.withLock { $0.directory } }

    // MARK: Creating

    public func create(_ setup: DriverSetup, output: DriverOutput) async throws {
        output.write("Running with OS driver...\n")
        let template = temporaryDirectory + "/driver-os-XXXXXX"
        let directory = try await files.run { () throws -> String in
            var bytes = Array(template.utf8CString)
            guard mkdtemp(&bytes) != nil else {
                throw DriverError("cannot create a working directory in \(template): \(String(cString: strerror(errno)))")
            }
            return SafePaths.string(fromCString: bytes)
        }
        let environment = Self.environment(home: directory, variables: setup.environment)
        let aborted = state.withLock { state in
            state.directory = directory
            state.environment = environment
            return state.aborted
        }
        if aborted { throw CancellationError() }
        output.write("Working directory \(directory)\n")
        startWatchdog(directory: directory)

        if !setup.keys.isEmpty {
            try Task.checkCancellation()
            let keys = setup.keys
            let lines = try await files.run { () throws -> [String] in
                try Self.placeKeys(keys, in: directory)
            }
            for line in lines { output.write(line) }
        }
        for object in setup.objects {
            try Task.checkCancellation()
            output.write("Placing object \(object.name) => \(object.destination)\n")
            do {
                let source = try object.file.get()
                let destination = object.destination
                let cancellation = CopyCancellation()
                try await withTaskCancellationHandler {
                    try await files.run { () throws in
                        try Self.copy(from: source, toDestination: destination, in: directory, cancellation: cancellation)
                    }
                } onCancel: {
                    cancellation.cancel()
                }
            } catch {
                output.write("object error: \(error)\n")
            }
        }
    }

    private func startWatchdog(directory: String) {
        let groupsFile = directory + ".groups"
        guard FileManager.default.createFile(atPath: groupsFile, contents: nil, attributes: [.posixPermissions: 0o600]) else {
            logger.warning("cannot create the build's process group list; its processes outlive a crash of the worker", metadata: [
                "file": "\(groupsFile)",
            ])
            return
        }
        do {
            let watchdog = try ChildProcess.spawn(ChildProcess.Configuration(
                executable: "/bin/sh", arguments: ["-c", Self.watchdogScript, "djinn-watchdog", "\(getpid())", groupsFile, directory],
                workingDirectory: "/", environment: ["PATH=\(Self.defaultPath)"]))
            state.withLock { state in
                state.watchdog = watchdog
                state.groupsFile = groupsFile
            }
        } catch {
            unlink(groupsFile)
            logger.warning("cannot start the build's watchdog; its processes outlive a crash of the worker", metadata: [
                "error": "\(error)",
            ])
        }
    }

    /// Adds a job's process group to the watchdog's list.
    private func recordGroup(_ pgid: pid_t) {
        guard let file = state.withLock({ $0.groupsFile }) else { return }
        let fd = open(file, O_WRONLY | O_APPEND | O_CLOEXEC)
        guard fd >= 0 else { return }
        defer { close(fd) }
        try? SafePaths.writeAll(fd, Array("\(pgid)\n".utf8))
    }

    /// HOME and PATH, then the build's variables; a later entry for a name replaces an
    /// earlier one (the environment has each name once). Entries without `=` or with an
    /// empty name are dropped.
    static func environment(home: String, variables: [String]) -> [String] {
        var order: [String] = []
        var values: [String: String] = [:]
        for entry in ["HOME=\(home)", "PATH=\(defaultPath)"] + variables {
            guard let equals = entry.firstIndex(of: "="), equals != entry.startIndex else { continue }
            let name = String(entry[..<equals])
            if values[name] == nil { order.append(name) }
            values[name] = entry
        }
        return order.compactMap { values[$0] }
    }

    /// Keys at `.ssh/<name>` (0600) and `.ssh/config` (spec §4.2); returns the output lines.
    static func placeKeys(_ keys: [DriverKey], in directory: String) throws(SafePathError) -> [String] {
        var lines: [String] = []
        var config = "\nStrictHostKeyChecking no\nUserKnownHostsFile /dev/null\n\n"
        for key in keys {
            let name = (key.location.split(separator: "/").last.map(String.init)) ?? key.name
            guard SafePaths.isSingleComponent(name) else {
                lines.append("key error: invalid key name \(key.name)\n")
                continue
            }
            let fd = try SafePaths.createFile(root: directory, components: [".ssh", name], mode: 0o600)
            defer { close(fd) }
            try SafePaths.writeAll(fd, key.content)
            lines.append("Placing key \(key.name) => ~/.ssh/\(name)\n")
            config += key.config + "\n"
        }
        let fd = try SafePaths.createFile(root: directory, components: [".ssh", "config"], mode: 0o600)
        defer { close(fd) }
        try SafePaths.writeAll(fd, Array(config.utf8))
        _ = chmod(directory + "/.ssh", 0o700)
        return lines
    }

    /// Copies the store file `source` to `destination` below `directory`.
    static func copy(
        from source: String, toDestination destination: String, in directory: String, cancellation: CopyCancellation
    ) throws {
        guard let components = SafePaths.components(destination) else { throw SafePathError.outside(destination) }
        let input = open(source, O_RDONLY | O_CLOEXEC)
        guard input >= 0 else { throw SafePathError.system("open object", errno) }
        defer { close(input) }
        let output = try SafePaths.createFile(root: directory, components: components)
        defer { close(output) }
        var buffer = [UInt8](repeating: 0, count: 256 * 1024)
        while true {
            if cancellation.isCancelled { throw CancellationError() }
            let count = buffer.withUnsafeMutableBytes { read(input, $0.baseAddress, $0.count) }
            if count < 0 {
                if errno == EINTR { continue }
                throw SafePathError.system("read object", errno)
            }
            if count == 0 { return }
            try SafePaths.writeAll(output, buffer, count: count)
        }
    }

    // MARK: Running jobs

    public func execute(_ job: DriverJob, output: DriverOutput) async throws -> JobOutcome {
        let script = JobScript.render(commands: job.commands)
        guard script.utf8.count <= Self.maximumScriptBytes else {
            return .failed("job script too long (\(script.utf8.count) bytes, at most \(Self.maximumScriptBytes))")
        }
        let (directory, environment, aborted) = state.withLock { ($0.directory, $0.environment, $0.aborted) }
        guard let directory else { throw DriverError("the os driver was not created") }
        if aborted { throw CancellationError() }
        let process = try ChildProcess.spawn(ChildProcess.Configuration(
            executable: "/bin/sh", arguments: ["-c", script], workingDirectory: directory, environment: environment))
        recordGroup(process.pid)
        let abortedMeanwhile = state.withLock { state in
            state.processes.append(process)
            return state.aborted
        }
        if abortedMeanwhile { await ProcessGroups.terminate(process.pid, grace: killGrace) }

        async let pumped: Void = Self.pump(process, into: output)
        let status: ChildProcess.ExitStatus
        do {
            status = try await process.wait()
        } catch {
            process.endOutputWhenDrained()
            try? await pumped
            throw error
        }
        // A background process may keep the pipe open: take what is there and stop.
        process.endOutputWhenDrained()
        try? await pumped
        if !ProcessGroups.isAlive(process.pid) {
            state.withLock { $0.processes.removeAll { $0 === process } }
        }
        return status.succeeded ? .passed : .failed(status.description)
    }

    private static func pump(_ process: ChildProcess, into output: DriverOutput) async throws {
        for try await chunk in process.output {
            output.write(chunk)
        }
    }

    // MARK: Artifacts

    public func openArtifact(_ source: String) async throws -> OpenFile {
        guard let directory = state.withLock({ $0.directory }) else { throw DriverError("the os driver was not created") }
        let opened = try await files.run { () throws -> (fd: Int32, size: Int64) in
            try SafePaths.openForReading(root: directory, path: source)
        }
        return OpenFile(descriptor: opened.fd, size: opened.size)
    }

    // MARK: Stopping

    public func abort() async {
        let processes = state.withLock { state in
            state.aborted = true
            return state.processes
        }
        await Self.terminate(processes, grace: killGrace)
        state.withLock { state in state.processes.removeAll { !ProcessGroups.isAlive($0.pid) } }
    }

    /// Terminates every group at once and returns when none has a live member.
    static func terminate(_ processes: [ChildProcess], grace: Duration) async {
        await withTaskGroup(of: Void.self) { group in
            for process in processes {
                group.addTask { await ProcessGroups.terminate(process.pid, grace: grace) }
            }
        }
    }

    public func destroy() async {
        let (directory, processes, watchdog, groupsFile) = state.withLock { state in
            state.aborted = true
            defer {
                state.directory = nil
                state.processes = []
                state.watchdog = nil
                state.groupsFile = nil
            }
            return (state.directory, state.processes, state.watchdog, state.groupsFile)
        }
        await Self.terminate(processes, grace: killGrace)
        if let watchdog {
            watchdog.signalGroup(SIGKILL)
            _ = try? await watchdog.wait()
        }
        if let groupsFile { unlink(groupsFile) }
        guard let directory else { return }
        let logger = self.logger
        _ = try? await files.run {
            Self.removeTree(directory, logger: logger)
        }
    }

    /// Removes the working directory; a job may have left directories without write
    /// permission, so on failure permissions are restored and it tries once more.
    static func removeTree(_ directory: String, logger: Logger) {
        let manager = FileManager.default
        do {
            try manager.removeItem(atPath: directory)
        } catch {
            if let walker = manager.enumerator(atPath: directory) {
                _ = chmod(directory, 0o700)
                while let relative = walker.nextObject() as? String {
                    let path = directory + "/" + relative
                    var info = stat()
                    if lstat(path, &info) == 0 && (info.st_mode & S_IFMT) == S_IFDIR { _ = chmod(path, 0o700) }
                }
            }
            do {
                try manager.removeItem(atPath: directory)
            } catch {
                logger.warning("cannot remove the build's working directory", metadata: [
                    "directory": "\(directory)", "error": "\(error)",
                ])
            }
        }
    }
}
