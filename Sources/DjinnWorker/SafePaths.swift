#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif
import Foundation

/// Paths from builds (object destinations, artifact sources) confined to a root directory.
///
/// * A path is taken relative to the root; an absolute one is mapped inside it (`/etc/x` →
///   `ROOT/etc/x`), never outside.
/// * `.` and empty components are dropped; `..` goes up one component and is refused when it
///   would leave the root. A path naming the root itself is refused.
/// * Files are created by walking the components with `openat(O_NOFOLLOW)` and creating the
///   missing directories, so a symbolic link on the way can never redirect a write.
/// * Files are read after resolving symbolic links; the resolved file must be inside the root,
///   checked again on the opened descriptor, so a link swapped in meanwhile is caught too.
enum SafePaths {
    /// The components of `path` below the root, or nil when it leaves the root or names it.
    static func components(_ path: String) -> [String]? {
        guard !path.utf8.contains(0) else { return nil }
        var result: [String] = []
        for component in path.split(separator: "/", omittingEmptySubsequences: true) {
            switch component {
            case ".":
                continue
            case "..":
                guard !result.isEmpty else { return nil }
                result.removeLast()
            default:
                result.append(String(component))
            }
        }
        return result.isEmpty ? nil : result
    }

    /// Creates (or truncates) the regular file at `components` below `root`, creating missing
    /// directories (mode 0755); returns a descriptor open for writing.
    static func createFile(root: String, components: [String], mode: mode_t = 0o644) throws(SafePathError) -> Int32 {
        guard let last = components.last else { throw .outside(components.joined(separator: "/")) }
        var directory = open(root, O_RDONLY | O_DIRECTORY | O_CLOEXEC)
        guard directory >= 0 else { throw .system("open \(root)", errno) }
        defer { close(directory) }
        for component in components.dropLast() {
            var next = openat(directory, component, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC)
            if next < 0 && errno == ENOENT {
                if mkdirat(directory, component, 0o755) != 0 && errno != EEXIST {
                    throw .system("mkdir \(component)", errno)
                }
                next = openat(directory, component, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC)
            }
            guard next >= 0 else {
                let code = errno
                throw code == ELOOP || code == ENOTDIR ? .notADirectory(component) : .system("open \(component)", code)
            }
            close(directory)
            directory = next
        }
        let fd = openat(directory, last, O_WRONLY | O_CREAT | O_TRUNC | O_NOFOLLOW | O_CLOEXEC, mode)
        guard fd >= 0 else {
            let code = errno
            throw code == ELOOP ? .symbolicLink(last) : .system("open \(last)", code)
        }
        // O_CREAT honours the umask; the mode asked for is what the file gets.
        _ = fchmod(fd, mode)
        return fd
    }

    /// Opens the regular file `path` (relative to `root`, symbolic links resolved) for reading,
    /// refusing anything that resolves outside `root`. Returns the descriptor and its size.
    static func openForReading(root: String, path: String) throws(SafePathError) -> (fd: Int32, size: Int64) {
        guard let components = components(path) else { throw .outside(path) }
        guard let realRoot = realPath(root) else { throw .system("resolve \(root)", errno) }
        let candidate = root + "/" + components.joined(separator: "/")
        guard let resolved = realPath(candidate) else {
            let code = errno
            throw code == ENOENT ? .missing(path) : .system("resolve \(path)", code)
        }
        guard isInside(resolved, root: realRoot) else { throw .outside(path) }
        let fd = open(resolved, O_RDONLY | O_NOFOLLOW | O_CLOEXEC | O_NONBLOCK)
        guard fd >= 0 else { throw .system("open \(path)", errno) }
        var info = stat()
        guard fstat(fd, &info) == 0 else {
            let code = errno
            close(fd)
            throw .system("stat \(path)", code)
        }
        guard (info.st_mode & S_IFMT) == S_IFREG else {
            close(fd)
            throw .notARegularFile(path)
        }
        // What was opened, not what the path named a moment ago.
        if let opened = try? FileManager.default.destinationOfSymbolicLink(atPath: "/proc/self/fd/\(fd)"),
            !isInside(opened, root: realRoot)
        {
            close(fd)
            throw .outside(path)
        }
        _ = fcntl(fd, F_SETFL, fcntl(fd, F_GETFL) & ~O_NONBLOCK)
        return (fd, Int64(info.st_size))
    }

    static func isInside(_ path: String, root: String) -> Bool {
        path.hasPrefix(root.hasSuffix("/") ? root : root + "/")
    }

    static func realPath(_ path: String) -> String? {
        guard let resolved = realpath(path, nil) else { return nil }
        defer { free(resolved) }
        return String(cString: resolved)
    }

    /// Writes the first `count` bytes (all by default) of `bytes` to `fd`.
    static func writeAll(_ fd: Int32, _ bytes: [UInt8], count: Int? = nil) throws(SafePathError) {
        let total = min(count ?? bytes.count, bytes.count)
        var offset = 0
        while offset < total {
            let written = bytes.withUnsafeBytes { write(fd, $0.baseAddress! + offset, total - offset) }
            if written < 0 {
                if errno == EINTR { continue }
                throw .system("write", errno)
            }
            offset += written
        }
    }

    /// A C string buffer (as `mkdtemp` fills it) as a String.
    static func string(fromCString buffer: [CChar]) -> String {
        String(decoding: buffer.prefix { $0 != 0 }.map { UInt8(bitPattern: $0) }, as: UTF8.self)
    }

    /// True when `name` can be used as one file name in a store (`hash` columns).
    static func isSingleComponent(_ name: String) -> Bool {
        !name.isEmpty && name != "." && name != ".." && !name.contains("/") && !name.utf8.contains(0)
    }
}

enum SafePathError: Error, Equatable, CustomStringConvertible {
    case outside(String)
    case missing(String)
    case notADirectory(String)
    case symbolicLink(String)
    case notARegularFile(String)
    case system(String, Int32)

    var description: String {
        switch self {
        case .outside(let path): return "\(path) is outside the build directory"
        case .missing(let path): return "\(path): no such file or directory"
        case .notADirectory(let name): return "\(name) is not a directory (or is a symbolic link)"
        case .symbolicLink(let name): return "\(name) is a symbolic link"
        case .notARegularFile(let path): return "\(path) is not a regular file"
        case .system(let what, let code): return "\(what): \(String(cString: strerror(code)))"
        }
    }
}
