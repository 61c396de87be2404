import Synchronization

/// Where a build's disk image is (spec §5.4): the user's (or namespace's) own image from the
/// `images` table, else a base image of the disks directory.
public enum QEMUImages {
    public enum PathError: Error, Equatable, CustomStringConvertible {
        case empty
        /// `..` would leave the images directory.
        case parentReference(String)
        case invalidHash(String)

        public var description: String {
            switch self {
            case .empty: return "no image name"
            case .parentReference(let name): return "invalid image name \(name): it must not contain .."
            case .invalidHash(let hash): return "invalid image hash \(hash)"
            }
        }
    }

    /// The name as path components: empty and `.` components dropped (Go's path.Clean,
    /// which also makes an absolute name relative to the directory), `..` rejected.
    public static func components(of name: String) throws(PathError) -> [String] {
        var components: [String] = []
        for component in name.split(separator: "/", omittingEmptySubsequences: true) {
            if component == "." { continue }
            if component == ".." { throw .parentReference(name) }
            components.append(String(component))
        }
        if components.isEmpty { throw .empty }
        return components
    }

    /// `<disks>/_base/qemu/<arch>/<name>`.
    public static func basePath(disks: String, arch: String, name: String) throws(PathError) -> String {
        let components = try components(of: name)
        guard !arch.isEmpty, !arch.contains("/"), arch != "..", arch != "." else { throw .parentReference(arch) }
        return ([trimmed(disks), "_base", "qemu", arch] + components).joined(separator: "/")
    }

    /// `<disks>/<user id>/qemu/<hash>` for an `images` row.
    public static func userPath(disks: String, userID: Int64, hash: String) throws(PathError) -> String {
        guard !hash.isEmpty, !hash.contains("/"), hash != ".", hash != ".." else { throw .invalidHash(hash) }
        return "\(trimmed(disks))/\(userID)/qemu/\(hash)"
    }

    /// The disks directory without trailing slashes (`/` becomes empty, so joining gives `/…`).
    static func trimmed(_ disks: String) -> String {
        var text = Substring(disks)
        while text.count > 1, text.hasSuffix("/") { text = text.dropLast() }
        return text == "/" ? "" : String(text)
    }
}

/// Host ports for the machines' ssh forwarding, handed out so that parallel builds of one
/// worker never pick the same port: a process-wide reservation set, plus a probe that the
/// port is free on the host right now (other processes). A port qemu still fails to bind
/// (taken between probe and boot) is released by the caller, which asks for the next one.
public final class HostPortAllocator: Sendable {
    public let range: ClosedRange<Int>
    private let reserved = Mutex<Set<Int>>([])

    /// The allocator of this process (one per worker), from Djinn's first port 2222.
    public static let shared = HostPortAllocator(range: 2222...65535)

    public init(range: ClosedRange<Int>) {
        self.range = range
    }

    /// The lowest port at or after `start` that no build of this process holds and
    /// `isFree` accepts; it stays reserved until `release`. Nil when none is left.
    public func reserve(from start: Int? = nil, isFree: (Int) -> Bool) -> Int? {
        var port = max(start ?? range.lowerBound, range.lowerBound)
        while port <= range.upperBound {
            let claimed = reserved.withLock { $0.insert(port).inserted }
            if claimed {
                if isFree(port) { return port }
                _ = reserved.withLock { $0.remove(port) }
            }
            port += 1
        }
        return nil
    }

    public func release(_ port: Int) {
        _ = reserved.withLock { $0.remove(port) }
    }

    /// Ports held now (for tests).
    public var reservedPorts: Set<Int> { reserved.withLock { $0 } }
}
