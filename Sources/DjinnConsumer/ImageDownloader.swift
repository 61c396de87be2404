import DjinnConfig
import DjinnCurl
import Foundation
import Logging

/// Downloads qcow2 images over http, https and sftp with libcurl into the `images` store.
///
/// Each download runs on a thread of its own (libcurl blocks), streams into a temporary file
/// beside the image and renames it over `<store>/<user_id>/qemu/<hash>` only when the
/// transfer completed and every check passed. Whatever goes wrong — a failed check, a cut
/// connection, cancellation — the temporary file is removed, so a partial image never
/// appears and a good one is never replaced by a bad one.
///
/// Checks: the scheme is http, https or sftp; libcurl may speak only that scheme, also for
/// redirects; HTTP redirects are followed only to the same scheme, host and port (at most
/// `maxRedirects`); HTTP needs a 2xx status and `Content-Type: application/x-qemu-disk`
/// exactly; every scheme needs the qcow2 magic `51 46 49 FB` first; the store `limit` is
/// enforced while streaming. https verifies the server against the system CA roots; sftp
/// does not verify the host key (as Go Djinn — see docs/consumer.md).
public struct ImageDownloader: Sendable {
    public static let qemuContentType = "application/x-qemu-disk"

    public struct Options: Sendable {
        /// Time to connect (TCP, TLS or SSH handshake). An sftp URL's `?timeout=` (a Go
        /// duration, as Go Djinn) overrides it.
        public var connectTimeout: Duration
        /// A transfer slower than `lowSpeedLimit` bytes/s for `lowSpeedTime` is abandoned
        /// (transient). There is no overall limit: large images on slow links may take long.
        public var lowSpeedLimit: Int
        public var lowSpeedTime: Duration
        /// Same-origin HTTP redirects followed at most.
        public var maxRedirects: Int
        /// How often a running download logs its progress (info).
        public var progressInterval: Duration
        /// An extra CA bundle for https instead of the system roots (tests only).
        public var caFile: String?
        public var userAgent: String

        public init(
            connectTimeout: Duration = .seconds(60), lowSpeedLimit: Int = 1024, lowSpeedTime: Duration = .seconds(60),
            maxRedirects: Int = 5, progressInterval: Duration = .seconds(5), caFile: String? = nil,
            userAgent: String = "djinn-consumer"
        ) {
            self.connectTimeout = connectTimeout
            self.lowSpeedLimit = lowSpeedLimit
            self.lowSpeedTime = lowSpeedTime
            self.maxRedirects = maxRedirects
            self.progressInterval = progressInterval
            self.caFile = caFile
            self.userAgent = userAgent
        }
    }

    public let options: Options
    private let logger: Logger

    public init(options: Options = Options(), logger: Logger) {
        self.options = options
        self.logger = logger
    }

    /// Downloads `source` to `destination.finalPath`; returns the image's size. Throws
    /// `DownloadError`, or `CancellationError` when the task is cancelled (the transfer stops
    /// within about a second). The password of `source` is never logged or thrown.
    @discardableResult
    public func download(
        _ source: DownloadSource, to destination: ImageDestination, metadata: Logger.Metadata = [:]
    ) async throws -> Int64 {
        if let problem = destination.problem { throw DownloadError.permanent(problem) }
        let plan = try makePlan(source, limit: destination.limit)
        let logger = self.logger.with(metadata)
        logger.info("downloading image from \(source.redacted)")
        let outcome: TransferOutcome
        do {
            outcome = try await CurlEasy.run(threadName: "image-download") { easy in
                Self.transfer(plan: plan, into: destination, easy: easy, logger: logger)
            }
        } catch let error as CurlError {
            outcome = .failed(.transient(error.message))
        }
        switch outcome {
        case .completed(let bytes):
            logger.info("image downloaded", metadata: ["bytes": "\(bytes)", "path": "\(destination.finalPath)"])
            return bytes
        case .failed(let error):
            throw DownloadError(source.scrub(error.message), permanent: error.isPermanent)
        case .cancelled:
            throw CancellationError()
        }
    }

    /// Everything decided before a transfer: the scheme check, libcurl's reading of the URL,
    /// the sftp connect time-out.
    func makePlan(_ source: DownloadSource, limit: Int64) throws(DownloadError) -> TransferPlan {
        guard DownloadSource.supportedSchemes.contains(source.scheme) else { throw .invalidScheme }
        let url: CurlURL
        do {
            url = try CurlURL.parse(source.text)
        } catch {
            throw DownloadError(source.scrub(error.message), permanent: error.isPermanent)
        }
        guard DownloadSource.supportedSchemes.contains(url.scheme) else { throw .invalidScheme }
        var connectTimeout = options.connectTimeout
        // Go Djinn: `?timeout=` for sftp; an unparsable or non-positive one is ignored.
        if url.scheme == "sftp", let text = url.queryValue("timeout"), case .success(let timeout) = GoDuration.parse(text),
            timeout > .zero
        {
            connectTimeout = timeout
        }
        return TransferPlan(
            url: url, connectTimeout: connectTimeout, lowSpeedLimit: options.lowSpeedLimit,
            lowSpeedTime: options.lowSpeedTime, maxRedirects: options.maxRedirects, limit: limit, caFile: options.caFile,
            progressInterval: options.progressInterval, userAgent: options.userAgent)
    }

    /// The blocking part: directories, temporary file, transfer, commit or clean-up.
    static func transfer(
        plan: TransferPlan, into destination: ImageDestination, easy: CurlEasy, logger: Logger
    ) -> TransferOutcome {
        let temporary: String
        let fd: Int32
        do {
            try StoreFiles.makeDirectories(destination.directory)
            StoreFiles.removeLeftovers(in: destination)
            (temporary, fd) = try StoreFiles.createTemporary(for: destination)
        } catch {
            return .failed(error)
        }
        var outcome = CurlTransfer(plan: plan, fd: fd, logger: logger).run(easy)
        if case .completed = outcome {
            do {
                try StoreFiles.commit(temporary: temporary, fd: fd, to: destination)
            } catch {
                outcome = .failed(error)
            }
        }
        close(fd)
        if case .completed = outcome { return outcome }
        unlink(temporary)
        return outcome
    }
}

extension Logger {
    func with(_ metadata: Logger.Metadata) -> Logger {
        var logger = self
        for (key, value) in metadata { logger[metadataKey: key] = value }
        return logger
    }
}
