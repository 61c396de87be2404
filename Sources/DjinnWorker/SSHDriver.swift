#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif
import DjinnRunner
import DjinnSSH
import Foundation
import Logging
import Synchronization

/// The ssh driver (spec §5.3, intended form): builds run on a host the worker logs in to.
///
/// * Create: connect every second (1 s dial timeout) until connected or `connectTimeout`;
///   password and/or private-key login; a per-build directory from `mktemp -d` on the host
///   (mode 0700) holds the job scripts; keys go to `~/.ssh/<name>` with `~/.ssh/config`,
///   objects to their destination (relative to the login directory unless absolute), over SFTP.
/// * Execute: the job script (`JobScript`, with the build's variables exported, shell-quoted,
///   before `set -ex` — no reliance on the server's `AcceptEnv`) is uploaded over SFTP and
///   run from the login directory; output is streamed; a non-zero exit fails the job (Go
///   ignores it, §12 item 10).
/// * The script runs under a small wrapper: when the connection ends — `abort()`, a worker
///   crash, a network failure — the server closes the command's stdin, and the wrapper then
///   sends SIGTERM (after 2 s SIGKILL) to the command's process group, so nothing of the job
///   keeps running on the host. (OpenSSH runs each command in a session of its own, so the
///   group is the job's.)
/// * Artifacts: a source with glob characters is matched on the host; exactly one regular
///   file must match. The file is copied to a local temporary file for the collector.
/// * Destroy: the build directory is removed (over a fresh connection after an abort) and the
///   connection closed.
public final class SSHDriver: BuildDriver {
    public struct Configuration: Sendable, Equatable {
        /// As configured (for messages).
        public var addressText: String
        public var address: SSHAddress
        public var credentials: SSHCredentials
        public var connectTimeout: Duration
        public var retryInterval: Duration
        /// The known_hosts file the host's key must be in; nil: not checked (the qemu
        /// driver's own fresh VM on loopback).
        public var knownHostsFile: String?

        public init(
            addressText: String, address: SSHAddress, credentials: SSHCredentials, connectTimeout: Duration,
            retryInterval: Duration = .seconds(1), knownHostsFile: String? = nil
        ) {
            self.addressText = addressText
            self.address = address
            self.credentials = credentials
            self.connectTimeout = connectTimeout
            self.retryInterval = retryInterval
            self.knownHostsFile = knownHostsFile
        }
    }

    /// Runs the job script `$1` so that it ends when the connection does (see the type's
    /// comment). Interpreted by `/bin/sh` whatever the user's login shell is.
    static let wrapperScript = """
        exec 3<&0 </dev/null
        ( trap '' TERM; while read -r _ <&3; do :; done; kill -s TERM 0; sleep 2; kill -s KILL 0 ) >/dev/null 2>&1 &
        watcher=$!
        exec 3<&-
        "$1" &
        job=$!
        wait "$job"
        status=$?
        kill -s KILL "$watcher" 2>/dev/null
        exit "$status"
        """

    public let configuration: Result<Configuration, DriverError>
    /// True inside the qemu driver: it prints its own messages around the connection.
    let quiet: Bool
    private let logger: Logger
    private let state = Mutex(State())

    private struct State {
        var session: SSHSession?
        var directory: String?
        var environment: [String] = []
        var aborted = false
    }

    public init(configuration: Result<Configuration, DriverError>, logger: Logger) {
        self.configuration = configuration
        self.quiet = false
        self.logger = logger
    }

    init(configuration: Configuration, quiet: Bool, logger: Logger) {
        self.configuration = .success(configuration)
        self.quiet = quiet
        self.logger = logger
    }

    // MARK: Creating

    public func create(_ setup: DriverSetup, output: DriverOutput) async throws {
        let configuration = try configuration.get()
        if !quiet { output.write("Running with Driver ssh...\n") }
        try await connect(configuration, output: output)
        if !quiet { output.write("Established Driver connection to \(configuration.addressText)...\n\n") }
        try await prepare(setup, output: output)
    }

