import BlockingIO
import CCurl
import Foundation
import Synchronization

/// Set from any thread to make a running libcurl call stop at its next progress callback.
final class CancelFlag: Sendable {
    private let flag = Atomic<Bool>(false)

    func cancel() { flag.store(true, ordering: .relaxed) }
    var isCancelled: Bool { flag.load(ordering: .relaxed) }
}

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

/// One libcurl easy transfer, confined to the thread that runs it: uploads `upload` (the
/// request body or the mail), collects the response headers and up to `bodyLimit` bytes of
/// the response body, and aborts when `cancel` is set.
final class CurlCall {
    private let upload: [UInt8]
    private var uploaded = 0
    private let cancel: CancelFlag
    private let bodyLimit: Int
    private(set) var responseBody: [UInt8] = []
    private(set) var headerLines: [String] = []

    init(upload: [UInt8], cancel: CancelFlag, bodyLimit: Int) {
        self.upload = upload
        self.cancel = cancel
        self.bodyLimit = bodyLimit
    }

    /// Runs `configure` on a fresh handle, then the transfer. Returns the handle's response
    /// code on success. Blocks: call it on a BlockingThread.
    func perform(_ configure: (UnsafeMutableRawPointer) -> CURLcode) -> Result<Int, TransportError> {
        guard CurlGlobal.ready else { return .failure(.failed("libcurl could not be initialised")) }
        guard let handle = curl_easy_init() else { return .failure(.failed("libcurl: out of memory")) }
        let errorBuffer = UnsafeMutablePointer<CChar>.allocate(capacity: Int(CURL_ERROR_SIZE) + 1)
        errorBuffer[0] = 0
        defer {
            curl_easy_cleanup(handle)
            errorBuffer.deallocate()
        }
        return withExtendedLifetime(self) { () -> Result<Int, TransportError> in
            var status = configure(handle)
            let context = Unmanaged.passUnretained(self).toOpaque()
            func setPointer(_ option: CURLoption, _ value: UnsafeMutableRawPointer) {
                if status == CURLE_OK { status = djinn_curl_setopt_pointer(handle, option, value) }
            }
            setPointer(CURLOPT_ERRORBUFFER, UnsafeMutableRawPointer(errorBuffer))
            setPointer(CURLOPT_READDATA, context)
            setPointer(CURLOPT_WRITEDATA, context)
            setPointer(CURLOPT_HEADERDATA, context)
            setPointer(CURLOPT_XFERINFODATA, context)
            if status == CURLE_OK {
                status = djinn_curl_setopt_read_function(handle) { data, size, count, context in
                    guard let data, let context else { return 0 }
                    return Unmanaged<CurlCall>.fromOpaque(context).takeUnretainedValue().read(into: data, capacity: size * count)
                }
            }
            if status == CURLE_OK {
                status = djinn_curl_setopt_write_function(handle) { data, size, count, context in
                    guard let context else { return 0 }
                    let call = Unmanaged<CurlCall>.fromOpaque(context).takeUnretainedValue()
                    return call.receiveBody(UnsafeRawBufferPointer(start: data, count: size * count))
                }
            }
            if status == CURLE_OK {
                status = djinn_curl_setopt_header_function(handle) { data, size, count, context in
                    guard let context else { return 0 }
                    let call = Unmanaged<CurlCall>.fromOpaque(context).takeUnretainedValue()
                    return call.receiveHeader(UnsafeRawBufferPointer(start: data, count: size * count))
                }
            }
            if status == CURLE_OK {
                status = djinn_curl_setopt_xferinfo_function(handle) { context, _, _, _, _ in
                    guard let context else { return 1 }
                    return Unmanaged<CurlCall>.fromOpaque(context).takeUnretainedValue().cancel.isCancelled ? 1 : 0
                }
            }
            if status == CURLE_OK { status = djinn_curl_setopt_long(handle, CURLOPT_NOPROGRESS, 0) }
            // Many calls run at once on their own threads: no signals (nor SIGALRM for DNS).
            if status == CURLE_OK { status = djinn_curl_setopt_long(handle, CURLOPT_NOSIGNAL, 1) }
            guard status == CURLE_OK else {
                return .failure(.failed("libcurl: cannot set up the request: \(String(cString: curl_easy_strerror(status)))"))
            }
            let code = curl_easy_perform(handle)
            if cancel.isCancelled { return .failure(.cancelled) }
            guard code == CURLE_OK else {
                let detail = String(cString: errorBuffer)
                return .failure(.failed(detail.isEmpty ? String(cString: curl_easy_strerror(code)) : detail))
            }
            var response = 0
            _ = djinn_curl_getinfo_long(handle, CURLINFO_RESPONSE_CODE, &response)
            return .success(response)
        }
    }

    /// Response headers of the last response (after redirects), without the status line.
    var responseHeaders: [HTTPHeader] {
        var headers: [HTTPHeader] = []
        for line in headerLines {
            // A new status line starts a new response (redirects, 100 Continue).
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

    private func read(into buffer: UnsafeMutablePointer<CChar>, capacity: Int) -> Int {
        let count = min(capacity, upload.count - uploaded)
        guard count > 0 else { return 0 }
        upload.withUnsafeBytes { bytes in
            UnsafeMutableRawPointer(buffer).copyMemory(from: bytes.baseAddress! + uploaded, byteCount: count)
        }
        uploaded += count
        return count
    }

    private func receiveBody(_ bytes: UnsafeRawBufferPointer) -> Int {
        if cancel.isCancelled { return 0 }
        let room = bodyLimit - responseBody.count
        if room > 0 { responseBody.append(contentsOf: bytes.prefix(room)) }
        return bytes.count
    }

    private func receiveHeader(_ bytes: UnsafeRawBufferPointer) -> Int {
        let line = String(decoding: bytes, as: UTF8.self).trimmingCharacters(in: .newlines)
        if !line.isEmpty { headerLines.append(line) }
        return bytes.count
    }

    /// Runs a blocking libcurl call on a thread of its own; cancelling the task aborts it.
    static func run<T: Sendable>(
        name: String, cancel: CancelFlag = CancelFlag(), _ body: @escaping @Sendable (CancelFlag) -> T
    ) async throws -> T {
        let thread = BlockingThread(name: name)
        defer { thread.shutdown() }
        return try await withTaskCancellationHandler {
            try await thread.run { () -> T in
                blockSIGPIPEOnThisThread()
                return body(cancel)
            }
        } onCancel: {
            cancel.cancel()
        }
    }

    /// A peer that went away must not raise SIGPIPE (which ends the process): blocked per
    /// thread, the write fails with EPIPE instead.
    static func blockSIGPIPEOnThisThread() {
        var set = sigset_t()
        sigemptyset(&set)
        sigaddset(&set, SIGPIPE)
        pthread_sigmask(SIG_BLOCK, &set, nil)
    }
}

/// `curl_global_init` once per process, before the first handle.
enum CurlGlobal {
    static let ready: Bool = curl_global_init(djinn_curl_global_default) == CURLE_OK
}

/// A NULL-terminated libcurl string list, freed on deinit.
final class CurlStringList {
    private(set) var pointer: UnsafeMutablePointer<curl_slist>?

    init(_ items: [String]) {
        for item in items { pointer = curl_slist_append(pointer, item) }
    }

    deinit { curl_slist_free_all(pointer) }
}

extension Duration {
    var milliseconds: Int64 {
        let (seconds, attoseconds) = components
        return seconds * 1000 + attoseconds / 1_000_000_000_000_000
    }
}
