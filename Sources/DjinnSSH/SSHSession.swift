#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif
import BlockingIO
import CLibSSH2
import Synchronization

/// How to log in. `privateKeyFile` is tried first when set, then `password` when set; an
/// empty password is a valid one (qemu images log in as root with none).
public struct SSHCredentials: Sendable, Equatable, CustomStringConvertible {
    public var user: String
    public var password: String?
    public var privateKeyFile: String?
    public var passphrase: String?

    public init(user: String, password: String? = nil, privateKeyFile: String? = nil, passphrase: String? = nil) {
        self.user = user
        self.password = password
        self.privateKeyFile = privateKeyFile
        self.passphrase = passphrase
    }

    /// Never shows the password or passphrase.
    public var description: String {
        var methods: [String] = []
        if let privateKeyFile { methods.append("key \(privateKeyFile)") }
        if password != nil { methods.append("password") }
        return "\(user) (\(methods.isEmpty ? "no authentication" : methods.joined(separator: ", ")))"
    }
}

/// What went wrong, as text fit for a build's output (never a password).
public struct SSHError: Error, Equatable, CustomStringConvertible {
    public enum Kind: Sendable, Equatable {
        /// No TCP connection (refused, unreachable, dial timeout, name not found).
        case connect
        /// The SSH handshake or the session broke (includes `abort()`).
        case session
        /// The server refused the credentials.
        case authentication
        /// The server's host key is not the one the known_hosts file gives for it, or the
        /// file cannot be used. Nothing was sent to the server.
        case hostKey
        case sftp
        case channel
        case aborted
    }

    public var kind: Kind
    public var description: String

    public init(_ kind: Kind, _ description: String) {
        self.kind = kind
        self.description = description
    }
}

/// How a remote command ended.
public enum SSHExitStatus: Sendable, Equatable, CustomStringConvertible {
    case exited(Int32)
    /// Killed by this signal (`TERM`, `KILL` …, as the server names it).
    case signalled(String)

    public var succeeded: Bool { self == .exited(0) }

    public var description: String {
        switch self {
        case .exited(let code): return "exit status \(code)"
        case .signalled(let name): return "signal: \(name)"
        }
    }
}

/// One SSH connection on libssh2: password or key login, commands on exec channels with
/// their output streamed, and SFTP.
///
/// Every libssh2 call for the connection runs on its own `BlockingThread`, one at a time,
/// in blocking mode. `abort()` may be called from any thread: it shuts the socket down, so
/// a call blocked on the network (a silent job, a stalled transfer) fails at once, and the
/// server, seeing the connection gone, ends the session's commands. After an abort the
/// session is unusable; `close()` frees it.
public final class SSHSession: Sendable {
    public let address: SSHAddress
    public let credentials: SSHCredentials
    /// An OpenSSH known_hosts file the server's host key must be in, checked before any
    /// authentication; nil: not checked.
    public let knownHostsFile: String?
    private let thread: BlockingThread
    /// Touched on `thread` only (the C handles).
    private let handles: Handles
    /// The socket, for `abort()` from other threads; -1 when there is none.
    private let socketDescriptor = Mutex<Int32>(-1)
    private let aborted = Atomic<Bool>(false)

    private final class Handles: @unchecked Sendable {
        var session: OpaquePointer?
        var sftp: OpaquePointer?
        var socket: Int32 = -1
    }

    private static let libraryReady: Bool = libssh2_init(0) == 0

    public init(address: SSHAddress, credentials: SSHCredentials, knownHostsFile: String? = nil) {
        self.address = address
        self.credentials = credentials
        self.knownHostsFile = knownHostsFile
        self.thread = BlockingThread(name: "ssh-\(address)")
        self.handles = Handles()
    }

    deinit {
        let handles = self.handles
        thread.submit { Self.release(handles) }
        thread.shutdown()
    }

    public var isAborted: Bool { aborted.load(ordering: .relaxed) }

    // MARK: Connecting

