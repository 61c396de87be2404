import CCurl
import Foundation
import Logging
import Synchronization

/// Set from any thread to make a running transfer stop at its next callback.
final class CancelFlag: Sendable {
    private let flag = Atomic<Bool>(false)

    func cancel() { flag.store(true, ordering: .relaxed) }
    var isCancelled: Bool { flag.load(ordering: .relaxed) }
}

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
/// chunk. Any failed check aborts the transfer at once (the write callback returns 0).
final class CurlTransfer {
    static let qcow2Magic: [UInt8] = [0x51, 0x46, 0x49, 0xFB]

    private let plan: TransferPlan
    private let fd: Int32
    private let cancel: CancelFlag
    private let logger: Logger
    private let isHTTP: Bool

    private var handle: UnsafeMutableRawPointer?
    private(set) var received: Int64 = 0
    private var head: [UInt8] = []
    private var failure: DownloadError?
    private var bodyAccepted = false
    private let started = ContinuousClock.now
    private var lastReport = ContinuousClock.now
    private var bytesAtLastReport: Int64 = 0

    init(plan: TransferPlan, fd: Int32, cancel: CancelFlag, logger: Logger) {
        self.plan = plan
        self.fd = fd
        self.cancel = cancel
        self.logger = logger
        self.isHTTP = plan.url.scheme == "http" || plan.url.scheme == "https"
    }

    /// Runs the transfer (following same-origin redirects) to completion. Blocks.
    func run() -> TransferOutcome {
        guard CurlGlobal.ready else { return .failed(.transient("libcurl could not be initialised")) }
        guard let handle = curl_easy_init() else { return .failed(.transient("libcurl: out of memory")) }
        self.handle = handle
        let errorBuffer = UnsafeMutablePointer<CChar>.allocate(capacity: Int(CURL_ERROR_SIZE) + 1)
        defer {
            curl_easy_cleanup(handle)
            self.handle = nil
            errorBuffer.deallocate()
        }
        let outcome = withExtendedLifetime(self) { () -> TransferOutcome in
            if let problem = configure(handle, errorBuffer: errorBuffer) { return .failed(problem) }
            return performFollowingRedirects(handle, errorBuffer: errorBuffer)
        }
        return outcome
    }

    // MARK: Options

    private func configure(_ handle: UnsafeMutableRawPointer, errorBuffer: UnsafeMutablePointer<CChar>) -> DownloadError? {
        var status = CURLE_OK
        func set(_ option: CURLoption, _ value: Int) {
            if status == CURLE_OK { status = djinn_curl_setopt_long(handle, option, value) }
        }
        func set(_ option: CURLoption, _ value: String) {
            if status == CURLE_OK { status = djinn_curl_setopt_string(handle, option, value) }
        }
        let url = plan.url
        // Only this URL's own scheme, for the request and for any redirect.
        set(CURLOPT_PROTOCOLS_STR, url.scheme)
        set(CURLOPT_REDIR_PROTOCOLS_STR, url.scheme)
        // Redirects are followed by hand, only to the same origin (performFollowingRedirects).
        set(CURLOPT_FOLLOWLOCATION, 0)
        // Several transfers run at once on their own threads: no signals (and no SIGALRM
        // for DNS time-outs).
        set(CURLOPT_NOSIGNAL, 1)
        // No proxy from the environment (Go Djinn's client uses none either).
        set(CURLOPT_PROXY, "")
        set(CURLOPT_CONNECTTIMEOUT_MS, max(1, Int(plan.connectTimeout.wholeMilliseconds)))
        set(CURLOPT_LOW_SPEED_LIMIT, max(1, plan.lowSpeedLimit))
        set(CURLOPT_LOW_SPEED_TIME, max(1, Int(plan.lowSpeedTime.wholeMilliseconds / 1000)))
        set(CURLOPT_USERAGENT, plan.userAgent)
        if plan.limit > 0, status == CURLE_OK {
            // libcurl refuses at once when the server announces a larger size.
            status = djinn_curl_setopt_off_t(handle, CURLOPT_MAXFILESIZE_LARGE, curl_off_t(plan.limit))
        }
        if let username = url.username { set(CURLOPT_USERNAME, username) }
        if let password = url.password { set(CURLOPT_PASSWORD, password) }
        if isHTTP {
            set(CURLOPT_HTTPAUTH, djinn_curlauth_basic)
            if let caFile = plan.caFile { set(CURLOPT_CAINFO, caFile) }
        } else {
            // Password only, as Go Djinn; the host key is not verified (as Go Djinn: there is
            // nowhere to configure one).
            set(CURLOPT_SSH_AUTH_TYPES, Int(CURLSSH_AUTH_PASSWORD))
        }
        if status == CURLE_OK { status = djinn_curl_setopt_pointer(handle, CURLOPT_ERRORBUFFER, errorBuffer) }

        let context = Unmanaged.passUnretained(self).toOpaque()
        if status == CURLE_OK { status = djinn_curl_setopt_pointer(handle, CURLOPT_WRITEDATA, context) }
        if status == CURLE_OK {
            status = djinn_curl_setopt_write_function(handle) { data, size, count, context in
                guard let context else { return 0 }
                let transfer = Unmanaged<CurlTransfer>.fromOpaque(context).takeUnretainedValue()
                return transfer.receive(UnsafeRawBufferPointer(start: data, count: size * count))
            }
        }
        if status == CURLE_OK { status = djinn_curl_setopt_pointer(handle, CURLOPT_XFERINFODATA, context) }
        if status == CURLE_OK {
            status = djinn_curl_setopt_xferinfo_function(handle) { context, total, now, _, _ in
                guard let context else { return 1 }
                let transfer = Unmanaged<CurlTransfer>.fromOpaque(context).takeUnretainedValue()
                return transfer.progress(total: Int64(total))
            }
        }
        set(CURLOPT_NOPROGRESS, 0)
        guard status == CURLE_OK else {
            return .transient("libcurl: cannot set up the transfer: \(String(cString: curl_easy_strerror(status)))")
        }
        return nil
    }

