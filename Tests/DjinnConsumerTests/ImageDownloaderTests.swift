import DjinnTesting
import Foundation
import Logging
import Testing

@testable import DjinnConsumer

/// ImageDownloader against the real test HTTP server: what lands in the store, what the
/// error says, and that nothing but a complete valid image is ever left behind.
@Suite struct ImageDownloaderTests {
    let downloader = ImageDownloader(
        options: .init(connectTimeout: .seconds(5), lowSpeedTime: .seconds(10)), logger: quietLogger)

    func expectFailure(
        _ url: String, limit: Int64 = 0, permanent: Bool, message: String? = nil,
        sourceLocation: SourceLocation = #_sourceLocation
    ) async throws {
        let store = try TestStore()
        defer { store.remove() }
        do {
            try await downloader.download(DownloadSource(url), to: store.destination(limit: limit))
            Issue.record("\(url) downloaded", sourceLocation: sourceLocation)
        } catch let error as DownloadError {
            #expect(error.isPermanent == permanent, "\(error)", sourceLocation: sourceLocation)
            if let message { #expect(error.message == message, sourceLocation: sourceLocation) }
        }
        #expect(store.files() == [], sourceLocation: sourceLocation)
    }

    @Test func aValidImageLandsUnderUserDriverHash() async throws {
        let server = try await TestHTTPServer.shared()
        let store = try TestStore()
        defer { store.remove() }
        let bytes = try await downloader.download(
            DownloadSource(server.url("/image.qcow2?size=300000")), to: store.destination(userID: 7, hash: "h1"))
        #expect(bytes == 300_000)
        #expect(store.files() == ["7/qemu/h1"])
        #expect(store.contents("7/qemu/h1") == qcow2Body(size: 300_000))
        var info = stat()
        #expect(stat("\(store.path)/7/qemu", &info) == 0 && info.st_mode & 0o777 == 0o750)
    }

    @Test func basicAuthFromTheURLUserinfo() async throws {
        let server = try await TestHTTPServer.shared()
        let store = try TestStore()
        defer { store.remove() }
        try await downloader.download(DownloadSource(server.authURL("/auth/image.qcow2?size=5000")), to: store.destination())
        #expect(store.contents("1/qemu/abc123") == qcow2Body(size: 5000))
        try await expectFailure(server.url("/auth/image.qcow2"), permanent: true, message: "unexpected HTTP status 401, expected 2xx")
        try await expectFailure(
            "http://alice:wrong@127.0.0.1:\(server.port)/auth/image.qcow2", permanent: true,
            message: "unexpected HTTP status 401, expected 2xx")
    }

    @Test func wrongContentTypeIsPermanent() async throws {
        let server = try await TestHTTPServer.shared()
        try await expectFailure(
            server.url("/wrong-type"), permanent: true, message: "unexpected Content-Type, expected application/x-qemu-disk")
    }

    @Test func statusCodes() async throws {
        let server = try await TestHTTPServer.shared()
        try await expectFailure(server.url("/missing"), permanent: true, message: "unexpected HTTP status 404, expected 2xx")
        try await expectFailure(server.url("/error"), permanent: false, message: "unexpected HTTP status 500, expected 2xx")
    }

    @Test func aConnectionCutMidBodyIsTransientAndLeavesNothing() async throws {
        let server = try await TestHTTPServer.shared()
        try await expectFailure(server.url("/cut?size=500000&after=100000"), permanent: false)
    }

    @Test func overTheLimitIsPermanentWhetherAnnouncedOrStreamed() async throws {
        let server = try await TestHTTPServer.shared()
        let message = "file too large, cannot exceed 64 KB"
        // Content-Length over the limit: refused before the body.
        try await expectFailure(server.url("/image.qcow2?size=200000"), limit: 65536, permanent: true, message: message)
        // No Content-Length: stopped while streaming.
        try await expectFailure(server.url("/unsized?size=200000"), limit: 65536, permanent: true, message: message)
        // Exactly the limit is fine.
        let store = try TestStore()
        defer { store.remove() }
        try await downloader.download(DownloadSource(server.url("/unsized?size=65536")), to: store.destination(limit: 65536))
        #expect(store.files() == ["1/qemu/abc123"])
    }

    @Test func aBodyWithoutTheQCOW2MagicIsPermanent() async throws {
        let server = try await TestHTTPServer.shared()
        try await expectFailure(server.url("/not-qcow2?size=100000"), permanent: true, message: "not a valid qcow2 file")
        try await expectFailure(server.url("/not-qcow2?size=2"), permanent: true, message: "not a valid qcow2 file")
        try await expectFailure(server.url("/empty"), permanent: true, message: "not a valid qcow2 file")
        try await expectFailure(server.url("/image.qcow2?size=3"), permanent: true, message: "not a valid qcow2 file")
    }

    @Test func unsupportedSchemesAreRefusedBeforeAnyTransfer() async throws {
        for url in ["ftp://127.0.0.1/img", "file:///etc/passwd", "scp://h/img", "", "127.0.0.1/img", "gopher://h/"] {
            try await expectFailure(url, permanent: true, message: "image: invalid url scheme")
        }
    }

    @Test func aRefusedConnectionIsTransientAndNeverShowsThePassword() async throws {
        // A port that was free a moment ago: nothing listens there.
        let port = try unusedLoopbackPort()
        let store = try TestStore()
        defer { store.remove() }
        await #expect {
            try await downloader.download(
                DownloadSource("http://ann:hunter2-pw@127.0.0.1:\(port)/img"), to: store.destination())
        } throws: { error in
            guard let error = error as? DownloadError else { return false }
            return !error.isPermanent && !error.message.contains("hunter2")
        }
        #expect(store.files() == [])
    }

