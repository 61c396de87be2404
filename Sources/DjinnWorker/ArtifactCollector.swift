#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif
import BlockingIO
import Crypto
import Foundation
import Synchronization

/// What was stored for one artifact.
public struct StoredArtifact: Sendable, Equatable {
    /// Bytes stored (at most the limit).
    public var size: Int64
    /// The source file's size, when more than the stored bytes (it was truncated).
    public var truncatedFrom: Int64?
    public var md5: [UInt8]
    public var sha256: [UInt8]
}

/// Copies artifacts into the artifacts store (spec §4.8): `<store>/<build owner id>/<hash>`,
/// written to a temporary file in the same directory and renamed into place, so a reader never
/// sees a partial file.
///
/// The store's `limit` (bytes, 0 = none) answers open question 3 as the sample config documents
/// it: the artifact is TRUNCATED to its first `limit` bytes (Go rejects it instead). The size,
/// MD5 and SHA-256 recorded are those of the stored bytes.
public struct ArtifactCollector: Sendable {
    public let storePath: String
    public let limit: Int64
    private let files: BlockingThread

    public init(storePath: String, limit: Int64, files: BlockingThread) {
        self.storePath = storePath
        self.limit = limit
        self.files = files
    }

    /// Stores what `file` holds as the artifact `hash` of `ownerID`.
    public func store(_ file: OpenFile, ownerID: Int64, hash: String) async throws -> StoredArtifact {
        guard SafePaths.isSingleComponent(hash) else { throw DriverError("invalid artifact hash \(hash)") }
        let directory = storePath + "/\(ownerID)"
        let limit = self.limit
        let cancellation = CopyCancellation()
        return try await withTaskCancellationHandler {
            try await files.run { () throws -> StoredArtifact in
                try Self.copy(file, into: directory, name: hash, limit: limit, cancellation: cancellation)
            }
        } onCancel: {
            cancellation.cancel()
        }
    }

    static func copy(
        _ file: OpenFile, into directory: String, name: String, limit: Int64, cancellation: CopyCancellation = CopyCancellation()
    ) throws -> StoredArtifact {
        try FileManager.default.createDirectory(
            atPath: directory, withIntermediateDirectories: true, attributes: [.posixPermissions: 0o750])
        var template = Array((directory + "/.\(name).XXXXXX").utf8CString)
        let output = mkstemp(&template)
        guard output >= 0 else { throw SafePathError.system("create a file in \(directory)", errno) }
        let temporary = SafePaths.string(fromCString: template)
        var renamed = false
        defer {
            close(output)
            if !renamed { unlink(temporary) }
        }
        _ = fchmod(output, 0o640)

        var md5 = Insecure.MD5()
        var sha256 = SHA256()
        var stored: Int64 = 0
        var seen: Int64 = 0
        var buffer = [UInt8](repeating: 0, count: 256 * 1024)
        while true {
            // A kill must not wait for a large artifact to be copied.
            if cancellation.isCancelled { throw CancellationError() }
            let count = buffer.withUnsafeMutableBytes { read(file.descriptor, $0.baseAddress, $0.count) }
            if count < 0 {
                if errno == EINTR { continue }
                throw SafePathError.system("read artifact", errno)
            }
            if count == 0 { break }
            seen += Int64(count)
            var keep = count
            if limit > 0 { keep = Int(max(0, min(Int64(count), limit - stored))) }
            if keep > 0 {
                buffer.withUnsafeBytes { bytes in
                    let slice = UnsafeRawBufferPointer(rebasing: bytes[0..<keep])
                    md5.update(bufferPointer: slice)
                    sha256.update(bufferPointer: slice)
                }
                try SafePaths.writeAll(output, buffer, count: keep)
                stored += Int64(keep)
            }
            if limit > 0 && stored >= limit {
                // Enough: the rest is not read, only its size is needed for the message.
                var info = stat()
                if fstat(file.descriptor, &info) == 0 { seen = max(seen, Int64(info.st_size)) }
                break
            }
        }
        guard fsync(output) == 0 || errno == EINVAL else { throw SafePathError.system("sync artifact", errno) }
        guard rename(temporary, directory + "/" + name) == 0 else { throw SafePathError.system("store artifact", errno) }
        renamed = true
        return StoredArtifact(
            size: stored, truncatedFrom: seen > stored ? seen : nil, md5: Array(md5.finalize()), sha256: Array(sha256.finalize()))
    }
}

/// Tells a copy running on a blocking thread that its task was cancelled.
final class CopyCancellation: Sendable {
    private let flag = Atomic<Bool>(false)

    init() {}

    func cancel() { flag.store(true, ordering: .relaxed) }

    var isCancelled: Bool { flag.load(ordering: .relaxed) }
}
