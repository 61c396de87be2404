#if canImport(Glibc)
import Glibc
#endif
import CCurl
import DjinnCurl
import Foundation
import Testing

/// The shared libcurl core against real transfers: file:// (no server needed) and a
/// loopback listener that never answers (for cancellation).
@Suite struct CurlEasyTests {
    struct Refused: Error, Equatable {}

    private func temporaryPath(_ name: String) -> String {
        FileManager.default.temporaryDirectory.appendingPathComponent("djinn-curl-\(UUID().uuidString)-\(name)").path
    }

    @Test func downloadsHandBytesToTheBodyCallback() async throws {
        let path = temporaryPath("source")
        defer { unlink(path) }
        let content = Array((0..<200_000).map { UInt8($0 % 251) })
        try Data(content).write(to: URL(fileURLWithPath: path))
        let received = try await CurlEasy.run(threadName: "curl-test") { easy -> [UInt8] in
            var bytes: [UInt8] = []
            try easy.set(CURLOPT_URL, "file://\(path)")
            try easy.set(CURLOPT_HTTPHEADER, list: ["X-Unused: for file://"])
            easy.onBody = { bytes.append(contentsOf: $0) }
            try easy.perform()
            return bytes
        }
        #expect(received == content)
    }

    @Test func uploadsPullFromTheSendCallback() async throws {
        let path = temporaryPath("upload")
        defer { unlink(path) }
        let content = Array("a mail, or a request body\n".utf8)
        try await CurlEasy.run(threadName: "curl-test") { easy in
            var sent = 0
            try easy.set(CURLOPT_URL, "file://\(path)")
            try easy.set(CURLOPT_UPLOAD, 1)
            try easy.set(CURLOPT_INFILESIZE_LARGE, large: Int64(content.count))
            easy.onSend = { buffer in
                let count = min(buffer.count, content.count - sent)
                buffer.copyBytes(from: content[sent..<sent + count])
                sent += count
                return count
            }
            try easy.perform()
        }
        #expect(try Data(contentsOf: URL(fileURLWithPath: path)) == Data(content))
    }

    @Test func uploadBytesComeOutInOrderAcrossSmallBuffers() {
        let content = Array((0..<1000).map { UInt8($0 % 256) })
        var upload = CurlUploadBytes(content)
        var out: [UInt8] = []
        var buffer = [UInt8](repeating: 0, count: 64)
        while true {
            let count = buffer.withUnsafeMutableBytes { upload.read(into: $0) }
            if count == 0 { break }
            out += buffer[..<count]
        }
        #expect(out == content)
        #expect(buffer.withUnsafeMutableBytes { upload.read(into: $0) } == 0)
    }

    @Test func aThrowingCallbackAbortsTheTransferWithItsError() async throws {
        let path = temporaryPath("source")
        defer { unlink(path) }
        try Data(repeating: 7, count: 100_000).write(to: URL(fileURLWithPath: path))
        let calls = try await CurlEasy.run(threadName: "curl-test") { easy -> Int in
            var calls = 0
            try easy.set(CURLOPT_URL, "file://\(path)")
            easy.onBody = { _ in
                calls += 1
                throw Refused()
            }
            #expect(throws: Refused.self) { try easy.perform() }
            return calls
        }
        #expect(calls == 1)
    }

    @Test func aFailedTransferThrowsLibcurlsCodeAndText() async throws {
        let error = try await CurlEasy.run(threadName: "curl-test") { easy -> CurlError? in
            try easy.set(CURLOPT_URL, "file:///nonexistent/djinn-curl-test")
            do {
                try easy.perform()
                return nil
            } catch let error as CurlError {
                return error
            }
        }
        #expect(error?.code == CURLE_FILE_COULDNT_READ_FILE)
        #expect(error?.message.isEmpty == false)
    }

    @Test func aRefusedOptionThrowsBeforeAnyTransfer() async throws {
        await #expect(throws: CurlError.self) {
            try await CurlEasy.run(threadName: "curl-test") { easy in
                try easy.set(CURLOPT_PROTOCOLS_STR, "no-such-protocol")
            }
        }
    }

    /// A server that accepts (the kernel's backlog does) and never answers: the transfer waits
    /// until the task is cancelled, then stops at the next progress callback.
    @Test func cancellingTheTaskStopsAWaitingTransfer() async throws {
        let listener = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        #expect(listener >= 0)
        defer { close(listener) }
        var address = sockaddr_in()
        address.sin_family = sa_family_t(AF_INET)
        address.sin_addr.s_addr = inet_addr("127.0.0.1")
        var length = socklen_t(MemoryLayout<sockaddr_in>.size)
        let bound = withUnsafeMutablePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { pointer in
                bind(listener, pointer, length) == 0 && listen(listener, 4) == 0
                    && getsockname(listener, pointer, &length) == 0
            }
        }
        #expect(bound)
        let port = Int(UInt16(bigEndian: address.sin_port))

        let transfer = Task {
            try await CurlEasy.run(threadName: "curl-test") { easy in
                try easy.set(CURLOPT_URL, "http://127.0.0.1:\(port)/")
                try easy.perform()
            }
        }
        try await Task.sleep(for: .milliseconds(300))
        // Without the cancellation the transfer would wait for ever (libcurl's default has no
        // timeout); the bound is generous because 500 other tests share two cores here.
        let cancelled = ContinuousClock.now
        transfer.cancel()
        await #expect(throws: CancellationError.self) { try await transfer.value }
        #expect(ContinuousClock.now - cancelled < .seconds(30))
    }
}
