/// Why a download failed, as written to `image_downloads.error`, and whether trying again
/// could help.
///
/// Permanent: the URL or what it serves is wrong (unsupported scheme, HTTP 4xx, wrong
/// Content-Type, not a qcow2 image, over the store limit, refused login, missing file, an
/// unverifiable certificate, a redirect elsewhere). Trying again gives the same answer.
/// Transient: the network or the server had a problem (connection refused or cut, time-outs,
/// HTTP 5xx, 408, 429), or the local disk did. The job is retried.
public struct DownloadError: Error, Sendable, Equatable, CustomStringConvertible {
    public let message: String
    public let isPermanent: Bool

    public init(_ message: String, permanent: Bool) {
        self.message = message
        self.isPermanent = permanent
    }

    public var description: String { message }

    static func permanent(_ message: String) -> DownloadError { DownloadError(message, permanent: true) }
    static func transient(_ message: String) -> DownloadError { DownloadError(message, permanent: false) }

    // Go Djinn's texts, where it has one, so that the server shows the same messages.
    static let invalidScheme = permanent("image: invalid url scheme")
    static let wrongContentType = permanent("unexpected Content-Type, expected \(ImageDownloader.qemuContentType)")
    static let notQCOW2 = permanent("not a valid qcow2 file")

    /// Go's fs.SizeError text.
    static func tooLarge(limit: Int64) -> DownloadError {
        permanent("file too large, cannot exceed \(humanSize(limit))")
    }

    /// 5xx, 408 (request timeout), 425 (too early) and 429 (too many requests) may pass;
    /// any other status will not.
    static func httpStatus(_ status: Int) -> DownloadError {
        let transient = status >= 500 || status == 408 || status == 425 || status == 429
        return DownloadError("unexpected HTTP status \(status), expected 2xx", permanent: !transient)
    }

    /// Go's fs humanSize: whole units of 1024, rounded down.
    static func humanSize(_ bytes: Int64) -> String {
        let units = ["B", "KB", "MB", "GB", "TB", "PB"]
        var n = bytes
        var unit = 0
        while n >= 1024 && unit < units.count - 1 {
            n /= 1024
            unit += 1
        }
        return "\(n) \(units[unit])"
    }
}
