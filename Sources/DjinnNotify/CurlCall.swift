import DjinnCurl
import Foundation

/// Why a libcurl call produced no response.
public enum TransportError: Error, Sendable, Equatable, CustomStringConvertible {
    /// Connection, TLS, protocol or time-out failure: libcurl's message.
    case failed(String)
    /// The caller's task was cancelled (shutdown).
    case cancelled

    public var description: String {
        switch self {
        case .failed(let message): return message
        case .cancelled: return "cancelled"
        }
    }
}

/// One exchange of this module over libcurl (a POST, a mail): uploads `upload` (the request
/// body or the mail), collects the response headers and up to `bodyLimit` bytes of the
/// response body, on a thread of its own; cancelling the task aborts it.
enum CurlCall {
    struct Response: Sendable {
        /// The handle's response code (HTTP status, SMTP reply).
        var code: Int
        /// Of the last response (after redirects), without the status line.
        var headers: [HTTPHeader]
        var body: [UInt8]
    }

    /// Sets the protocol's options with `configure`, then runs the exchange. Throws
    /// `TransportError`.
    static func perform(
        threadName: String, upload: [UInt8], bodyLimit: Int,
        configure: @escaping @Sendable (CurlEasy) throws(CurlError) -> Void
    ) async throws -> Response {
        let result: Result<Response, TransportError>
        do {
            result = try await CurlEasy.run(threadName: threadName) { easy -> Result<Response, TransportError> in
                do throws(CurlError) {
                    try configure(easy)
                } catch {
                    return .failure(.failed("libcurl: cannot set up the request: \(error.message)"))
                }
                var body: [UInt8] = []
                var headerLines: [String] = []
                easy.send(upload)
                easy.onBody = { bytes in
                    let room = bodyLimit - body.count
                    if room > 0 { body.append(contentsOf: bytes.prefix(room)) }
                }
                easy.onHeader = { bytes in
                    let line = String(decoding: bytes, as: UTF8.self).trimmingCharacters(in: .newlines)
                    if !line.isEmpty { headerLines.append(line) }
                }
                do {
                    try easy.perform()
                } catch is CancellationError {
                    return .failure(.cancelled)
                } catch {
                    return .failure(.failed((error as? CurlError)?.message ?? "\(error)"))
                }
                return .success(Response(code: easy.responseCode, headers: lastResponseHeaders(headerLines), body: body))
            }
        } catch let error as CurlError {
            result = .failure(.failed(error.message))  // no handle
        }
        return try result.get()
    }

    /// The headers of the last response in `lines` (each status line starts a new one:
    /// redirects, 100 Continue), without the status line.
    static func lastResponseHeaders(_ lines: [String]) -> [HTTPHeader] {
        var headers: [HTTPHeader] = []
        for line in lines {
            if line.hasPrefix("HTTP/") {
                headers = []
                continue
            }
            guard let colon = line.firstIndex(of: ":") else { continue }
            headers.append(HTTPHeader(
                String(line[..<colon]), line[line.index(after: colon)...].trimmingCharacters(in: .whitespaces)))
        }
        return headers
    }
}

extension Duration {
    var milliseconds: Int64 {
        let (seconds, attoseconds) = components
        return seconds * 1000 + attoseconds / 1_000_000_000_000_000
    }
}