    /// Tries every `retryInterval` until connected, aborted or `connectTimeout` passed.
    func connect(_ configuration: Configuration, output: DriverOutput) async throws {
        let session = SSHSession(
            address: configuration.address, credentials: configuration.credentials, knownHostsFile: configuration.knownHostsFile)
        let aborted = state.withLock { state in
            state.session = session
            return state.aborted
        }
        if aborted { throw CancellationError() }
        let clock = ContinuousClock()
        let deadline = clock.now + configuration.connectTimeout
        while true {
            try Task.checkCancellation()
            if !quiet { output.write("Connecting to \(configuration.credentials.user)@\(configuration.addressText)...\n") }
            let attemptStarted = clock.now
            let remaining = attemptStarted.duration(to: deadline)
            do {
                try await withTaskCancellationHandler {
                    try await session.connect(dialTimeout: min(.seconds(1), max(remaining, .milliseconds(10))), handshakeTimeout: .seconds(15))
                } onCancel: {
                    session.abort()
                }
                return
            } catch let error as SSHError {
                switch error.kind {
                case .aborted: throw CancellationError()
                // Retrying cannot help: the host answered and said no, or is not the host
                // known_hosts knows (then nothing was sent to it).
                case .authentication, .hostKey: throw DriverError(error.description)
                default:
                    logger.debug("ssh connect attempt failed", metadata: ["address": "\(configuration.address)", "error": "\(error)"])
                }
            }
            let next = attemptStarted + configuration.retryInterval
            if next >= deadline || clock.now >= deadline {
                throw DriverError("Timed out trying to connect to \(configuration.addressText)...")
            }
            try await Task.sleep(until: next, clock: clock)
        }
    }