    @Test func redirectsAreFollowedOnlyToTheSameOrigin() async throws {
        let server = try await TestHTTPServer.shared()
        let store = try TestStore()
        defer { store.remove() }
        // Relative and absolute same-origin redirects, twice over.
        let inner = "/redirect?to=" + server.url("/image.qcow2?size=4096").addingPercentEncoding(withAllowedCharacters: .alphanumerics)!
        let outer = server.url("/redirect?to=" + inner.addingPercentEncoding(withAllowedCharacters: .alphanumerics)!)
        try await downloader.download(DownloadSource(outer), to: store.destination())
        #expect(store.contents("1/qemu/abc123") == qcow2Body(size: 4096))

        func redirect(to location: String) -> String {
            server.url("/redirect?to=" + location.addingPercentEncoding(withAllowedCharacters: .alphanumerics)!)
        }
        // Another host name for the same server, another scheme, a file.
        for location in [
            "http://localhost:\(server.port)/image.qcow2", "https://127.0.0.1:\(server.port)/image.qcow2", "file:///etc/passwd",
        ] {
            let store = try TestStore()
            defer { store.remove() }
            await #expect {
                try await downloader.download(DownloadSource(redirect(to: location)), to: store.destination())
            } throws: { error in
                (error as? DownloadError)?.isPermanent == true
            }
            #expect(store.files() == [])
        }
        // A loop ends.
        try await expectFailure(server.url("/loop"), permanent: true)
    }

    @Test func aFailedDownloadNeverReplacesAGoodImage() async throws {
        let server = try await TestHTTPServer.shared()
        let store = try TestStore()
        defer { store.remove() }
        let destination = store.destination(limit: 100_000)
        try await downloader.download(DownloadSource(server.url("/image.qcow2?size=1000")), to: destination)
        for path in ["/cut?size=50000&after=20000", "/not-qcow2", "/image.qcow2?size=200000", "/wrong-type", "/error"] {
            await #expect(throws: DownloadError.self) {
                try await downloader.download(DownloadSource(server.url(path)), to: destination)
            }
            #expect(store.files() == ["1/qemu/abc123"])
            #expect(store.contents("1/qemu/abc123") == qcow2Body(size: 1000))
        }
        // A good one replaces it.
        try await downloader.download(DownloadSource(server.url("/image.qcow2?size=2000")), to: destination)
        #expect(store.contents("1/qemu/abc123") == qcow2Body(size: 2000))
    }

    @Test func leftoversOfAnEarlierAttemptAreRemoved() async throws {
        let server = try await TestHTTPServer.shared()
        let store = try TestStore()
        defer { store.remove() }
        let destination = store.destination()
        try FileManager.default.createDirectory(atPath: destination.directory, withIntermediateDirectories: true)
        let leftover = "\(destination.directory)/.download-abc123-0123abcd"
        let otherImage = "\(destination.directory)/.download-other-0123abcd"
        _ = FileManager.default.createFile(atPath: leftover, contents: Data([1, 2, 3]))
        _ = FileManager.default.createFile(atPath: otherImage, contents: Data([1, 2, 3]))
        try await downloader.download(DownloadSource(server.url("/image.qcow2?size=100")), to: destination)
        #expect(store.files() == ["1/qemu/.download-other-0123abcd", "1/qemu/abc123"])
    }

    @Test func staleTemporariesAreSweptByAge() throws {
        let store = try TestStore()
        defer { store.remove() }
        let directory = "\(store.path)/3/qemu"
        try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
        for name in [".download-a-1", ".download-b-2", "image"] {
            _ = FileManager.default.createFile(atPath: "\(directory)/\(name)", contents: Data([1]))
        }
        #expect(StoreFiles.removeStaleTemporaries(storePath: store.path, olderThan: 3600) == [])
        let removed = StoreFiles.removeStaleTemporaries(storePath: store.path, olderThan: 3600, now: Date() + 7200)
        #expect(removed.sorted() == ["\(directory)/.download-a-1", "\(directory)/.download-b-2"])
        #expect(store.files() == ["3/qemu/image"])
    }

    @Test func unsafeHashesAreRefused() async throws {
        let store = try TestStore()
        defer { store.remove() }
        for hash in ["", "..", "a/b", ".download-x"] {
            await #expect(throws: DownloadError.self) {
                try await downloader.download(DownloadSource("http://127.0.0.1:1/x"), to: store.destination(hash: hash))
            }
        }
        #expect(store.files() == [])
    }

    @Test func cancellationStopsTheTransferAndLeavesNothing() async throws {
        let server = try await TestHTTPServer.shared()
        let store = try TestStore()
        defer { store.remove() }
        let destination = store.destination()
        let downloader = self.downloader
        let task = Task {
            try await downloader.download(
                DownloadSource(server.url("/slow?size=10000000&chunk=16384&delay=0.05")), to: destination)
        }
        // Wait until bytes arrive in the temporary file.
        #expect(await eventually(timeout: .seconds(10)) { store.files().contains { $0.contains(".download-abc123-") } })
        let started = ContinuousClock.now
        task.cancel()
        await #expect(throws: CancellationError.self) { try await task.value }
        #expect(ContinuousClock.now - started < .seconds(3))
        #expect(store.files() == [])
    }

    @Test func progressIsLoggedWithBytesAndRateButNeverThePassword() async throws {
        let server = try await TestHTTPServer.shared()
        let store = try TestStore()
        defer { store.remove() }
        let recorder = LogRecorder()
        let downloader = ImageDownloader(options: .init(progressInterval: .milliseconds(200)), logger: recorder.logger)
        try await downloader.download(
            DownloadSource(server.authURL("/auth/image.qcow2?size=400000").replacingOccurrences(of: "/auth/image.qcow2", with: "/slow")
                + "&chunk=40000&delay=0.1"),
            to: store.destination(), metadata: ["download_id": "9"])
        let progress = recorder.all.filter { $0.contains("downloading:") }
        #expect(progress.count >= 2, "\(recorder.all)")
        #expect(progress.allSatisfy { $0.hasPrefix("info ") && $0.contains("bytes=") && $0.contains("rate=") && $0.contains("download_id=9") })
        #expect(recorder.all.contains { $0.contains("alice:xxxxx@127.0.0.1") })
        #expect(!recorder.all.contains { $0.contains(TestHTTPServer.encodedPassword) || $0.contains(TestHTTPServer.password) })
    }

    @Test func httpsVerifiesTheServerCertificate() async throws {
        let (server, caFile) = try await TestHTTPServer.sharedTLS()
        let store = try TestStore()
        defer { store.remove() }
        // Trusted through the given CA: downloads.
        let trusting = ImageDownloader(options: .init(connectTimeout: .seconds(5), caFile: caFile), logger: quietLogger)
        try await trusting.download(DownloadSource(server.authURL("/auth/image.qcow2?size=3000")), to: store.destination())
        #expect(store.contents("1/qemu/abc123") == qcow2Body(size: 3000))
        // The system roots do not know the self-signed certificate: refused, permanently.
        try await expectFailure(server.url("/image.qcow2"), permanent: true)
    }
}

