#if canImport(Glibc)
import Glibc
#endif
import CCurl
import Synchronization

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

/// Set from any thread to make a running request stop at its next libcurl callback.
final class CancelFlag: Sendable {
    private let flag = Atomic<Bool>(false)

    func cancel() { flag.store(true, ordering: .relaxed) }
    var isCancelled: Bool { flag.load(ordering: .relaxed) }
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
    private let bytes: [UInt8]
    private var offset = 0

    public init(_ bytes: [UInt8]) { self.bytes = bytes }

    public var length: Int64 { Int64(bytes.count) }

    public func read(into buffer: UnsafeMutableRawBufferPointer) throws -> Int {
        let count = min(buffer.count, bytes.count - offset)
        guard count > 0 else { return 0 }
        bytes.withUnsafeBytes { source in
            buffer.baseAddress!.copyMemory(from: source.baseAddress! + offset, byteCount: count)
        }
        offset += count
        return count
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
    private let cancel: CancelFlag
    private var handle: UnsafeMutableRawPointer?
    private var body: (any RequestBodySource)?
    private var collected: [UInt8] = []
    private var streamError: (any Error)?
    private var bodyError: (any Error)?
    private var status = 0

    /// Error answers are kept only up to this size (their message is what matters).
    static let errorBodyLimit = 64 * 1024

    init(socketPath: String, url: String, request: EngineRequest, cancel: CancelFlag) {
        self.socketPath = socketPath
        self.url = url
        self.request = request
        self.cancel = cancel
    }

    /// Blocks until the exchange is over.
    func run() throws -> EngineResponse {
        guard CurlGlobal.ready else { throw DockerEngineError.transport("libcurl could not be initialised") }
        guard let handle = curl_easy_init() else { throw DockerEngineError.transport("libcurl: out of memory") }
        self.handle = handle
        let errorBuffer = UnsafeMutablePointer<CChar>.allocate(capacity: Int(CURL_ERROR_SIZE) + 1)
        errorBuffer[0] = 0
        var headers: UnsafeMutablePointer<curl_slist>?
        defer {
            curl_easy_cleanup(handle)
            curl_slist_free_all(headers)
            self.handle = nil
            errorBuffer.deallocate()
        }
        if let makeBody = request.body { body = try makeBody() }
        // Without this libcurl waits for "100 Continue" before sending a large body.
        headers = curl_slist_append(headers, "Expect:")
        if let contentType = request.contentType { headers = curl_slist_append(headers, "Content-Type: \(contentType)") }

        return try withExtendedLifetime(self) { () throws -> EngineResponse in
            var code = CURLE_OK
            func set(_ option: CURLoption, _ value: Int) {
                if code == CURLE_OK { code = djinn_curl_setopt_long(handle, option, value) }
            }
            func set(_ option: CURLoption, _ value: String) {
                if code == CURLE_OK { code = djinn_curl_setopt_string(handle, option, value) }
            }
            set(CURLOPT_UNIX_SOCKET_PATH, socketPath)
            set(CURLOPT_URL, url)
            set(CURLOPT_PROTOCOLS_STR, "http")
            set(CURLOPT_NOSIGNAL, 1)
            set(CURLOPT_PROXY, "")
            set(CURLOPT_CONNECTTIMEOUT_MS, 10_000)
            set(CURLOPT_CUSTOMREQUEST, request.method)
            if code == CURLE_OK { code = djinn_curl_setopt_header_list(handle, headers) }
            if code == CURLE_OK { code = djinn_curl_setopt_pointer(handle, CURLOPT_ERRORBUFFER, errorBuffer) }
            let context = Unmanaged.passUnretained(self).toOpaque()
            if code == CURLE_OK { code = djinn_curl_setopt_pointer(handle, CURLOPT_WRITEDATA, context) }
            if code == CURLE_OK {
                code = djinn_curl_setopt_write_function(handle) { data, size, count, context in
                    guard let context else { return 0 }
                    let transfer = Unmanaged<UnixSocketTransfer>.fromOpaque(context).takeUnretainedValue()
                    return transfer.receive(UnsafeRawBufferPointer(start: data, count: size * count))
                }
            }
            if let body {
                // UPLOAD with CUSTOMREQUEST sends the body with the method asked for.
                set(CURLOPT_UPLOAD, 1)
                if code == CURLE_OK { code = djinn_curl_setopt_off_t(handle, CURLOPT_INFILESIZE_LARGE, curl_off_t(body.length)) }
                if code == CURLE_OK { code = djinn_curl_setopt_pointer(handle, CURLOPT_READDATA, context) }
                if code == CURLE_OK {
                    code = djinn_curl_setopt_read_function(handle) { data, size, count, context in
                        guard let context, let data else { return djinn_curl_readfunc_abort }
                        let transfer = Unmanaged<UnixSocketTransfer>.fromOpaque(context).takeUnretainedValue()
                        return transfer.send(UnsafeMutableRawBufferPointer(start: data, count: size * count))
                    }
                }
            } else if request.method == "POST" || request.method == "PUT" {
                // An empty body, announced as such.
                set(CURLOPT_POSTFIELDSIZE, 0)
                set(CURLOPT_POSTFIELDS, "")
            }
            if code == CURLE_OK { code = djinn_curl_setopt_pointer(handle, CURLOPT_XFERINFODATA, context) }
            if code == CURLE_OK {
                // Called about once a second even on an idle connection: that is how a
                // cancelled request notices while it waits for a container.
                code = djinn_curl_setopt_xferinfo_function(handle) { context, _, _, _, _ in
                    guard let context else { return 1 }
                    let transfer = Unmanaged<UnixSocketTransfer>.fromOpaque(context).takeUnretainedValue()
                    return transfer.cancel.isCancelled ? 1 : 0
                }
            }
            set(CURLOPT_NOPROGRESS, 0)
            guard code == CURLE_OK else {
                throw DockerEngineError.transport("libcurl: cannot set up the request: \(String(cString: curl_easy_strerror(code)))")
            }
            let result = curl_easy_perform(handle)
            if cancel.isCancelled { throw CancellationError() }
            if let streamError { throw streamError }
            if let bodyError { throw bodyError }
            guard result == CURLE_OK else {
                let detail = String(cString: errorBuffer)
                let text = detail.isEmpty ? String(cString: curl_easy_strerror(result)) : detail
                throw DockerEngineError.transport("\(request.method) \(request.target): \(text) (socket \(socketPath))")
            }
            return EngineResponse(status: responseCode(handle), body: collected)
        }
    }

    private func responseCode(_ handle: UnsafeMutableRawPointer) -> Int {
        var code = 0
        _ = djinn_curl_getinfo_long(handle, CURLINFO_RESPONSE_CODE, &code)
        return code
    }

    /// The write callback: the response body. Returns the count to go on, anything else aborts.
    private func receive(_ bytes: UnsafeRawBufferPointer) -> Int {
        if cancel.isCancelled { return 0 }
        if status == 0, let handle { status = responseCode(handle) }
        if let stream = request.stream, (200..<300).contains(status) {
            do {
                try stream(bytes)
            } catch {
                streamError = error
                return 0
            }
            return bytes.count
        }
        let room = (200..<300).contains(status) ? bytes.count : max(0, Self.errorBodyLimit - collected.count)
        collected += bytes.prefix(room)
        return bytes.count
    }

    /// The read callback: the request body.
    private func send(_ buffer: UnsafeMutableRawBufferPointer) -> Int {
        if cancel.isCancelled { return djinn_curl_readfunc_abort }
        guard let body else { return 0 }
        do {
            return try body.read(into: buffer)
        } catch {
            bodyError = error
            return djinn_curl_readfunc_abort
        }
    }
}

/// `curl_global_init` once per process, before the first handle.
enum CurlGlobal {
    static let ready: Bool = curl_global_init(djinn_curl_global_default) == CURLE_OK
}

extension String {
    var trimmingWhitespace: String {
        var text = Substring(self)
        while let first = text.first, first.isWhitespace { text.removeFirst() }
        while let last = text.last, last.isWhitespace { text.removeLast() }
        return String(text)
    }
}
