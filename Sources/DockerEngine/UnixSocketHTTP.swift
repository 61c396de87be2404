import CCurl
import DjinnCurl

/// Errors from talking to the Docker Engine.
public enum DockerEngineError: Error, Equatable, CustomStringConvertible {
    /// The `host` setting cannot be used (only `unix://` sockets are supported).
    case invalidHost(String)
    /// The socket could not be reached or the connection broke.
    case transport(String)
    /// The Engine answered with an error status; `message` is its own text.
    case api(status: Int, message: String)
    /// An answer that is not what the API documents.
    case invalidResponse(String)

    public var description: String {
        switch self {
        case .invalidHost(let text): return text
        case .transport(let text): return "docker: \(text)"
        case .api(let status, let message): return "docker: \(message) (HTTP \(status))"
        case .invalidResponse(let text): return "docker: unexpected answer: \(text)"
        }
    }

    /// True for an API "no such …" answer.
    public var isNotFound: Bool {
        if case .api(404, _) = self { return true }
        return false
    }
}

/// Where the Engine listens: `unix:///var/run/docker.sock` (or a bare absolute path).
public struct DockerHost: Sendable, Equatable {
    public var socketPath: String

    public init(socketPath: String) {
        self.socketPath = socketPath
    }

    public static func parse(_ text: String) throws(DockerEngineError) -> DockerHost {
        let trimmed = text.trimmingWhitespace
        if trimmed.isEmpty { throw .invalidHost("docker: no host given (e.g. unix:///var/run/docker.sock)") }
        var path = trimmed
        if trimmed.hasPrefix("unix://") {
            path = String(trimmed.dropFirst("unix://".count))
        } else if trimmed.contains("://") {
            throw .invalidHost("docker: host \(trimmed) is not supported: only unix:// sockets are (e.g. unix:///var/run/docker.sock)")
        }
        guard path.hasPrefix("/"), path.count > 1 else {
            throw .invalidHost("docker: host \(trimmed) must name an absolute socket path (unix:///var/run/docker.sock)")
        }
        // sockaddr_un.sun_path is 108 bytes with its NUL.
        guard path.utf8.count < 108 else { throw .invalidHost("docker: socket path too long: \(path)") }
        return DockerHost(socketPath: path)
    }
}

/// A request body libcurl pulls from on the request's thread.
public protocol RequestBodySource: AnyObject {
    /// Bytes in total (sent as Content-Length).
    var length: Int64 { get }
    /// Fills `buffer`; returns how many bytes were written, 0 at the end.
    func read(into buffer: UnsafeMutableRawBufferPointer) throws -> Int
}

/// A body already in memory.
public final class BytesBody: RequestBodySource {
    private var upload: CurlUploadBytes

    public init(_ bytes: [UInt8]) { upload = CurlUploadBytes(bytes) }

    public var length: Int64 { Int64(upload.bytes.count) }

    public func read(into buffer: UnsafeMutableRawBufferPointer) throws -> Int {
        upload.read(into: buffer)
    }
}

/// One HTTP exchange with the Engine.
struct EngineRequest: Sendable {
    var method: String
    /// Path and query, without the API version prefix.
    var target: String
    var contentType: String?
    /// Made on the request's thread (it may open files).
    var body: (@Sendable () throws -> any RequestBodySource)?
    /// Receives the body of a 2xx answer as it arrives instead of it being collected; throwing
    /// aborts the request with that error.
    var stream: (@Sendable (UnsafeRawBufferPointer) throws -> Void)?
}

struct EngineResponse: Sendable {
    var status: Int
    /// The collected body (error bodies always; 2xx bodies unless streamed).
    var body: [UInt8]
}

/// One libcurl transfer over the Engine's unix socket, confined to the thread that runs it.
final class UnixSocketTransfer {
    private let socketPath: String
    private let url: String
    private let request: EngineRequest
    private var collected: [UInt8] = []
    private var status = 0

    /// Error answers are kept only up to this size (their message is what matters).
    static let errorBodyLimit = 64 * 1024

    init(socketPath: String, url: String, request: EngineRequest) {
        self.socketPath = socketPath
        self.url = url
        self.request = request
    }

    /// Blocks until the exchange is over.
    func run(_ easy: CurlEasy) throws -> EngineResponse {
        let body = try request.body?()
        do throws(CurlError) {
            try easy.set(CURLOPT_UNIX_SOCKET_PATH, socketPath)
            try easy.set(CURLOPT_URL, url)
            try easy.set(CURLOPT_PROTOCOLS_STR, "http")
            try easy.set(CURLOPT_CONNECTTIMEOUT_MS, 10_000)
            try easy.set(CURLOPT_CUSTOMREQUEST, request.method)
            // Without "Expect:" libcurl waits for "100 Continue" before sending a large body.
            try easy.set(CURLOPT_HTTPHEADER, list: ["Expect:"] + (request.contentType.map { ["Content-Type: \($0)"] } ?? []))
            if let body {
                // UPLOAD with CUSTOMREQUEST sends the body with the method asked for.
                try easy.set(CURLOPT_UPLOAD, 1)
                try easy.set(CURLOPT_INFILESIZE_LARGE, large: body.length)
            } else if request.method == "POST" || request.method == "PUT" {
                // An empty body, announced as such.
                try easy.set(CURLOPT_POSTFIELDSIZE, 0)
                try easy.set(CURLOPT_POSTFIELDS, "")
            }
        } catch {
            throw DockerEngineError.transport("libcurl: cannot set up the request: \(error.message)")
        }
        easy.onBody = { bytes in try self.receive(bytes, easy) }
        if let body { easy.onSend = { buffer in try body.read(into: buffer) } }
        // A cancelled request notices at the next progress callback, about once a second even
        // on an idle connection (while it waits for a container).
        do {
            try easy.perform()
        } catch let error as CurlError {
            throw DockerEngineError.transport("\(request.method) \(request.target): \(error.message) (socket \(socketPath))")
        }
        return EngineResponse(status: easy.responseCode, body: collected)
    }

    /// The body callback: a 2xx body goes to `request.stream` when there is one (its error
    /// aborts the request), any other body is collected.
    private func receive(_ bytes: UnsafeRawBufferPointer, _ easy: CurlEasy) throws {
        if status == 0 { status = easy.responseCode }
        if let stream = request.stream, (200..<300).contains(status) {
            try stream(bytes)
            return
        }
        let room = (200..<300).contains(status) ? bytes.count : max(0, Self.errorBodyLimit - collected.count)
        collected += bytes.prefix(room)
    }
}

extension String {
    var trimmingWhitespace: String {
        var text = Substring(self)
        while let first = text.first, first.isWhitespace { text.removeFirst() }
        while let last = text.last, last.isWhitespace { text.removeLast() }
        return String(text)
    }
}