    /// One attempt: TCP connect within `dialTimeout`, SSH handshake and login within
    /// `handshakeTimeout`. With `knownHostsFile` the server's host key must be in it (else a
    /// `.hostKey` error, before any password or key is offered); without, it is not verified
    /// (as Djinn). A failed attempt leaves the session ready for another.
    public func connect(dialTimeout: Duration = .seconds(1), handshakeTimeout: Duration = .seconds(10)) async throws(SSHError) {
        let address = self.address
        let credentials = self.credentials
        let knownHostsFile = self.knownHostsFile
        let handles = self.handles
        do {
            try await thread.run { () throws in
                guard Self.libraryReady else { throw SSHError(.session, "libssh2 could not be initialised") }
                Self.release(handles)
                if self.isAborted { throw SSHError(.aborted, "aborted") }
                let fd = try Self.dial(address, timeout: dialTimeout)
                handles.socket = fd
                self.socketDescriptor.withLock { $0 = fd }
                // An abort between dial and here must still reach this socket.
                if self.isAborted { shutdown(fd, Int32(SHUT_RDWR)) }
                do {
                    try Self.startSession(
                        handles, fd: fd, address: address, credentials: credentials, knownHostsFile: knownHostsFile,
                        timeout: handshakeTimeout)
                } catch {
                    Self.release(handles)
                    self.socketDescriptor.withLock { $0 = -1 }
                    throw error
                }
            }
        } catch let error as SSHError {
            throw isAborted ? SSHError(.aborted, "aborted") : error
        } catch {
            throw SSHError(.session, "\(error)")
        }
    }

    private static func dial(_ address: SSHAddress, timeout: Duration) throws(SSHError) -> Int32 {
        var hints = addrinfo()
        hints.ai_family = AF_UNSPEC
        #if canImport(Glibc)
        hints.ai_socktype = Int32(SOCK_STREAM.rawValue)
        #else
        hints.ai_socktype = SOCK_STREAM
        #endif
        var list: UnsafeMutablePointer<addrinfo>?
        let status = getaddrinfo(address.host, String(address.port), &hints, &list)
        guard status == 0, let first = list else {
            throw SSHError(.connect, "dial tcp \(address): \(String(cString: gai_strerror(status)))")
        }
        defer { freeaddrinfo(list) }
        var lastError = "no address"
        var entry: UnsafeMutablePointer<addrinfo>? = first
        while let info = entry {
            entry = info.pointee.ai_next
            let fd = socket(info.pointee.ai_family, info.pointee.ai_socktype | Int32(SOCK_CLOEXEC.rawValue), info.pointee.ai_protocol)
            guard fd >= 0 else {
                lastError = String(cString: strerror(errno))
                continue
            }
            let flags = fcntl(fd, F_GETFL)
            _ = fcntl(fd, F_SETFL, flags | O_NONBLOCK)
            var result = Glibc.connect(fd, info.pointee.ai_addr, info.pointee.ai_addrlen)
            if result != 0 && errno == EINPROGRESS {
                var poller = pollfd(fd: fd, events: Int16(POLLOUT), revents: 0)
                let milliseconds = Int32(clamping: timeout.components.seconds * 1000 + timeout.components.attoseconds / 1_000_000_000_000_000)
                let ready = poll(&poller, 1, max(1, milliseconds))
                if ready == 1 {
                    var socketError: Int32 = 0
                    var length = socklen_t(MemoryLayout<Int32>.size)
                    getsockopt(fd, SOL_SOCKET, SO_ERROR, &socketError, &length)
                    result = socketError == 0 ? 0 : -1
                    errno = socketError
                } else {
                    result = -1
                    errno = ready == 0 ? ETIMEDOUT : errno
                }
            }
            if result == 0 {
                _ = fcntl(fd, F_SETFL, flags)
                var one: Int32 = 1
                setsockopt(fd, Int32(IPPROTO_TCP), TCP_NODELAY, &one, socklen_t(MemoryLayout<Int32>.size))
                return fd
            }
            lastError = errno == ETIMEDOUT ? "i/o timeout" : String(cString: strerror(errno))
            Glibc.close(fd)
        }
        throw SSHError(.connect, "dial tcp \(address): \(lastError)")
    }

