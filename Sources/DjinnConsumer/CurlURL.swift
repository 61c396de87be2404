import CCurl
import Foundation

/// A download URL as libcurl's own parser reads it, so that what is checked (scheme, host,
/// port) is exactly what is fetched.
struct CurlURL: Sendable, Equatable {
    /// Lower-cased.
    var scheme: String
    var host: String
    /// The explicit port, else the scheme's default.
    var port: Int
    /// Percent-decoded userinfo; nil when absent.
    var username: String?
    var password: String?
    /// The query without `?`; nil when absent.
    var query: String?
    /// The URL to hand to libcurl: no userinfo (credentials are set as options, so they never
    /// appear in a URL libcurl might echo) and, for sftp, no query (it is our `timeout`, not
    /// part of the remote path).
    var fetchURL: String

    /// Parses `text`; an unparsable URL is a permanent error (its message never holds the URL).
    static func parse(_ text: String) throws(DownloadError) -> CurlURL {
        guard let handle = curl_url() else { throw .transient("libcurl: out of memory") }
        defer { curl_url_cleanup(handle) }
        let status = curl_url_set(handle, CURLUPART_URL, text, UInt32(CURLU_NON_SUPPORT_SCHEME))
        guard status == CURLUE_OK else {
            throw .permanent("invalid download URL: \(String(cString: curl_url_strerror(status)))")
        }

        func part(_ what: CURLUPart, _ flags: Int32 = 0) -> String? {
            var value: UnsafeMutablePointer<CChar>?
            guard curl_url_get(handle, what, &value, UInt32(flags)) == CURLUE_OK, let value else { return nil }
            defer { curl_free(value) }
            return String(cString: value)
        }

        let scheme = (part(CURLUPART_SCHEME) ?? "").lowercased()
        guard let host = part(CURLUPART_HOST), !host.isEmpty else {
            throw .permanent("invalid download URL: no host")
        }
        let port = part(CURLUPART_PORT, CURLU_DEFAULT_PORT).flatMap { Int($0) } ?? 0
        let username = part(CURLUPART_USER, CURLU_URLDECODE)
        let password = part(CURLUPART_PASSWORD, CURLU_URLDECODE)
        let query = part(CURLUPART_QUERY)

        curl_url_set(handle, CURLUPART_USER, nil, 0)
        curl_url_set(handle, CURLUPART_PASSWORD, nil, 0)
        curl_url_set(handle, CURLUPART_OPTIONS, nil, 0)
        curl_url_set(handle, CURLUPART_FRAGMENT, nil, 0)
        if scheme == "sftp" { curl_url_set(handle, CURLUPART_QUERY, nil, 0) }
        guard let fetchURL = part(CURLUPART_URL) else { throw .permanent("invalid download URL") }

        return CurlURL(
            scheme: scheme, host: host, port: port, username: username, password: password, query: query,
            fetchURL: fetchURL)
    }

    /// The value of `name` in the query (`a=b&c=d`), percent-decoded.
    func queryValue(_ name: String) -> String? {
        guard let query else { return nil }
        for pair in query.split(separator: "&") {
            let parts = pair.split(separator: "=", maxSplits: 1, omittingEmptySubsequences: false)
            guard parts.first.map(String.init) == name else { continue }
            let raw = parts.count > 1 ? String(parts[1]) : ""
            return raw.replacingOccurrences(of: "+", with: " ").removingPercentEncodingIfValid ?? raw
        }
        return nil
    }

    /// Whether a redirect to `other` stays where the download was pointed: same scheme, host
    /// and port.
    func isSameOrigin(as other: CurlURL) -> Bool {
        scheme == other.scheme && host.lowercased() == other.host.lowercased() && port == other.port
    }
}
