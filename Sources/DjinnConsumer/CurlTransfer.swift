import CCurl
import DjinnCurl
import Foundation
import Logging

/// What one transfer needs; everything is decided before it starts.
struct TransferPlan: Sendable {
    var url: CurlURL
    var connectTimeout: Duration
    /// Abort when fewer than `lowSpeedLimit` bytes/s arrive for `lowSpeedTime`.
    var lowSpeedLimit: Int
    var lowSpeedTime: Duration
    var maxRedirects: Int
    /// 0: no limit.
    var limit: Int64
    /// Extra CA file for https (tests); nil: the system roots only.
    var caFile: String?
    var progressInterval: Duration
    var userAgent: String
}

enum TransferOutcome: Sendable {
    case completed(bytes: Int64)
    case failed(DownloadError)
    case cancelled
}

/// One libcurl transfer into an open file, confined to the blocking thread that runs it.
///
/// Checks happen while the bytes stream: the HTTP status and Content-Type before the first
/// body byte is stored, the qcow2 magic on the first four bytes, the store limit on every
/// chunk. Any failed check aborts the transfer at once (the body callback throws it).
final class CurlTransfer {
    static let qcow2Magic: [UInt8] = [0x51, 0x46, 0x49, 0xFB]

    private let plan: TransferPlan
    private let fd: Int32
    private let logger: Logger
    private let isHTTP: Bool

    private(set) var received: Int64 = 0
    private var head: [UInt8] = []
    private var bodyAccepted = false
    private let started = ContinuousClock.now
    private var lastReport = ContinuousClock.now
    private var bytesAtLastReport: Int64 = 0

    init(plan: TransferPlan, fd: Int32, logger: Logger) {
        self.plan = plan
        self.fd = fd
        self.logger = logger
        self.isHTTP = plan.url.scheme == "http" || plan.url.scheme == "https"
    }

    /// Runs the transfer on `easy` (following same-origin redirects) to completion. Blocks.
    func run(_ easy: CurlEasy) -> TransferOutcome {
        if let problem = configure(easy) { return .failed(problem) }
        return performFollowingRedirects(easy)
    }

    // MARK: Options

    private func configure(_ easy: CurlEasy) -> DownloadError? {
        let url = plan.url
        do throws(CurlError) {
            // Only this URL's own scheme, for the request and for any redirect.
            try easy.set(CURLOPT_PROTOCOLS_STR, url.scheme)
            try easy.set(CURLOPT_REDIR_PROTOCOLS_STR, url.scheme)
            // Redirects are followed by hand, only to the same origin (performFollowingRedirects).
            try easy.set(CURLOPT_FOLLOWLOCATION, 0)
            try easy.set(CURLOPT_CONNECTTIMEOUT_MS, milliseconds: plan.connectTimeout)
            try easy.set(CURLOPT_LOW_SPEED_LIMIT, max(1, plan.lowSpeedLimit))
            try easy.set(CURLOPT_LOW_SPEED_TIME, max(1, Int(plan.lowSpeedTime.components.seconds)))
            try easy.set(CURLOPT_USERAGENT, plan.userAgent)
            if plan.limit > 0 {
                // libcurl refuses at once when the server announces a larger size.
                try easy.set(CURLOPT_MAXFILESIZE_LARGE, large: plan.limit)
            }
            if let username = url.username { try easy.set(CURLOPT_USERNAME, username) }
            if let password = url.password { try easy.set(CURLOPT_PASSWORD, password) }
            if isHTTP {
                try easy.set(CURLOPT_HTTPAUTH, djinn_curlauth_basic)
                if let caFile = plan.caFile { try easy.set(CURLOPT_CAINFO, caFile) }
            } else {
                // Password only, as Go Djinn; the host key is not verified (as Go Djinn: there is
                // nowhere to configure one).
                try easy.set(CURLOPT_SSH_AUTH_TYPES, Int(CURLSSH_AUTH_PASSWORD))
            }
        } catch {
            return .transient("libcurl: cannot set up the transfer: \(error.message)")
        }
        easy.onBody = { bytes in try self.receive(bytes, easy) }
        easy.onProgress = { total, _ in self.progress(total: total) }
        return nil
    }

    // MARK: Running

    private func performFollowingRedirects(_ easy: CurlEasy) -> TransferOutcome {
        var target = plan.url
        var redirects = 0
        while true {
            do throws(CurlError) {
                try easy.set(CURLOPT_URL, target.fetchURL)
            } catch {
                return .failed(.permanent("invalid download URL: \(error.message)"))
            }
            do {
                try easy.perform()
            } catch is CancellationError {
                return .cancelled
            } catch let failure as DownloadError {
                return .failed(failure)
            } catch let error as CurlError {
                let httpStatus = isHTTP ? easy.responseCode : 0
                // A size refusal or abort on an error response is about the status.
                if isHTTP && httpStatus >= 400 { return .failed(.httpStatus(httpStatus)) }
                if error.code == CURLE_FILESIZE_EXCEEDED { return .failed(.tooLarge(limit: plan.limit)) }
                return .failed(Self.classify(error))
            } catch {
                return .failed(.transient("\(error)"))  // perform throws nothing else
            }
            let httpStatus = isHTTP ? easy.responseCode : 0
            if isHTTP {
                if (300..<400).contains(httpStatus) {
                    switch nextHop(easy, from: target, status: httpStatus, redirects: redirects) {
                    case .success(let next):
                        target = next
                        redirects += 1
                        continue
                    case .failure(let error):
                        return .failed(error)
                    }
                }
                guard (200..<300).contains(httpStatus) else { return .failed(.httpStatus(httpStatus)) }
                // An empty body never reached the write callback's checks.
                guard easy.info(CURLINFO_CONTENT_TYPE) == ImageDownloader.qemuContentType else { return .failed(.wrongContentType) }
            }
            guard head == Self.qcow2Magic else { return .failed(.notQCOW2) }
            return .completed(bytes: received)
        }
    }

