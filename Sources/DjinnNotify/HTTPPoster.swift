import CCurl
import Foundation

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
        let result = try await CurlCall.run(name: "http-post") { cancel -> Result<HTTPResponse, TransportError> in
            let call = CurlCall(upload: body, cancel: cancel, bodyLimit: Self.bodyLimit)
            // Content-Length is set by libcurl from POSTFIELDSIZE; an empty Expect stops the
            // 1-second `100-continue` wait on bodies over 1 KiB.
            let list = CurlStringList(
                headers.filter { $0.name.lowercased() != "content-length" }.map { "\($0.name): \($0.value)" } + ["Expect:"])
            let outcome = withExtendedLifetime(list) {
                call.perform { handle in
                    var status = CURLE_OK
                    func set(_ option: CURLoption, _ value: Int) {
                        if status == CURLE_OK { status = djinn_curl_setopt_long(handle, option, value) }
                    }
                    func set(_ option: CURLoption, _ value: String) {
                        if status == CURLE_OK { status = djinn_curl_setopt_string(handle, option, value) }
                    }
                    set(CURLOPT_URL, url)
                    set(CURLOPT_PROTOCOLS_STR, "http,https")
                    set(CURLOPT_REDIR_PROTOCOLS_STR, "http,https")
                    set(CURLOPT_FOLLOWLOCATION, 1)
                    set(CURLOPT_MAXREDIRS, 10)
                    set(CURLOPT_PROXY, "")
                    set(CURLOPT_POST, 1)
                    if status == CURLE_OK {
                        status = djinn_curl_setopt_off_t(handle, CURLOPT_POSTFIELDSIZE_LARGE, curl_off_t(body.count))
                    }
                    set(CURLOPT_TIMEOUT_MS, max(1, Int(timeout.milliseconds)))
                    set(CURLOPT_CONNECTTIMEOUT_MS, max(1, Int(connectTimeout.milliseconds)))
                    if let caFile { set(CURLOPT_CAINFO, caFile) }
                    if status == CURLE_OK, let pointer = list.pointer {
                        status = djinn_curl_setopt_pointer(handle, CURLOPT_HTTPHEADER, UnsafeMutableRawPointer(pointer))
                    }
                    return status
                }
            }
            return outcome.map { HTTPResponse(status: $0, headers: call.responseHeaders, body: call.responseBody) }
        }
        return try result.get()
    }
}
