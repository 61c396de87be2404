import CCurl
import DjinnCurl

/// A response as delivered.
public struct HTTPResponse: Sendable, Equatable {
    public var status: Int
    public var headers: [HTTPHeader]
    /// At most `HTTPPoster.bodyLimit` bytes of it.
    public var body: [UInt8]
}

/// POSTs over libcurl, each call on a thread of its own (never the cooperative pool).
/// http and https only (also for redirects, followed as Go's client does, up to 10); https
/// verifies the peer against the system roots, or `caFile`.
public struct HTTPPoster: Sendable {
    /// Response bytes kept (the rest is read and dropped).
    public static let bodyLimit = 64 * 1024

    public var caFile: String?
    public var connectTimeout: Duration

    public init(caFile: String? = nil, connectTimeout: Duration = .seconds(30)) {
        self.caFile = caFile
        self.connectTimeout = connectTimeout
    }

    /// The whole exchange must end within `timeout`. Throws `TransportError`.
    public func post(url: String, headers: [HTTPHeader], body: [UInt8], timeout: Duration) async throws -> HTTPResponse {
        let caFile = self.caFile
        let connectTimeout = min(connectTimeout, timeout)
        // Content-Length is set by libcurl from POSTFIELDSIZE; an empty Expect stops the
        // 1-second `100-continue` wait on bodies over 1 KiB.
        let headerLines =
            headers.filter { $0.name.lowercased() != "content-length" }.map { "\($0.name): \($0.value)" } + ["Expect:"]
        let response = try await CurlCall.perform(threadName: "http-post", upload: body, bodyLimit: Self.bodyLimit) {
            easy throws(CurlError) in
            try easy.set(CURLOPT_URL, url)
            try easy.set(CURLOPT_PROTOCOLS_STR, "http,https")
            try easy.set(CURLOPT_REDIR_PROTOCOLS_STR, "http,https")
            try easy.set(CURLOPT_FOLLOWLOCATION, 1)
            try easy.set(CURLOPT_MAXREDIRS, 10)
            try easy.set(CURLOPT_POST, 1)
            try easy.set(CURLOPT_POSTFIELDSIZE_LARGE, large: Int64(body.count))
            try easy.set(CURLOPT_TIMEOUT_MS, milliseconds: timeout)
            try easy.set(CURLOPT_CONNECTTIMEOUT_MS, milliseconds: connectTimeout)
            if let caFile { try easy.set(CURLOPT_CAINFO, caFile) }
            try easy.set(CURLOPT_HTTPHEADER, list: headerLines)
        }
        return HTTPResponse(status: response.code, headers: response.headers, body: response.body)
    }
}