    private static func startSession(
        _ handles: Handles, fd: Int32, address: SSHAddress, credentials: SSHCredentials, knownHostsFile: String?,
        timeout: Duration
    ) throws(SSHError) {
        guard let session = libssh2_session_init_ex(nil, nil, nil, nil) else {
            throw SSHError(.session, "cannot create an ssh session")
        }
        handles.session = session
        libssh2_session_set_blocking(session, 1)
        let milliseconds = timeout.components.seconds * 1000 + timeout.components.attoseconds / 1_000_000_000_000_000
        libssh2_session_set_timeout(session, Int(max(1, milliseconds)))
        let knownHosts = try knownHostsFile.map { path throws(SSHError) in
            try prepareHostKeyCheck(session, address: address, path: path)
        }
        guard libssh2_session_handshake(session, fd) == 0 else {
            throw SSHError(.session, "ssh handshake: \(lastError(session))")
        }
        if let knownHosts {
            try verifyHostKey(session, address: address, knownHosts: knownHosts)
        }
        try authenticate(session, credentials)
        // From here on calls may legitimately wait for long (a job printing nothing): only
        // `abort()` ends a wait.
        libssh2_session_set_timeout(session, 0)
    }

    private static func authenticate(_ session: OpaquePointer, _ credentials: SSHCredentials) throws(SSHError) {
        let user = credentials.user
        let userLength = UInt32(user.utf8.count)
        var failures: [String] = []
        if let keyFile = credentials.privateKeyFile {
            let result = libssh2_userauth_publickey_fromfile_ex(
                session, user, userLength, nil, keyFile, credentials.passphrase)
            if result == 0 { return }
            failures.append("key \(keyFile): \(lastError(session))")
            if result != LIBSSH2_ERROR_AUTHENTICATION_FAILED && result != LIBSSH2_ERROR_PUBLICKEY_UNVERIFIED
                && result != LIBSSH2_ERROR_FILE
            {
                throw SSHError(.session, "ssh: \(failures.joined(separator: "; "))")
            }
        }
        if let password = credentials.password {
            let result = libssh2_userauth_password_ex(session, user, userLength, password, UInt32(password.utf8.count), nil)
            if result == 0 { return }
            // libssh2's message never holds the password.
            failures.append("password: \(lastError(session))")
            if result != LIBSSH2_ERROR_AUTHENTICATION_FAILED && result != LIBSSH2_ERROR_PASSWORD_EXPIRED {
                throw SSHError(.session, "ssh: \(failures.joined(separator: "; "))")
            }
        }
        if failures.isEmpty { failures.append("no password or key configured") }
        throw SSHError(.authentication, "ssh: unable to authenticate as \(user): \(failures.joined(separator: "; "))")
    }

    static func lastError(_ session: OpaquePointer?) -> String {
        guard let session else { return "no session" }
        var message: UnsafeMutablePointer<CChar>?
        var length: Int32 = 0
        let code = libssh2_session_last_error(session, &message, &length, 0)
        if let message, length > 0 { return String(cString: message) }
        return "libssh2 error \(code)"
    }

    /// Frees everything (on `thread`).
    private static func release(_ handles: Handles) {
        if let sftp = handles.sftp {
            libssh2_sftp_shutdown(sftp)
            handles.sftp = nil
        }
        if let session = handles.session {
            libssh2_session_set_timeout(session, 1000)
            libssh2_session_disconnect_ex(session, SSH_DISCONNECT_BY_APPLICATION, "closing", "")
            libssh2_session_free(session)
            handles.session = nil
        }
        if handles.socket >= 0 {
            Glibc.close(handles.socket)
            handles.socket = -1
        }
    }

    // MARK: Stopping

    /// Makes every current and later call fail promptly (from any thread). The server sees
    /// the connection drop and ends the session's commands.
    public func abort() {
        aborted.store(true, ordering: .relaxed)
        socketDescriptor.withLock { fd in
            if fd >= 0 { shutdown(fd, Int32(SHUT_RDWR)) }
        }
    }

    /// Disconnects and frees the connection; the session can connect again afterwards
    /// unless it was aborted.
    public func close() async {
        let handles = self.handles
        socketDescriptor.withLock { $0 = -1 }
        _ = try? await thread.run { Self.release(handles) }
    }

    // MARK: Commands

