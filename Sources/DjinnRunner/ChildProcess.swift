#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif
import BlockingIO
import Synchronization

/// A child process in a process group of its own, with stdout and stderr merged into one
/// pipe.
///
/// * Spawned with `posix_spawn`: its working directory and environment are given
///   explicitly, so the worker never changes its own (`chdir`/`setenv` are process-wide —
///   Go's os driver, spec §12 item 21). stdin is `/dev/null`.
/// * Its signal mask is empty and every signal has its default action, whatever the
///   spawning thread had (Swift's threads may block SIGTERM).
/// * It leads a new process group (pgid = pid), so `terminateGroup` reaches everything it
///   started, grandchildren included.
/// * Output is read on a dedicated thread only when the consumer asks for the next chunk
///   (`output`), so memory is one chunk however much the child prints, and a child that
///   prints faster than its output is consumed simply blocks on the pipe. Iterate `output`
///   from one task; a child whose output is never read stops once the pipe is full.
/// * `wait()` reaps it on a dedicated thread (never on the cooperative pool).
public final class ChildProcess: Sendable {
    public struct Configuration: Sendable, Hashable {
        /// Absolute path of the program (no PATH lookup).
        public var executable: String
        /// argv[1...].
        public var arguments: [String]
        public var workingDirectory: String
        /// The whole environment, `NAME=VALUE` each; nothing is inherited.
        public var environment: [String]

        public init(executable: String, arguments: [String] = [], workingDirectory: String, environment: [String]) {
            self.executable = executable
            self.arguments = arguments
            self.workingDirectory = workingDirectory
            self.environment = environment
        }
    }

    /// How the child ended.
    public enum ExitStatus: Sendable, Hashable, CustomStringConvertible {
        case exited(Int32)
        case signalled(Int32)

        public var succeeded: Bool { self == .exited(0) }

        /// As Go's `exec.ExitError` prints it: `exit status 2`, `signal: killed`.
        public var description: String {
            switch self {
            case .exited(let code): return "exit status \(code)"
            case .signalled(let signal): return "signal: \(Self.signalName(signal))"
            }
        }

        static func signalName(_ signal: Int32) -> String {
            switch signal {
            case SIGHUP: return "hangup"
            case SIGINT: return "interrupt"
            case SIGQUIT: return "quit"
            case SIGILL: return "illegal instruction"
            case SIGABRT: return "aborted"
            case SIGFPE: return "floating point exception"
            case SIGKILL: return "killed"
            case SIGSEGV: return "segmentation fault"
            case SIGPIPE: return "broken pipe"
            case SIGALRM: return "alarm clock"
            case SIGTERM: return "terminated"
            default: return "signal \(signal)"
            }
        }
    }

    /// The child's pid, which is also its process group id.
    public let pid: pid_t

    private let reader: BlockingThread
    private let waiter: BlockingThread
    private let state: Mutex<State>

    private struct State {
        var readFD: Int32
        var outputEnded = false
        var endWhenDrained = false
        var readCancelled = false
        var exitStatus: ExitStatus?
    }

    /// Largest chunk delivered by `output`.
    public static let chunkSize = 64 * 1024

    private init(pid: pid_t, readFD: Int32) {
        self.pid = pid
        self.reader = BlockingThread(name: "child-\(pid)-output")
        self.waiter = BlockingThread(name: "child-\(pid)-wait")
        self.state = Mutex(State(readFD: readFD))
    }

    deinit {
        let pid = self.pid
        let (fd, reaped) = state.withLock { ($0.readFD, $0.exitStatus != nil) }
        if fd >= 0 { close(fd) }
        reader.shutdown()
        if !reaped {
            // Nobody waited: reap it when it ends rather than leave a zombie.
            waiter.submit {
                var status: Int32 = 0
                while waitpid(pid, &status, 0) < 0 && errno == EINTR {}
            }
        }
        waiter.shutdown()
    }

    // MARK: Spawning

