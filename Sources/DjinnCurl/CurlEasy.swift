#if canImport(Glibc)
import Glibc
#endif
import BlockingIO
import CCurl
import Synchronization

/// A libcurl failure: its code and the best text for it (the handle's error buffer when
/// libcurl filled it, else `curl_easy_strerror`).
public struct CurlError: Error, Sendable, Equatable, CustomStringConvertible {
    public var code: CURLcode
    public var message: String

    public init(code: CURLcode, message: String) {
        self.code = code
        self.message = message
    }

    init(code: CURLcode, detail: String = "") {
        self.init(code: code, message: detail.isEmpty ? String(cString: curl_easy_strerror(code)) : detail)
    }

    public var description: String { message }
}

/// Set from any thread to make a running transfer stop at its next libcurl callback.
final class CurlCancelFlag: Sendable {
    private let flag = Atomic<Bool>(false)

    func cancel() { flag.store(true, ordering: .relaxed) }
    var isCancelled: Bool { flag.load(ordering: .relaxed) }
}

/// One libcurl easy handle, confined to the `BlockingThread` that `CurlEasy.run` made for it.
///
/// The handle comes with what every caller needs: no signals (many transfers run at once on
/// their own threads, and no SIGALRM for DNS time-outs), no proxy from the environment, an
/// error buffer, and all four callbacks bridged to the closures below. Cancelling the task
/// that awaits `run` aborts the transfer at the next callback (the progress callback comes
/// about once a second even on an idle connection) and `perform()` throws
/// `CancellationError`.
public final class CurlEasy {
    /// Response body bytes as they arrive; throwing aborts the transfer and `perform()`
    /// rethrows that error. Unset: the body is read and dropped.
    public var onBody: ((UnsafeRawBufferPointer) throws -> Void)?
    /// Each response header line (status lines included, CRLF still attached); throwing
    /// aborts as for `onBody`.
    public var onHeader: ((UnsafeRawBufferPointer) throws -> Void)?
    /// Fills the buffer with request body bytes (uploads, POST without POSTFIELDS) and
    /// returns their count, 0 at the end; throwing aborts as for `onBody`. Unset: no body.
    public var onSend: ((UnsafeMutableRawBufferPointer) throws -> Int)?
    /// Progress: the announced download size (0 when unknown) and the bytes received so far.
    public var onProgress: ((_ downloadTotal: Int64, _ downloaded: Int64) -> Void)?

    private var handle: UnsafeMutableRawPointer?
    private let cancel: CurlCancelFlag
    private let errorBuffer: UnsafeMutablePointer<CChar>
    /// String lists handed to libcurl (headers, mail recipients): they must live as long as
    /// the handle.
    private var lists: [UnsafeMutablePointer<curl_slist>] = []
    /// The first error a callback threw during the current `perform()`.
    private var callbackError: (any Error)?

    private init(cancel: CurlCancelFlag) throws(CurlError) {
        guard CurlGlobal.ready else { throw CurlError(code: CURLE_FAILED_INIT, message: "libcurl could not be initialised") }
        guard let handle = curl_easy_init() else { throw CurlError(code: CURLE_OUT_OF_MEMORY, message: "libcurl: out of memory") }
        self.handle = handle
        self.cancel = cancel
        errorBuffer = .allocate(capacity: Int(CURL_ERROR_SIZE) + 1)
        errorBuffer[0] = 0
        do {
            try installDefaults(handle)
        } catch {
            close()
            throw error
        }
    }

    deinit { close() }

    /// Runs `body` with a fresh handle on a `BlockingThread` of its own (never the cooperative
    /// pool), SIGPIPE blocked there; the handle is cleaned up on that thread when `body`
    /// returns. Throws `CurlError` when no handle can be made, else what `body` throws.
    public static func run<T: Sendable>(
        threadName: String, _ body: @escaping @Sendable (CurlEasy) throws -> T
    ) async throws -> T {
        let cancel = CurlCancelFlag()
        let thread = BlockingThread(name: threadName)
        defer { thread.shutdown() }
        return try await withTaskCancellationHandler {
            try await thread.run { () throws -> T in
                blockSIGPIPEOnThisThread()
                let easy = try CurlEasy(cancel: cancel)
                // The callbacks may hold the caller's objects (and this handle): let go of them here.
                defer { easy.close() }
                return try body(easy)
            }
        } onCancel: {
            cancel.cancel()
        }
    }

    // MARK: Options

    /// A `long` option.
    public func set(_ option: CURLoption, _ value: Int) throws(CurlError) {
        try check(djinn_curl_setopt_long(try live(), option, value))
    }

    /// A string option (libcurl copies it).
    public func set(_ option: CURLoption, _ value: String) throws(CurlError) {
        try check(djinn_curl_setopt_string(try live(), option, value))
    }

    /// A `curl_off_t` option (the `…_LARGE` sizes).
    public func set(_ option: CURLoption, large value: Int64) throws(CurlError) {
        try check(djinn_curl_setopt_off_t(try live(), option, curl_off_t(value)))
    }

    /// A time-out option in milliseconds (`…_MS`), at least 1 (0 would mean none).
    public func set(_ option: CURLoption, milliseconds duration: Duration) throws(CurlError) {
        let (seconds, attoseconds) = duration.components
        try set(option, max(1, Int(seconds * 1000 + attoseconds / 1_000_000_000_000_000)))
    }

    /// A string-list option (`CURLOPT_HTTPHEADER`, `CURLOPT_MAIL_RCPT`); the list is kept
    /// until the handle is cleaned up.
    public func set(_ option: CURLoption, list items: [String]) throws(CurlError) {
        var list: UnsafeMutablePointer<curl_slist>?
        for item in items {
            guard let longer = curl_slist_append(list, item) else {
                curl_slist_free_all(list)
                throw CurlError(code: CURLE_OUT_OF_MEMORY, message: "libcurl: out of memory")
            }
            list = longer
        }
        if let list { lists.append(list) }
        try check(djinn_curl_setopt_pointer(try live(), option, list.map { UnsafeMutableRawPointer($0) }))
    }

