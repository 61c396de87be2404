import DjinnRunner
import Foundation

/// A program run by a test, with stdout and stderr in files that can be read while it runs.
///
/// Built on `DjinnRunner.ChildProcess` (posix_spawn, reaped by `waitpid` on a thread of its
/// own) rather than Foundation's `Process`, whose termination handler was seen never to fire
/// once in a loaded full run, hanging the suite. The program is exec'd by `/bin/sh` only to
/// redirect its output into the files: its pid is the one `pid` names, so signals reach it.
public final class TestProcess: Sendable {
    public struct Result: Sendable {
        /// The exit code, or the signal number if a signal ended it (as Foundation reports it).
        public var status: Int32
        public var stdout: String
        public var stderr: String

        public init(status: Int32, stdout: String, stderr: String) {
            self.status = status
            self.stdout = stdout
            self.stderr = stderr
        }
    }

    private let child: ChildProcess
    private let scratch: URL

    public var pid: Int32 { child.pid }

    private init(child: ChildProcess, scratch: URL) {
        self.child = child
        self.scratch = scratch
    }

    deinit {
        try? FileManager.default.removeItem(at: scratch)
    }

    /// Starts `argv` (argv[0] an absolute path) with this process's environment plus
    /// `environment`, in `directory` (default: the current one).
    public static func start(
        _ argv: [String], environment: [String: String]? = nil, directory: String? = nil
    ) throws -> TestProcess {
        let scratch = FileManager.default.temporaryDirectory.appendingPathComponent("djinn-proc-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: scratch, withIntermediateDirectories: true)
        let out = scratch.appendingPathComponent("stdout").path
        let err = scratch.appendingPathComponent("stderr").path
        let merged = ProcessInfo.processInfo.environment.merging(environment ?? [:]) { $1 }
        let configuration = ChildProcess.Configuration(
            executable: "/bin/sh",
            arguments: ["-c", "exec \"$0\" \"$@\" >'\(out)' 2>'\(err)'"] + argv,
            workingDirectory: directory ?? FileManager.default.currentDirectoryPath,
            environment: merged.map { "\($0.key)=\($0.value)" }
        )
        return TestProcess(child: try ChildProcess.spawn(configuration), scratch: scratch)
    }

    /// Runs `argv` to completion.
    public static func run(
        _ argv: [String], environment: [String: String]? = nil, directory: String? = nil
    ) async throws -> Result {
        let process = try start(argv, environment: environment, directory: directory)
        let status = try await process.wait()
        return Result(status: status, stdout: process.stdout, stderr: process.stderr)
    }

    /// Standard output so far.
    public var stdout: String { read("stdout") }

    /// Standard error so far.
    public var stderr: String { read("stderr") }

    private func read(_ name: String) -> String {
        (try? String(contentsOf: scratch.appendingPathComponent(name), encoding: .utf8)) ?? ""
    }

    public func signal(_ signal: Int32) {
        kill(child.pid, signal)
    }

    /// Waits for the exit (off the cooperative pool); the status as `Result.status` has it.
    @discardableResult
    public func wait() async throws -> Int32 {
        switch try await child.wait() {
        case .exited(let code): return code
        case .signalled(let signal): return signal
        }
    }

    /// Whether it has been reaped.
    public var hasExited: Bool { child.exitStatus != nil }
}

/// Writes an executable file (a stand-in program) through a close-on-exec descriptor: a
/// child another test spawns meanwhile must not inherit it open for writing, or executing the
/// file fails with ETXTBSY ("Text file busy") for as long as that child lives.
public func writeExecutable(_ path: String, _ contents: String) throws {
    let fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0o755)
    guard fd >= 0 else { throw TestServicesError.command("open \(path)", errno, "") }
    defer { close(fd) }
    let bytes = Array(contents.utf8)
    var written = 0
    while written < bytes.count {
        let n = bytes[written...].withUnsafeBytes { write(fd, $0.baseAddress, $0.count) }
        if n < 0 && errno == EINTR { continue }
        guard n > 0 else { throw TestServicesError.command("write \(path)", errno, "") }
        written += n
    }
    fchmod(fd, 0o755)
}
