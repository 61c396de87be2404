import Logging
import Synchronization
#if canImport(Glibc)
import Glibc
#endif

/// Where log lines go: standard output or a file opened for append (created 0640).
///
/// Each line is one `write(2)`, so lines from concurrent tasks never interleave. The
/// file can be reopened (SIGHUP after logrotate) without losing lines.
public final class LogDestination: Sendable {
    public let path: String
    private let fd: Mutex<Int32>

    public static let standardOutput = LogDestination(path: "/dev/stdout", fd: 1)

    private init(path: String, fd: Int32) {
        self.path = path
        self.fd = Mutex(fd)
    }

    public enum Failure: Error, CustomStringConvertible {
        case open(path: String, reason: String)
        public var description: String {
            switch self { case .open(let path, let reason): return "open \(path): \(reason)" }
        }
    }

    /// `/dev/stdout` (or an empty path) means standard output, as in Go Djinn.
    public static func open(path: String) throws(Failure) -> LogDestination {
        if path.isEmpty || path == "/dev/stdout" { return .standardOutput }
        return LogDestination(path: path, fd: try openFile(path))
    }

    private static func openFile(_ path: String) throws(Failure) -> Int32 {
        let fd = Glibc.open(path, O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC, 0o640)
        guard fd >= 0 else { throw .open(path: path, reason: errnoText()) }
        return fd
    }

    /// Reopens the file at the same path (after it was rotated away).
    public func reopen() throws(Failure) {
        guard path != "/dev/stdout" else { return }
        let fresh = try Self.openFile(path)
        let old = fd.withLock { current in
            let old = current
            current = fresh
            return old
        }
        Glibc.close(old)
    }

    public func write(_ line: String) {
        var bytes = Array(line.utf8)
        bytes.append(0x0A)
        fd.withLock { fd in
            bytes.withUnsafeBytes { raw in
                var offset = 0
                while offset < raw.count {
                    let n = Glibc.write(fd, raw.baseAddress! + offset, raw.count - offset)
                    if n < 0 { if errno == EINTR { continue } else { return } }
                    offset += n
                }
            }
        }
    }

    public func close() {
        fd.withLock { fd in
            if fd > 2 { Glibc.close(fd) }
            fd = -1
        }
    }
}

/// swift-log handler printing Go Djinn's line format:
/// `YYYY/MM/DD HH:MM:SS LEVEL message key=value…` (UTC).
///
/// Go prints WARN lines whatever the level; this handler filters every level the same.
public struct DjinnLogHandler: LogHandler {
    public var logLevel: Logger.Level
    public var metadata: Logger.Metadata = [:]
    public var metadataProvider: Logger.MetadataProvider?
    private let label: String
    private let destination: LogDestination

    public init(label: String, destination: LogDestination, level: Logger.Level) {
        self.label = label
        self.destination = destination
        self.logLevel = level
    }

    public subscript(metadataKey key: String) -> Logger.Metadata.Value? {
        get { metadata[key] }
        set { metadata[key] = newValue }
    }

    public func log(event: LogEvent) {
        var merged = metadata
        if let provided = metadataProvider?.get() { merged.merge(provided) { $1 } }
        if let extra = event.metadata { merged.merge(extra) { $1 } }
        destination.write(Self.format(level: event.level, message: event.message.description, metadata: merged, at: time(nil)))
    }

    // Kept for swift-log versions whose LogHandler requirement is the older overload.
    public func log(level: Logger.Level, message: Logger.Message, metadata: Logger.Metadata?,
                    source: String, file: String, function: String, line: UInt) {
        log(event: LogEvent(level: level, message: message, metadata: metadata, source: source,
                            file: file, function: function, line: line))
    }

    /// Djinn's level names: DEBUG, INFO, WARN, ERROR.
    static func levelName(_ level: Logger.Level) -> String {
        switch level {
        case .trace, .debug: return "DEBUG"
        case .info, .notice: return "INFO"
        case .warning: return "WARN"
        case .error, .critical: return "ERROR"
        }
    }

    static func format(level: Logger.Level, message: String, metadata: Logger.Metadata, at seconds: time_t) -> String {
        var t = seconds
        var parts = tm()
        gmtime_r(&t, &parts)
        func pad(_ v: Int32, _ width: Int = 2) -> String {
            let s = String(v)
            return s.count >= width ? s : String(repeating: "0", count: width - s.count) + s
        }
        var line = "\(pad(parts.tm_year + 1900, 4))/\(pad(parts.tm_mon + 1))/\(pad(parts.tm_mday)) "
            + "\(pad(parts.tm_hour)):\(pad(parts.tm_min)):\(pad(parts.tm_sec)) \(levelName(level)) \(message)"
        for key in metadata.keys.sorted() {
            line += " \(key)=\(metadata[key]!)"
        }
        return line
    }
}