    /// Runs `command` on an exec channel (the server runs it with the user's login shell),
    /// passing its output (stdout and stderr merged, in arrival order) to `output` as it
    /// comes, on the session's thread. Returns once the command ended and its output is
    /// all read.
    public func execute(_ command: String, output: @escaping @Sendable ([UInt8]) -> Void) async throws(SSHError) -> SSHExitStatus {
        let handles = self.handles
        return try await onThread { () throws(SSHError) -> SSHExitStatus in
            let session = try self.liveSession(handles)
            guard let channel = libssh2_channel_open_ex(
                session, "session", 7, djinn_ssh2_channel_window_default, djinn_ssh2_channel_packet_default, nil, 0)
            else {
                throw self.failure(.channel, "open channel", session)
            }
            defer { libssh2_channel_free(channel) }
            _ = libssh2_channel_handle_extended_data2(channel, LIBSSH2_CHANNEL_EXTENDED_DATA_MERGE)
            guard libssh2_channel_process_startup(channel, "exec", 4, command, UInt32(command.utf8.count)) == 0 else {
                throw self.failure(.channel, "start command", session)
            }
            var buffer = [UInt8](repeating: 0, count: 32 * 1024)
            while true {
                let count = buffer.withUnsafeMutableBytes { bytes in
                    libssh2_channel_read_ex(channel, 0, bytes.baseAddress!.assumingMemoryBound(to: CChar.self), bytes.count)
                }
                if count > 0 {
                    output(Array(buffer[0..<count]))
                    continue
                }
                if count == 0 { break }
                throw self.failure(.channel, "read output", session)
            }
            _ = libssh2_channel_close(channel)
            _ = libssh2_channel_wait_closed(channel)
            if let signal = Self.exitSignal(channel) { return .signalled(signal) }
            return .exited(libssh2_channel_get_exit_status(channel))
        }
    }

    /// The signal the server reported for the command, if it was killed by one.
    private static func exitSignal(_ channel: OpaquePointer) -> String? {
        var signal: UnsafeMutablePointer<CChar>?
        var length = 0
        guard libssh2_channel_get_exit_signal(channel, &signal, &length, nil, nil, nil, nil) == 0, let signal else { return nil }
        defer { free(signal) }
        return String(cString: signal)
    }

    /// Runs `command` and returns its output (for short helper commands).
    public func run(_ command: String) async throws(SSHError) -> (status: SSHExitStatus, output: [UInt8]) {
        let collected = Mutex<[UInt8]>([])
        let status = try await execute(command) { chunk in collected.withLock { $0 += chunk } }
        return (status, collected.withLock { $0 })
    }

    // MARK: SFTP

    /// Writes `bytes` to the remote file `path` (created or truncated) and sets its mode.
    public func upload(_ bytes: [UInt8], to path: String, mode: Int32 = 0o644) async throws(SSHError) {
        try await write(to: path, mode: mode) { chunk in
            let start = chunk
            guard start < bytes.count else { return nil }
            return Array(bytes[start..<min(bytes.count, start + 32 * 1024)])
        }
    }

    /// Copies the local file `localPath` to the remote `path` and sets its mode.
    public func upload(file localPath: String, to path: String, mode: Int32 = 0o644) async throws(SSHError) {
        let fd = open(localPath, O_RDONLY | O_CLOEXEC)
        guard fd >= 0 else { throw SSHError(.sftp, "open \(localPath): \(String(cString: strerror(errno)))") }
        defer { Glibc.close(fd) }
        let readError = Mutex<Int32>(0)
        try await write(to: path, mode: mode) { _ in
            var buffer = [UInt8](repeating: 0, count: 64 * 1024)
            while true {
                let count = buffer.withUnsafeMutableBytes { Glibc.read(fd, $0.baseAddress, $0.count) }
                if count < 0 && errno == EINTR { continue }
                if count < 0 { readError.withLock { $0 = errno } }
                return count > 0 ? Array(buffer[0..<count]) : nil
            }
        }
        let failed = readError.withLock { $0 }
        if failed != 0 { throw SSHError(.sftp, "read \(localPath): \(String(cString: strerror(failed)))") }
    }