    // MARK: Running

    private func performFollowingRedirects(
        _ handle: UnsafeMutableRawPointer, errorBuffer: UnsafeMutablePointer<CChar>
    ) -> TransferOutcome {
        var target = plan.url
        var redirects = 0
        while true {
            errorBuffer[0] = 0
            let status = djinn_curl_setopt_string(handle, CURLOPT_URL, target.fetchURL)
            guard status == CURLE_OK else {
                return .failed(.permanent("invalid download URL: \(String(cString: curl_easy_strerror(status)))"))
            }
            let code = curl_easy_perform(handle)
            if cancel.isCancelled { return .cancelled }
            if let failure { return .failed(failure) }
            let httpStatus = isHTTP ? responseCode(handle) : 0
            if code != CURLE_OK {
                // A size refusal or abort on an error response is about the status.
                if isHTTP && httpStatus >= 400 { return .failed(.httpStatus(httpStatus)) }
                if code == CURLE_FILESIZE_EXCEEDED { return .failed(.tooLarge(limit: plan.limit)) }
                return .failed(Self.classify(code, detail: String(cString: errorBuffer)))
            }
            if isHTTP {
                if (300..<400).contains(httpStatus) {
                    switch nextHop(handle, from: target, status: httpStatus, redirects: redirects) {
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
                guard contentType(handle) == ImageDownloader.qemuContentType else { return .failed(.wrongContentType) }
            }
            guard head == Self.qcow2Magic else { return .failed(.notQCOW2) }
            return .completed(bytes: received)
        }
    }

    private func nextHop(
        _ handle: UnsafeMutableRawPointer, from current: CurlURL, status: Int, redirects: Int
    ) -> Result<CurlURL, DownloadError> {
        guard let location = string(handle, CURLINFO_REDIRECT_URL) else {
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
    static func classify(_ code: CURLcode, detail: String) -> DownloadError {
        let text = detail.isEmpty ? String(cString: curl_easy_strerror(code)) : detail
        switch code {
        case CURLE_UNSUPPORTED_PROTOCOL, CURLE_URL_MALFORMAT, CURLE_LOGIN_DENIED, CURLE_REMOTE_FILE_NOT_FOUND,
            CURLE_REMOTE_ACCESS_DENIED, CURLE_PEER_FAILED_VERIFICATION, CURLE_SSL_CACERT_BADFILE,
            CURLE_TOO_MANY_REDIRECTS, CURLE_AUTH_ERROR:
            return .permanent(text)
        default:
            return .transient(text)
        }
    }

    // MARK: Callbacks (on the transfer's thread, inside curl_easy_perform)

    /// The write callback: returns `bytes.count` to go on, 0 to abort.
    private func receive(_ bytes: UnsafeRawBufferPointer) -> Int {
        if cancel.isCancelled { return 0 }
        if isHTTP && !bodyAccepted, let handle {
            let status = responseCode(handle)
            // A redirect's own body: dropped, the next hop follows.
            if (300..<400).contains(status) { return bytes.count }
            guard (200..<300).contains(status) else {
                failure = .httpStatus(status)
                return 0
            }
            guard contentType(handle) == ImageDownloader.qemuContentType else {
                failure = .wrongContentType
                return 0
            }
            bodyAccepted = true
        }
        if plan.limit > 0 && received + Int64(bytes.count) > plan.limit {
            failure = .tooLarge(limit: plan.limit)
            return 0
        }
        if head.count < 4 {
            head.append(contentsOf: bytes.prefix(4 - head.count))
            if head.count == 4 && head != Self.qcow2Magic {
                failure = .notQCOW2
                return 0
            }
        }
        if bytes.isEmpty { return 0 }
        if let error = StoreFiles.writeAll(fd, bytes) {
            failure = .transient("cannot write the image: \(errnoText(error))")
            return 0
        }
        received += Int64(bytes.count)
        return bytes.count
    }

    /// The progress callback: non-zero aborts (cancellation). Also the progress log.
    private func progress(total: Int64) -> Int32 {
        if cancel.isCancelled { return 1 }
        let now = ContinuousClock.now
        guard now - lastReport >= plan.progressInterval else { return 0 }
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
        return 0
    }

    // MARK: Helpers

    private func responseCode(_ handle: UnsafeMutableRawPointer) -> Int {
        var code = 0
        _ = djinn_curl_getinfo_long(handle, CURLINFO_RESPONSE_CODE, &code)
        return code
    }

    private func contentType(_ handle: UnsafeMutableRawPointer) -> String? {
        string(handle, CURLINFO_CONTENT_TYPE)
    }

    private func string(_ handle: UnsafeMutableRawPointer, _ info: CURLINFO) -> String? {
        var value: UnsafeMutablePointer<CChar>?
        guard djinn_curl_getinfo_string(handle, info, &value) == CURLE_OK, let value else { return nil }
        return String(cString: value)
    }

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

/// `curl_global_init` once per process, before the first handle.
enum CurlGlobal {
    static let ready: Bool = curl_global_init(djinn_curl_global_default) == CURLE_OK
}

extension Duration {
    var wholeMilliseconds: Int64 {
        let (seconds, attoseconds) = components
        return seconds * 1000 + attoseconds / 1_000_000_000_000_000
    }
}
