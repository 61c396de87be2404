import Foundation

/// Where one image goes in the `images` store: `<store>/<user_id>/<driver>/<hash>`, the layout
/// Go Djinn's server and worker read. A download is written to a temporary file beside it
/// (`.download-<hash>-<random>`) and renamed over it only once complete and valid.
public struct ImageDestination: Sendable, Equatable {
    public var storePath: String
    public var userID: Int64
    public var driver: String
    public var hash: String
    /// Largest image in bytes; 0: no limit.
    public var limit: Int64

    public init(storePath: String, userID: Int64, driver: String = "qemu", hash: String, limit: Int64 = 0) {
        self.storePath = storePath
        self.userID = userID
        self.driver = driver
        self.hash = hash
        self.limit = limit
    }

    public var directory: String { "\(storePath)/\(userID)/\(driver)" }
    public var finalPath: String { "\(directory)/\(hash)" }

    /// What every temporary file of this image starts with.
    var temporaryPrefix: String { "\(Self.temporaryMarker)\(hash)-" }

    static let temporaryMarker = ".download-"

    /// A hash or driver is a single path component: anything else (from a tampered row)
    /// could write outside the store.
    static func isSafeComponent(_ name: String) -> Bool {
        !name.isEmpty && name != "." && name != ".." && !name.contains("/") && !name.contains("\0")
            && !name.hasPrefix(temporaryMarker)
    }

    var problem: String? {
        guard !storePath.isEmpty else { return "the images store has no path" }
        guard Self.isSafeComponent(hash) else { return "image hash \(hash.debugDescription) is not a file name" }
        guard Self.isSafeComponent(driver) else { return "image driver \(driver.debugDescription) is not a file name" }
        return nil
    }
}

/// The file-system steps of a download. Blocking: run on a `BlockingThread`.
enum StoreFiles {
    /// `mkdir -p` with mode 0750 for each directory it creates (as Go's fs.Sub).
    static func makeDirectories(_ path: String) throws(DownloadError) {
        var built = path.hasPrefix("/") ? "" : "."
        for component in path.split(separator: "/") {
            built += "/" + component
            if mkdir(built, 0o750) != 0 && errno != EEXIST {
                throw .transient("cannot create \(built): \(errnoText())")
            }
        }
        var info = stat()
        guard stat(path, &info) == 0, (info.st_mode & S_IFMT) == S_IFDIR else {
            throw .transient("\(path) is not a directory")
        }
    }

    /// Removes temporary files of earlier attempts at this image (a consumer killed
    /// mid-download leaves one; whoever runs the job next cleans it up).
    static func removeLeftovers(in destination: ImageDestination) {
        for name in (try? FileManager.default.contentsOfDirectory(atPath: destination.directory)) ?? []
        where name.hasPrefix(destination.temporaryPrefix) {
            unlink("\(destination.directory)/\(name)")
        }
    }

    /// Creates a new temporary file for `destination`; returns its path and descriptor.
    static func createTemporary(for destination: ImageDestination) throws(DownloadError) -> (String, Int32) {
        for _ in 0..<8 {
            let suffix = (0..<8).map { _ in String(UInt8.random(in: 0...15), radix: 16) }.joined()
            let path = "\(destination.directory)/\(destination.temporaryPrefix)\(suffix)"
            let fd = open(path, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0o640)
            if fd >= 0 { return (path, fd) }
            if errno != EEXIST { throw .transient("cannot create a file in \(destination.directory): \(errnoText())") }
        }
        throw .transient("cannot create a temporary file in \(destination.directory)")
    }

    /// Makes the completed temporary file the image: flushed to disk, then renamed over the
    /// final name (atomic: readers see the old image or the new one, never a mix).
    static func commit(temporary: String, fd: Int32, to destination: ImageDestination) throws(DownloadError) {
        guard fsync(fd) == 0 else { throw .transient("cannot flush \(temporary): \(errnoText())") }
        guard rename(temporary, destination.finalPath) == 0 else {
            throw .transient("cannot rename the download to \(destination.finalPath): \(errnoText())")
        }
        // The rename itself is durable once the directory is flushed.
        let directory = open(destination.directory, O_RDONLY | O_DIRECTORY | O_CLOEXEC)
        if directory >= 0 {
            _ = fsync(directory)
            close(directory)
        }
    }

    /// Writes all of `bytes` to `fd`.
    static func writeAll(_ fd: Int32, _ bytes: UnsafeRawBufferPointer) -> Int32? {
        var offset = 0
        while offset < bytes.count {
            let written = write(fd, bytes.baseAddress! + offset, bytes.count - offset)
            if written < 0 {
                if errno == EINTR { continue }
                return errno
            }
            offset += written
        }
        return nil
    }

    /// Temporary files under `<store>/*/*/` not modified for `age`: left by consumers that
    /// died and whose jobs never ran again. A live download writes continuously (and gives
    /// up after a minute without progress), so an old file is nobody's.
    @discardableResult
    static func removeStaleTemporaries(storePath: String, olderThan age: TimeInterval, now: Date = Date()) -> [String] {
        let fileManager = FileManager.default
        var removed: [String] = []
        for user in (try? fileManager.contentsOfDirectory(atPath: storePath)) ?? [] {
            let userPath = "\(storePath)/\(user)"
            for driver in (try? fileManager.contentsOfDirectory(atPath: userPath)) ?? [] {
                let directory = "\(userPath)/\(driver)"
                for name in (try? fileManager.contentsOfDirectory(atPath: directory)) ?? []
                where name.hasPrefix(ImageDestination.temporaryMarker) {
                    let path = "\(directory)/\(name)"
                    var info = stat()
                    guard lstat(path, &info) == 0, (info.st_mode & S_IFMT) == S_IFREG else { continue }
                    let modified = Date(timeIntervalSince1970: TimeInterval(info.st_mtim.tv_sec))
                    if now.timeIntervalSince(modified) >= age, unlink(path) == 0 {
                        removed.append(path)
                    }
                }
            }
        }
        return removed
    }
}

func errnoText(_ code: Int32 = errno) -> String {
    String(cString: strerror(code))
}