    /// `next(offset)` gives the next chunk or nil at the end.
    private func write(to path: String, mode: Int32, next: @escaping @Sendable (Int) -> [UInt8]?) async throws(SSHError) {
        let handles = self.handles
        try await onThread { () throws(SSHError) in
            let (session, sftp) = try self.liveSFTP(handles)
            let flags = UInt(LIBSSH2_FXF_WRITE | LIBSSH2_FXF_CREAT | LIBSSH2_FXF_TRUNC)
            guard let file = libssh2_sftp_open_ex(sftp, path, UInt32(path.utf8.count), flags, Int(mode), LIBSSH2_SFTP_OPENFILE) else {
                throw self.sftpFailure("create \(path)", session, sftp)
            }
            defer { libssh2_sftp_close_handle(file) }
            var offset = 0
            while let chunk = next(offset) {
                var written = 0
                while written < chunk.count {
                    let count = chunk[written...].withUnsafeBytes { bytes in
                        libssh2_sftp_write(file, bytes.baseAddress!.assumingMemoryBound(to: CChar.self), bytes.count)
                    }
                    guard count > 0 else { throw self.sftpFailure("write \(path)", session, sftp) }
                    written += count
                }
                offset += chunk.count
            }
            var attributes = LIBSSH2_SFTP_ATTRIBUTES()
            attributes.flags = UInt(LIBSSH2_SFTP_ATTR_PERMISSIONS)
            attributes.permissions = UInt(mode)
            guard libssh2_sftp_fstat_ex(file, &attributes, 1) == 0 else {
                throw self.sftpFailure("chmod \(path)", session, sftp)
            }
        }
    }

    /// Copies the remote file `path` into the local descriptor `fd` (at its offset);
    /// returns the bytes copied.
    public func download(_ path: String, into fd: Int32) async throws(SSHError) -> Int64 {
        let handles = self.handles
        return try await onThread { () throws(SSHError) -> Int64 in
            let (session, sftp) = try self.liveSFTP(handles)
            guard let file = libssh2_sftp_open_ex(sftp, path, UInt32(path.utf8.count), UInt(LIBSSH2_FXF_READ), 0, LIBSSH2_SFTP_OPENFILE)
            else {
                throw self.sftpFailure("open \(path)", session, sftp)
            }
            defer { libssh2_sftp_close_handle(file) }
            var buffer = [UInt8](repeating: 0, count: 64 * 1024)
            var total: Int64 = 0
            while true {
                let count = buffer.withUnsafeMutableBytes { bytes in
                    libssh2_sftp_read(file, bytes.baseAddress!.assumingMemoryBound(to: CChar.self), bytes.count)
                }
                if count == 0 { return total }
                guard count > 0 else { throw self.sftpFailure("read \(path)", session, sftp) }
                var written = 0
                while written < count {
                    let result = buffer[written..<count].withUnsafeBytes { Glibc.write(fd, $0.baseAddress, $0.count) }
                    if result < 0 && errno == EINTR { continue }
                    guard result > 0 else { throw SSHError(.sftp, "write local copy of \(path): \(String(cString: strerror(errno)))") }
                    written += result
                }
                total += Int64(count)
            }
        }
    }

    /// Creates the remote directory `path` and any missing parents (an existing one is fine).
    public func makeDirectories(_ path: String, mode: Int32 = 0o755) async throws(SSHError) {
        let handles = self.handles
        try await onThread { () throws(SSHError) in
            let (session, sftp) = try self.liveSFTP(handles)
            var prefix = path.hasPrefix("/") ? "" : "."
            for component in path.split(separator: "/") where component != "." {
                prefix += "/" + component
                if prefix == "./.." || component == ".." { continue }
                if libssh2_sftp_mkdir_ex(sftp, prefix, UInt32(prefix.utf8.count), Int(mode)) == 0 { continue }
                // Already there (or not ours to create): fine if it is a directory.
                var attributes = LIBSSH2_SFTP_ATTRIBUTES()
                guard libssh2_sftp_stat_ex(sftp, prefix, UInt32(prefix.utf8.count), LIBSSH2_SFTP_STAT, &attributes) == 0,
                    attributes.permissions & UInt(LIBSSH2_SFTP_S_IFMT) == UInt(LIBSSH2_SFTP_S_IFDIR)
                else {
                    throw self.sftpFailure("mkdir \(prefix)", session, sftp)
                }
            }
        }
    }