    public static func spawn(_ configuration: Configuration) throws(ChildProcessError) -> ChildProcess {
        for entry in configuration.environment where !entry.contains("=") || entry.utf8.contains(0) {
            throw .invalidEnvironmentEntry(entry.split(separator: "=", maxSplits: 1).first.map(String.init) ?? "")
        }
        for text in [configuration.executable, configuration.workingDirectory] + configuration.arguments
        where text.utf8.contains(0) {
            throw .invalidArgument
        }
        guard let addChdir = GNUFunctions.addChdir else { throw .unsupported("posix_spawn_file_actions_addchdir_np") }
        guard let pipe2 = GNUFunctions.pipe2 else { throw .unsupported("pipe2") }

        // Close-on-exec from the start: a process spawned meanwhile by another thread must
        // not inherit the write end (its output would never end).
        var pipeFDs: [Int32] = [-1, -1]
        guard pipe2(&pipeFDs, O_CLOEXEC) == 0 else { throw .system("pipe2", errno) }
        let (readFD, writeFD) = (pipeFDs[0], pipeFDs[1])
        defer { close(writeFD) }

        var actions = posix_spawn_file_actions_t()
        posix_spawn_file_actions_init(&actions)
        defer { posix_spawn_file_actions_destroy(&actions) }
        var attributes = posix_spawnattr_t()
        posix_spawnattr_init(&attributes)
        defer { posix_spawnattr_destroy(&attributes) }

        var result = addChdir(&actions, configuration.workingDirectory)
        if result == 0 { result = posix_spawn_file_actions_addopen(&actions, 0, "/dev/null", O_RDONLY, 0) }
        if result == 0 { result = posix_spawn_file_actions_adddup2(&actions, writeFD, 1) }
        if result == 0 { result = posix_spawn_file_actions_adddup2(&actions, writeFD, 2) }
        // Nothing else of ours: a build must not get the worker's database and Redis
        // connections or files it has open, close-on-exec or not.
        if result == 0 {
            if let closeFrom = GNUFunctions.addCloseFrom {
                result = closeFrom(&actions, 3)
            } else {
                for fd in Self.openDescriptors() where fd > 2 && result == 0 {
                    result = posix_spawn_file_actions_addclose(&actions, fd)
                }
            }
        }

        var emptyMask = sigset_t()
        sigemptyset(&emptyMask)
        var defaultSignals = sigset_t()
        sigemptyset(&defaultSignals)
        // Every signal glibc lets us name (it refuses its two internal ones, 32 and 33).
        for signal in 1..<65 where signal != SIGKILL && signal != SIGSTOP { _ = sigaddset(&defaultSignals, Int32(signal)) }
        if result == 0 { result = posix_spawnattr_setsigmask(&attributes, &emptyMask) }
        if result == 0 { result = posix_spawnattr_setsigdefault(&attributes, &defaultSignals) }
        if result == 0 { result = posix_spawnattr_setpgroup(&attributes, 0) }
        if result == 0 {
            let flags = POSIX_SPAWN_SETPGROUP | POSIX_SPAWN_SETSIGMASK | POSIX_SPAWN_SETSIGDEF
            result = posix_spawnattr_setflags(&attributes, Int16(flags))
        }
        guard result == 0 else {
            close(readFD)
            throw .system("posix_spawn setup", result)
        }

        let argv = ([configuration.executable] + configuration.arguments).map { strdup($0) } + [nil]
        let envp = configuration.environment.map { strdup($0) } + [nil]
        defer {
            argv.forEach { free($0) }
            envp.forEach { free($0) }
        }
        var pid: pid_t = 0
        result = posix_spawn(&pid, configuration.executable, &actions, &attributes, argv, envp)
        guard result == 0 else {
            close(readFD)
            throw .spawnFailed(executable: configuration.executable, workingDirectory: configuration.workingDirectory, errno: result)
        }
        // Non-blocking, so a drained pipe can be told apart from one that is still open.
        _ = fcntl(readFD, F_SETFL, fcntl(readFD, F_GETFL) | O_NONBLOCK)
        return ChildProcess(pid: pid, readFD: readFD)
    }

    /// This process's open descriptors (for a glibc without `addclosefrom_np`, before 2.34).
    private static func openDescriptors() -> [Int32] {
        guard let directory = opendir("/proc/self/fd") else { return [] }
        defer { closedir(directory) }
        let own = dirfd(directory)
        var descriptors: [Int32] = []
        while let entry = readdir(directory) {
            let name = withUnsafeBytes(of: entry.pointee.d_name) { String(decoding: $0.prefix { $0 != 0 }, as: UTF8.self) }
            if let fd = Int32(name), fd != own { descriptors.append(fd) }
        }
        return descriptors
    }

    // MARK: Output

    /// The merged stdout and stderr, in chunks of at most `chunkSize` bytes, ending when every
    /// writer closed the pipe (the child and anything it started that kept it), or — after
    /// `endOutputWhenDrained()` — once the pipe is empty. A consumer whose task is cancelled
    /// gets `CancellationError` within 100 ms; the output stays readable.
    public var output: Output { Output(process: self) }

    public struct Output: AsyncSequence, Sendable {
        let process: ChildProcess

        public struct AsyncIterator: AsyncIteratorProtocol {
            let process: ChildProcess

            public mutating func next() async throws -> [UInt8]? {
                try await process.nextChunk()
            }
        }

        public func makeAsyncIterator() -> AsyncIterator { AsyncIterator(process: process) }
    }

    /// Ends `output` as soon as the pipe holds nothing more, even if a background process
    /// still has it open. Call after `wait()`: what the child wrote before exiting is in the
    /// pipe and still delivered.
    public func endOutputWhenDrained() {
        state.withLock { $0.endWhenDrained = true }
    }

    /// Throws `CancellationError` when the consuming task is cancelled (within 100 ms);
    /// the output stays open and can be read on.
    private func nextChunk() async throws -> [UInt8]? {
        let fd = state.withLock { $0.outputEnded ? -1 : $0.readFD }
        guard fd >= 0 else { return nil }
        let chunk = try await withTaskCancellationHandler {
            try await reader.run { [self] in try self.blockingRead(fd) }
        } onCancel: {
            state.withLock { $0.readCancelled = true }
        }
        if chunk == nil {
            state.withLock { state in
                state.outputEnded = true
                if state.readFD >= 0 {
                    close(state.readFD)
                    state.readFD = -1
                }
            }
            reader.shutdown()
        }
        return chunk
    }