    /// The build directory, the environment, keys and objects (spec §4.2).
    func prepare(_ setup: DriverSetup, output: DriverOutput) async throws {
        let session = try liveSession()
        let (status, made) = try await session.run(#"mktemp -d "${TMPDIR:-/tmp}/djinn-build.XXXXXXXX""#)
        let directory = String(decoding: made, as: UTF8.self).trimmingCharacters(in: .whitespacesAndNewlines)
        guard status.succeeded, directory.hasPrefix("/") else {
            throw DriverError("cannot create the build's directory on the host: \(status) \(directory)")
        }
        state.withLock { state in
            state.directory = directory
            state.environment = setup.environment
        }

        if !setup.keys.isEmpty {
            do {
                try await session.makeDirectories(".ssh", mode: 0o700)
                var config = "\nStrictHostKeyChecking no\nUserKnownHostsFile /dev/null\n\n"
                for key in setup.keys {
                    let name = key.location.split(separator: "/").last.map(String.init) ?? key.name
                    guard SafePaths.isSingleComponent(name) else {
                        output.write("key error: invalid key name \(key.name)\n")
                        continue
                    }
                    try await session.upload(key.content, to: ".ssh/\(name)", mode: 0o600)
                    output.write("Placing key \(key.name) => ~/.ssh/\(name)\n")
                    config += key.config + "\n"
                }
                try await session.upload(Array(config.utf8), to: ".ssh/config", mode: 0o600)
            } catch {
                if error.kind == .aborted { throw CancellationError() }
                output.write("key error: \(error)\n")
            }
        }
        for object in setup.objects {
            try Task.checkCancellation()
            output.write("Placing object \(object.name) => \(object.destination)\n")
            do {
                let source = try object.file.get()
                let destination = object.destination
                let parent = (destination as NSString).deletingLastPathComponent
                if !parent.isEmpty && parent != "/" { try await session.makeDirectories(parent) }
                try await session.upload(file: source, to: destination, mode: 0o700)
            } catch let error as SSHError where error.kind == .aborted {
                throw CancellationError()
            } catch {
                output.write("object error: \(error)\n")
            }
        }
        if !setup.objects.isEmpty { output.write("\n") }
    }

    private func liveSession() throws -> SSHSession {
        let (session, aborted) = state.withLock { ($0.session, $0.aborted) }
        if aborted { throw CancellationError() }
        guard let session else { throw DriverError("the ssh driver is not connected") }
        return session
    }

    // MARK: Running jobs

    /// `JobScript` with `export NAME='value'` lines before `set -ex` (so they are not traced);
    /// entries whose name is not a shell variable name are reported instead.
    static func script(commands: [String], environment: [String]) -> (script: String, rejected: [String]) {
        let base = JobScript.render(commands: commands)
        let head = "#!/bin/sh\nexec 2>&1\n"
        var exports = ""
        var rejected: [String] = []
        for entry in environment {
            let name = entry.split(separator: "=", maxSplits: 1, omittingEmptySubsequences: false).first.map(String.init) ?? ""
            guard isVariableName(name) else {
                rejected.append(name)
                continue
            }
            exports += "export \(name)=\(ShellWords.quote(String(entry.dropFirst(name.count + 1))))\n"
        }
        guard base.hasPrefix(head) else { return (base, rejected) }
        return (head + exports + base.dropFirst(head.count), rejected)
    }

    static func isVariableName(_ name: String) -> Bool {
        guard let first = name.unicodeScalars.first, first == "_" || (first.isASCII && first.properties.isAlphabetic) else {
            return false
        }
        return name.unicodeScalars.allSatisfy { $0 == "_" || ($0.isASCII && ($0.properties.isAlphabetic || ("0"..."9").contains($0))) }
    }

    public func execute(_ job: DriverJob, output: DriverOutput) async throws -> JobOutcome {
        let session = try liveSession()
        let (directory, environment) = state.withLock { ($0.directory, $0.environment) }
        guard let directory else { throw DriverError("the ssh driver was not created") }
        let (script, rejected) = Self.script(commands: job.commands, environment: environment)
        for name in rejected { output.write("Failed to setenv \(name): not a valid variable name\n") }
        let path = directory + "/" + JobScript.fileName(jobName: job.name)
        do {
            try await session.upload(Array(script.utf8), to: path, mode: 0o700)
            let command = "/bin/sh -c \(ShellWords.quote(Self.wrapperScript)) djinn-job \(ShellWords.quote(path))"
            let status = try await withTaskCancellationHandler {
                try await session.execute(command) { chunk in output.write(chunk) }
            } onCancel: {
                session.abort()
            }
            _ = try? await session.run("rm -f \(ShellWords.quote(path))")
            // A plain non-zero exit records no error text (spec §4.3).
            return status.succeeded ? .passed : .failed(nil)
        } catch let error as SSHError where error.kind == .aborted {
            throw CancellationError()
        }
    }

    // MARK: Artifacts

    public func artifactFiles(_ source: String) async throws -> [ArtifactFile] {
        guard ShellWords.hasGlob(source) else { return [ArtifactFile(path: source, matched: false)] }
        let session = try liveSession()
        do {
            let matches = try await session.glob(source)
            guard !matches.isEmpty else { throw DriverError("no file matches \(source)") }
            return matches.map { ArtifactFile(path: $0, matched: true) }
        } catch let error as SSHError where error.kind == .aborted {
            throw CancellationError()
        }
    }

    public func openArtifact(_ path: String) async throws -> OpenFile {
        let session = try liveSession()
        do {
            // A local copy the collector reads; unlinked at once, gone when closed.
            var template = Array((FileManager.default.temporaryDirectory.path + "/djinn-artifact-XXXXXX").utf8CString)
            let fd = mkstemp(&template)
            guard fd >= 0 else { throw DriverError("cannot create a temporary file: \(String(cString: strerror(errno)))") }
            unlink(SafePaths.string(fromCString: template))
            do {
                let size = try await session.download(path, into: fd)
                guard lseek(fd, 0, SEEK_SET) == 0 else { throw DriverError("seek: \(String(cString: strerror(errno)))") }
                return OpenFile(descriptor: fd, size: size)
            } catch {
                close(fd)
                throw error
            }
        } catch let error as SSHError where error.kind == .aborted {
            throw CancellationError()
        }
    }

    // MARK: Stopping

    public func abort() async {
        let session = state.withLock { state in
            state.aborted = true
            return state.session
        }
        session?.abort()
    }

    public func destroy() async {
        let (session, directory, aborted) = state.withLock { state in
            defer {
                state.aborted = true
                state.session = nil
                state.directory = nil
            }
            return (state.session, state.directory, state.aborted)
        }
        guard let session else { return }
        // Inside the qemu driver the machine is thrown away: nothing to clean.
        if !quiet, let directory, case .success(let configuration) = configuration {
            let remove = "rm -rf \(ShellWords.quote(directory))"
            if !aborted {
                _ = try? await session.run(remove)
            } else {
                // The aborted connection is gone: a short-lived one removes the scripts (they
                // hold the build's variables).
                let cleaner = SSHSession(
                    address: configuration.address, credentials: configuration.credentials,
                    knownHostsFile: configuration.knownHostsFile)
                if (try? await cleaner.connect(dialTimeout: .seconds(2), handshakeTimeout: .seconds(5))) != nil {
                    _ = try? await cleaner.run(remove)
                }
                await cleaner.close()
            }
        }
        await session.close()
    }
}