    /// Sets the mode of the remote `path`.
    public func changeMode(_ path: String, mode: Int32) async throws(SSHError) {
        let handles = self.handles
        try await onThread { () throws(SSHError) in
            let (session, sftp) = try self.liveSFTP(handles)
            var attributes = LIBSSH2_SFTP_ATTRIBUTES()
            attributes.flags = UInt(LIBSSH2_SFTP_ATTR_PERMISSIONS)
            attributes.permissions = UInt(mode)
            guard libssh2_sftp_stat_ex(sftp, path, UInt32(path.utf8.count), LIBSSH2_SFTP_SETSTAT, &attributes) == 0 else {
                throw self.sftpFailure("chmod \(path)", session, sftp)
            }
        }
    }

    /// The regular files matching the shell glob `pattern` on the remote side (relative
    /// patterns from the login directory), sorted as the shell sorts them.
    public func glob(_ pattern: String) async throws(SSHError) -> [String] {
        let command = "for f in \(ShellWords.glob(pattern)); do [ -f \"$f\" ] && printf '%s\\0' \"$f\"; done; exit 0"
        let (status, output) = try await run(command)
        guard status.succeeded else { throw SSHError(.channel, "glob \(pattern): \(status)") }
        return output.split(separator: 0).map { String(decoding: $0, as: UTF8.self) }
    }

    // MARK: Helpers (on `thread`)

    private func onThread<T: Sendable>(_ body: @escaping @Sendable () throws(SSHError) -> T) async throws(SSHError) -> T {
        if isAborted { throw SSHError(.aborted, "aborted") }
        do {
            return try await thread.run { () throws -> T in try body() }
        } catch let error as SSHError {
            throw isAborted ? SSHError(.aborted, "aborted") : error
        } catch {
            throw SSHError(.session, "\(error)")
        }
    }

    private func liveSession(_ handles: Handles) throws(SSHError) -> OpaquePointer {
        guard let session = handles.session else { throw SSHError(.session, "not connected") }
        return session
    }

    private func liveSFTP(_ handles: Handles) throws(SSHError) -> (OpaquePointer, OpaquePointer) {
        let session = try liveSession(handles)
        if let sftp = handles.sftp { return (session, sftp) }
        guard let sftp = libssh2_sftp_init(session) else {
            // What Go prints when the server has no sftp subsystem (spec §5.3).
            throw SSHError(.sftp, "EOF: make sure Subsystem in sshd_config on the image is configured correctly (\(Self.lastError(session)))")
        }
        handles.sftp = sftp
        return (session, sftp)
    }

    private func failure(_ kind: SSHError.Kind, _ what: String, _ session: OpaquePointer) -> SSHError {
        if isAborted { return SSHError(.aborted, "aborted") }
        return SSHError(kind, "\(what): \(Self.lastError(session))")
    }

    private func sftpFailure(_ what: String, _ session: OpaquePointer, _ sftp: OpaquePointer) -> SSHError {
        if isAborted { return SSHError(.aborted, "aborted") }
        let code = libssh2_sftp_last_error(sftp)
        if libssh2_session_last_errno(session) == LIBSSH2_ERROR_SFTP_PROTOCOL {
            return SSHError(.sftp, "\(what): \(Self.sftpStatusText(code))")
        }
        return SSHError(.sftp, "\(what): \(Self.lastError(session))")
    }

    static func sftpStatusText(_ code: UInt) -> String {
        switch code {
        case LIBSSH2_FX_NO_SUCH_FILE, LIBSSH2_FX_NO_SUCH_PATH: return "file does not exist"
        case LIBSSH2_FX_PERMISSION_DENIED: return "permission denied"
        case LIBSSH2_FX_FILE_ALREADY_EXISTS: return "file already exists"
        case LIBSSH2_FX_NO_SPACE_ON_FILESYSTEM, LIBSSH2_FX_QUOTA_EXCEEDED: return "no space left"
        case LIBSSH2_FX_FAILURE: return "failure"
        default: return "sftp status \(code)"
        }
    }
}
