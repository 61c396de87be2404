#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// The daemon's pidfile: decimal PID, no newline, mode 0644 (as Go Djinn writes it).
///
/// Unlike Go, a daemon refuses to start over the pidfile of a live process, and the
/// file is removed on every exit path once written (`DaemonMain` owns that).
public struct Pidfile: Sendable {
    public let path: String

    public init(path: String) { self.path = path }

    public enum Failure: Error, CustomStringConvertible, Equatable {
        case running(path: String, pid: Int32)
        case write(path: String, reason: String)
        case remove(path: String, reason: String)

        public var description: String {
            switch self {
            case .running(let path, let pid): return "pidfile \(path): process \(pid) is still running"
            case .write(let path, let reason): return "pidfile \(path): \(reason)"
            case .remove(let path, let reason): return "failed to remove pidfile \(path): \(reason)"
            }
        }
    }

    /// Writes this process's PID. A stale file (its process gone) is overwritten.
    public func write(pid: Int32 = getpid()) throws(Failure) {
        if let existing = Self.readPID(path: path), existing != pid, Self.isAlive(existing) {
            throw .running(path: path, pid: existing)
        }
        let fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0o644)
        guard fd >= 0 else { throw .write(path: path, reason: errnoText()) }
        defer { close(fd) }
        let text = Array(String(pid).utf8)
        let written = text.withUnsafeBytes { Glibc.write(fd, $0.baseAddress, $0.count) }
        guard written == text.count else { throw .write(path: path, reason: errnoText()) }
    }

    /// Removes the file; a file already gone is not an error.
    public func remove() throws(Failure) {
        if unlink(path) != 0 && errno != ENOENT { throw .remove(path: path, reason: errnoText()) }
    }

    static func readPID(path: String) -> Int32? {
        let fd = open(path, O_RDONLY | O_CLOEXEC)
        guard fd >= 0 else { return nil }
        defer { close(fd) }
        var buffer = [UInt8](repeating: 0, count: 32)
        let n = buffer.withUnsafeMutableBytes { read(fd, $0.baseAddress, $0.count) }
        guard n > 0 else { return nil }
        let text = String(decoding: buffer[0..<n], as: UTF8.self).trimmingWhitespace()
        return Int32(text)
    }

    static func isAlive(_ pid: Int32) -> Bool {
        pid > 0 && (kill(pid, 0) == 0 || errno == EPERM)
    }
}

func errnoText(_ code: Int32 = errno) -> String {
    String(cString: strerror(code))
}

extension String {
    func trimmingWhitespace() -> String {
        var s = Substring(self)
        while let c = s.first, c.isWhitespace { s.removeFirst() }
        while let c = s.last, c.isWhitespace { s.removeLast() }
        return String(s)
    }
}