    // MARK: Running

    /// Runs the transfer with the options set so far; may be called again (redirects followed
    /// by hand). Throws `CancellationError` when cancelled (whatever libcurl said), else the
    /// error a callback threw, else `CurlError` when libcurl failed.
    public func perform() throws {
        let handle = try live()
        errorBuffer[0] = 0
        callbackError = nil
        let code = withExtendedLifetime(self) { curl_easy_perform(handle) }
        if cancel.isCancelled { throw CancellationError() }
        if let callbackError { throw callbackError }
        guard code == CURLE_OK else { throw CurlError(code: code, detail: String(cString: errorBuffer)) }
    }

    /// The last response's status (HTTP) or reply code (SMTP …); 0 before any.
    public var responseCode: Int {
        var code = 0
        if let handle { _ = djinn_curl_getinfo_long(handle, CURLINFO_RESPONSE_CODE, &code) }
        return code
    }

    /// A string-valued info (`CURLINFO_CONTENT_TYPE`, `CURLINFO_REDIRECT_URL` …), copied.
    public func info(_ info: CURLINFO) -> String? {
        guard let handle else { return nil }
        var value: UnsafeMutablePointer<CChar>?
        guard djinn_curl_getinfo_string(handle, info, &value) == CURLE_OK, let value else { return nil }
        return String(cString: value)
    }

    // MARK: Internals

    private func live() throws(CurlError) -> UnsafeMutableRawPointer {
        guard let handle else { throw CurlError(code: CURLE_FAILED_INIT, message: "libcurl: the handle is closed") }
        return handle
    }

    private func check(_ code: CURLcode) throws(CurlError) {
        guard code == CURLE_OK else { throw CurlError(code: code) }
    }

    private func installDefaults(_ handle: UnsafeMutableRawPointer) throws(CurlError) {
        try set(CURLOPT_NOSIGNAL, 1)
        try set(CURLOPT_PROXY, "")
        try check(djinn_curl_setopt_pointer(handle, CURLOPT_ERRORBUFFER, errorBuffer))
        let context = Unmanaged.passUnretained(self).toOpaque()
        try check(djinn_curl_setopt_pointer(handle, CURLOPT_WRITEDATA, context))
        try check(djinn_curl_setopt_write_function(handle) { data, size, count, context in
            guard let context else { return 0 }
            return Unmanaged<CurlEasy>.fromOpaque(context).takeUnretainedValue()
                .receive(UnsafeRawBufferPointer(start: data, count: size * count), header: false)
        })
        try check(djinn_curl_setopt_pointer(handle, CURLOPT_HEADERDATA, context))
        try check(djinn_curl_setopt_header_function(handle) { data, size, count, context in
            guard let context else { return 0 }
            return Unmanaged<CurlEasy>.fromOpaque(context).takeUnretainedValue()
                .receive(UnsafeRawBufferPointer(start: data, count: size * count), header: true)
        })
        try check(djinn_curl_setopt_pointer(handle, CURLOPT_READDATA, context))
        try check(djinn_curl_setopt_read_function(handle) { data, size, count, context in
            guard let context, let data else { return djinn_curl_readfunc_abort }
            return Unmanaged<CurlEasy>.fromOpaque(context).takeUnretainedValue()
                .send(UnsafeMutableRawBufferPointer(start: data, count: size * count))
        })
        try check(djinn_curl_setopt_pointer(handle, CURLOPT_XFERINFODATA, context))
        try check(djinn_curl_setopt_xferinfo_function(handle) { context, total, now, _, _ in
            guard let context else { return 1 }
            return Unmanaged<CurlEasy>.fromOpaque(context).takeUnretainedValue().progress(total: Int64(total), now: Int64(now))
        })
        try set(CURLOPT_NOPROGRESS, 0)
    }

    /// The write and header callbacks: the count to go on, anything else aborts.
    private func receive(_ bytes: UnsafeRawBufferPointer, header: Bool) -> Int {
        if cancel.isCancelled && !header { return 0 }
        guard let consumer = header ? onHeader : onBody else { return bytes.count }
        do {
            try consumer(bytes)
        } catch {
            callbackError = callbackError ?? error
            return 0
        }
        return bytes.count
    }

    /// The read callback: bytes put in `buffer`, 0 at the end, or the abort value.
    private func send(_ buffer: UnsafeMutableRawBufferPointer) -> Int {
        if cancel.isCancelled { return djinn_curl_readfunc_abort }
        guard let onSend else { return 0 }
        do {
            return try onSend(buffer)
        } catch {
            callbackError = callbackError ?? error
            return djinn_curl_readfunc_abort
        }
    }

    /// The progress callback: non-zero aborts (cancellation).
    private func progress(total: Int64, now: Int64) -> Int32 {
        if cancel.isCancelled { return 1 }
        onProgress?(total, now)
        return 0
    }

    /// Cleans the handle up and lets go of the callbacks; idempotent.
    private func close() {
        onBody = nil
        onHeader = nil
        onSend = nil
        onProgress = nil
        if let handle {
            curl_easy_cleanup(handle)
            self.handle = nil
            errorBuffer.deallocate()
        }
        for list in lists { curl_slist_free_all(list) }
        lists = []
    }

    /// libcurl (and libssh2 below it) writes to sockets; a peer that went away must not raise
    /// SIGPIPE, which would end the process. Blocked per thread: the write fails with EPIPE.
    private static func blockSIGPIPEOnThisThread() {
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