    private func blockingRead(_ fd: Int32) throws -> [UInt8]? {
        while true {
            let cancelled = state.withLock { state in
                defer { state.readCancelled = false }
                return state.readCancelled
            }
            if cancelled { throw CancellationError() }
            var readError: Int32 = 0
            let chunk = [UInt8](unsafeUninitializedCapacity: Self.chunkSize) { buffer, count in
                let result = read(fd, buffer.baseAddress, buffer.count)
                count = Swift.max(result, 0)
                if result < 0 { readError = errno }
            }
            if !chunk.isEmpty { return chunk }
            switch readError {
            case 0:
                return nil  // EOF
            case EINTR:
                continue
            case EAGAIN, EWOULDBLOCK:
                if state.withLock({ $0.endWhenDrained }) { return nil }
                var descriptor = pollfd(fd: fd, events: Int16(POLLIN), revents: 0)
                _ = poll(&descriptor, 1, 100)  // wake now and then to notice the flags above
            default:
                throw ChildProcessError.system("read", readError)
            }
        }
    }

    // MARK: Exit

    /// Waits for the child to exit and reaps it. Safe to call more than once.
    public func wait() async throws -> ExitStatus {
        if let status = state.withLock({ $0.exitStatus }) { return status }
        return try await waiter.run { [self] () throws(ChildProcessError) -> ExitStatus in
            if let status = state.withLock({ $0.exitStatus }) { return status }
            var raw: Int32 = 0
            while waitpid(pid, &raw, 0) < 0 {
                if errno != EINTR { throw .system("waitpid", errno) }
            }
            // WIFEXITED / WEXITSTATUS / WTERMSIG, which Swift does not import.
            let signal = raw & 0x7F
            let status: ExitStatus = signal == 0 ? .exited((raw >> 8) & 0xFF) : .signalled(signal)
            state.withLock { $0.exitStatus = status }
            return status
        }
    }

    /// The exit status, once `wait()` has reaped the child.
    public var exitStatus: ExitStatus? { state.withLock { $0.exitStatus } }

    // MARK: Signals

    /// Sends `signal` to every process in the child's group; false if none is left.
    @discardableResult
    public func signalGroup(_ signal: Int32) -> Bool {
        kill(-pid, signal) == 0
    }

    /// True while any process of the group exists (an unreaped child counts).
    public var groupExists: Bool {
        kill(-pid, 0) == 0 || errno == EPERM
    }

    /// SIGTERM to the whole group, then SIGKILL to whatever is left after `grace`, so that
    /// grandchildren die too and a process that ignores SIGTERM still goes.
    public func terminateGroup(grace: Duration = .seconds(2)) async {
        guard signalGroup(SIGTERM) else { return }
        _ = signalGroup(SIGCONT)  // a stopped process acts on SIGTERM only once continued
        let clock = ContinuousClock()
        let deadline = clock.now.advanced(by: grace)
        while clock.now < deadline {
            if !groupExists { return }
            try? await clock.sleep(for: .milliseconds(20))
        }
        signalGroup(SIGKILL)
    }
}

/// Functions glibc declares only under _GNU_SOURCE, which Swift's Glibc module does not set.
private enum GNUFunctions {
    typealias AddChdir =
        @convention(c) (UnsafeMutablePointer<posix_spawn_file_actions_t>, UnsafePointer<CChar>) -> Int32
    typealias Pipe2 = @convention(c) (UnsafeMutablePointer<Int32>, Int32) -> Int32
    typealias AddCloseFrom = @convention(c) (UnsafeMutablePointer<posix_spawn_file_actions_t>, Int32) -> Int32

    static let addChdir: AddChdir? = lookUp("posix_spawn_file_actions_addchdir_np")
    static let pipe2: Pipe2? = lookUp("pipe2")
    static let addCloseFrom: AddCloseFrom? = lookUp("posix_spawn_file_actions_addclosefrom_np")

    private static func lookUp<Function>(_ name: String) -> Function? {
        guard let handle = dlopen(nil, RTLD_NOW), let symbol = dlsym(handle, name) else { return nil }
        return unsafeBitCast(symbol, to: Function.self)
    }
}

public enum ChildProcessError: Error, Hashable, CustomStringConvertible {
    case invalidEnvironmentEntry(String)
    case invalidArgument
    case unsupported(String)
    case system(String, Int32)
    case spawnFailed(executable: String, workingDirectory: String, errno: Int32)

    public var description: String {
        switch self {
        case .invalidEnvironmentEntry(let name):
            return "environment entry \(name) is not NAME=VALUE without NUL"
        case .invalidArgument:
            return "a program argument, path or directory contains NUL"
        case .unsupported(let function):
            return "\(function) is not available on this system"
        case .system(let call, let code):
            return "\(call): \(String(cString: strerror(code)))"
        case .spawnFailed(let executable, let directory, let code):
            return "cannot start \(executable) in \(directory): \(String(cString: strerror(code)))"
        }
    }
}