    private func nextHop(
        _ easy: CurlEasy, from current: CurlURL, status: Int, redirects: Int
    ) -> Result<CurlURL, DownloadError> {
        guard let location = easy.info(CURLINFO_REDIRECT_URL) else {
            return .failure(.permanent("HTTP status \(status) without a usable Location"))
        }
        let shown = DownloadSource.redact(location)
        guard redirects < plan.maxRedirects else {
            return .failure(.permanent("too many redirects (more than \(plan.maxRedirects)), last to \(shown)"))
        }
        let next: CurlURL
        do {
            next = try CurlURL.parse(location)
        } catch {
            return .failure(.permanent("redirect to \(shown) refused: \(error.message)"))
        }
        guard current.isSameOrigin(as: next) else {
            return .failure(.permanent("redirect to \(shown) refused: downloads follow redirects only to the same scheme, host and port"))
        }
        // The original credentials stay (same origin); any userinfo in Location is ignored.
        var hop = next
        hop.username = current.username
        hop.password = current.password
        return .success(hop)
    }

    /// Maps a libcurl failure to a download error (see DownloadError for the split).
    static func classify(_ error: CurlError) -> DownloadError {
        let text = error.message
        switch error.code {
        case CURLE_UNSUPPORTED_PROTOCOL, CURLE_URL_MALFORMAT, CURLE_LOGIN_DENIED, CURLE_REMOTE_FILE_NOT_FOUND,
            CURLE_REMOTE_ACCESS_DENIED, CURLE_PEER_FAILED_VERIFICATION, CURLE_SSL_CACERT_BADFILE,
            CURLE_TOO_MANY_REDIRECTS, CURLE_AUTH_ERROR:
            return .permanent(text)
        default:
            return .transient(text)
        }
    }

    // MARK: Callbacks (on the transfer's thread, inside curl_easy_perform)

    /// The body callback: throwing aborts the transfer with that error.
    private func receive(_ bytes: UnsafeRawBufferPointer, _ easy: CurlEasy) throws(DownloadError) {
        if isHTTP && !bodyAccepted {
            let status = easy.responseCode
            // A redirect's own body: dropped, the next hop follows.
            if (300..<400).contains(status) { return }
            guard (200..<300).contains(status) else { throw .httpStatus(status) }
            guard easy.info(CURLINFO_CONTENT_TYPE) == ImageDownloader.qemuContentType else { throw .wrongContentType }
            bodyAccepted = true
        }
        if plan.limit > 0 && received + Int64(bytes.count) > plan.limit { throw .tooLarge(limit: plan.limit) }
        if head.count < 4 {
            head.append(contentsOf: bytes.prefix(4 - head.count))
            if head.count == 4 && head != Self.qcow2Magic { throw .notQCOW2 }
        }
        if bytes.isEmpty { return }
        if let error = StoreFiles.writeAll(fd, bytes) { throw .transient("cannot write the image: \(errnoText(error))") }
        received += Int64(bytes.count)
    }

    /// The progress log (cancellation is the handle's own business).
    private func progress(total: Int64) {
        let now = ContinuousClock.now
        guard now - lastReport >= plan.progressInterval else { return }
        let seconds = Self.seconds(now - lastReport)
        let rate = seconds > 0 ? Double(received - bytesAtLastReport) / seconds : 0
        var metadata: Logger.Metadata = [
            "bytes": "\(received)",
            "rate": "\(Self.formatBytes(rate))/s",
            "elapsed": "\(Int(Self.seconds(now - started)))s",
        ]
        if total > 0 { metadata["total"] = "\(total)" }
        logger.info("downloading: \(Self.formatBytes(Double(received))) received", metadata: metadata)
        lastReport = now
        bytesAtLastReport = received
    }

    // MARK: Helpers

    static func seconds(_ duration: Duration) -> Double {
        let (seconds, attoseconds) = duration.components
        return Double(seconds) + Double(attoseconds) / 1e18
    }

    static func formatBytes(_ bytes: Double) -> String {
        let units = ["B", "KiB", "MiB", "GiB", "TiB"]
        var value = bytes
        var unit = 0
        while value >= 1024 && unit < units.count - 1 {
            value /= 1024
            unit += 1
        }
        return unit == 0 ? "\(Int(value)) B" : "\(String(format: "%.1f", value)) \(units[unit])"
    }
}
