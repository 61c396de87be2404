#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif
import Foundation

/// Where config files are read from: the real file system, or files in memory for tests.
public struct ConfigFileSystem: Sendable {
    public enum ReadError: Error, Sendable, Equatable {
        case notFound
        /// Any other failure, as the OS words it (lower-case, e.g. "permission denied").
        case failed(String)

        var message: String {
            switch self {
            case .notFound: "no such file or directory"
            case .failed(let message): message
            }
        }
    }

    /// Relative paths that are not found beside the including file are looked up here.
    public var currentDirectory: String
    /// Reads the file at an absolute path.
    public var read: @Sendable (String) -> Result<[UInt8], ReadError>

    public init(currentDirectory: String, read: @escaping @Sendable (String) -> Result<[UInt8], ReadError>) {
        self.currentDirectory = currentDirectory
        self.read = read
    }

    /// The process's file system and working directory.
    public static var local: ConfigFileSystem {
        ConfigFileSystem(currentDirectory: FileManager.default.currentDirectoryPath, read: readLocalFile)
    }

    /// Files held in memory, keyed by path (relative paths are taken relative to
    /// `currentDirectory`).
    public static func inMemory(_ files: [String: String], currentDirectory: String = "/") -> ConfigFileSystem {
        var contents: [String: [UInt8]] = [:]
        for (path, text) in files {
            contents[ConfigPath.absolute(path, in: currentDirectory)] = Array(text.utf8)
        }
        let frozen = contents
        return ConfigFileSystem(currentDirectory: currentDirectory) { path in
            frozen[ConfigPath.standardize(path)].map { .success($0) } ?? .failure(.notFound)
        }
    }

    private static func readLocalFile(_ path: String) -> Result<[UInt8], ReadError> {
        let descriptor = open(path, O_RDONLY | O_CLOEXEC)
        guard descriptor >= 0 else { return .failure(failure(errno)) }
        defer { close(descriptor) }
        var contents: [UInt8] = []
        var buffer = [UInt8](repeating: 0, count: 64 * 1024)
        while true {
            let count = buffer.withUnsafeMutableBytes { systemRead(descriptor, $0.baseAddress, $0.count) }
            if count < 0 {
                if errno == EINTR { continue }
                return .failure(failure(errno))
            }
            if count == 0 { return .success(contents) }
            contents.append(contentsOf: buffer[0..<count])
        }
    }

    private static func failure(_ code: Int32) -> ReadError {
        if code == ENOENT || code == ENOTDIR { return .notFound }
        var message = String(cString: strerror(code))
        if let first = message.first { message = first.lowercased() + message.dropFirst() }
        return .failed(message)
    }
}

private func systemRead(_ descriptor: Int32, _ buffer: UnsafeMutableRawPointer?, _ count: Int) -> Int {
    #if canImport(Glibc)
    Glibc.read(descriptor, buffer, count)
    #else
    Darwin.read(descriptor, buffer, count)
    #endif
}

/// Lexical path handling (no symlinks resolved): enough to find included files and
/// to recognise the same file named two ways.
enum ConfigPath {
    static func isAbsolute(_ path: String) -> Bool { path.hasPrefix("/") }

    /// The directory part of `path` as written: "" for a bare file name.
    static func directory(of path: String) -> String {
        guard let slash = path.lastIndex(of: "/") else { return "" }
        if slash == path.startIndex { return "/" }
        return String(path[..<slash])
    }

    static func join(_ directory: String, _ name: String) -> String {
        if directory.isEmpty || isAbsolute(name) { return name }
        return directory.hasSuffix("/") ? directory + name : directory + "/" + name
    }

    static func absolute(_ path: String, in currentDirectory: String) -> String {
        standardize(isAbsolute(path) ? path : join(currentDirectory, path))
    }

    /// Removes `.`, `..` and repeated slashes from an absolute path.
    static func standardize(_ path: String) -> String {
        var parts: [Substring] = []
        for part in path.split(separator: "/", omittingEmptySubsequences: true) {
            switch part {
            case ".": continue
            case "..": if !parts.isEmpty { parts.removeLast() }
            default: parts.append(part)
            }
        }
        return "/" + parts.joined(separator: "/")
    }
}
