import Testing

@testable import DjinnConsumer

@Suite struct DownloadSourceTests {
    @Test(arguments: [
        ("https://example.com/img.qcow2", "https://example.com/img.qcow2"),
        ("sftp://user:pass@host:22/img.qcow2", "sftp://user:xxxxx@host:22/img.qcow2"),
        ("http://user@host/img", "http://user@host/img"),
        ("http://user:@host/img", "http://user:xxxxx@host/img"),
        // Go splits userinfo at the last @ of the authority, the password at the first colon.
        ("http://u:p@ss:w@rd@host/a@b", "http://u:xxxxx@host/a@b"),
        ("http://host/path?x=a:b@c", "http://host/path?x=a:b@c"),
        ("not a url", "not a url"),
    ])
    func redactsThePasswordOnly(_ url: String, _ expected: String) {
        #expect(DownloadSource.redact(url) == expected)
        #expect(DownloadSource(url).description == expected)
    }

    @Test func storedFormIsRedactedThenLowerCased() {
        let source = DownloadSource("SFTP://Admin:PassWord@Host.Example:22/Images/Base.QCOW2")
        #expect(source.storedForm == "sftp://admin:xxxxx@host.example:22/images/base.qcow2")
        #expect(!source.storedForm.contains("password"))
    }

    @Test func schemeIsLowerCasedAndNeedsAColon() {
        #expect(DownloadSource("HTTPS://x/y").scheme == "https")
        #expect(DownloadSource("sftp://x/y").scheme == "sftp")
        #expect(DownloadSource("/just/a/path").scheme == "")
        #expect(DownloadSource("").scheme == "")
        #expect(DownloadSource("1http://x").scheme == "")
    }

    @Test func scrubRemovesThePasswordAsWrittenAndDecoded() {
        let source = DownloadSource("http://ann:s3cr%3At%40pw@host/img")
        #expect(source.scrub("failed for s3cr%3At%40pw and s3cr:t@pw") == "failed for xxxxx and xxxxx")
        #expect(DownloadSource("http://host/img").scrub("untouched") == "untouched")
    }

    @Test func humanSizeIsGoFsStyle() {
        #expect(DownloadError.humanSize(1023) == "1023 B")
        #expect(DownloadError.humanSize(65536) == "64 KB")
        #expect(DownloadError.humanSize(5 << 20 + 1) == "5 MB")
        #expect(DownloadError.tooLarge(limit: 1 << 30).message == "file too large, cannot exceed 1 GB")
    }

    @Test func httpStatusesSplitIntoPermanentAndTransient() {
        for status in [400, 401, 403, 404, 410, 418] { #expect(DownloadError.httpStatus(status).isPermanent) }
        for status in [408, 425, 429, 500, 502, 503] { #expect(!DownloadError.httpStatus(status).isPermanent) }
    }

    @Test func curlReadsTheURLAndKeepsCredentialsOutOfTheFetchURL() throws {
        let url = try CurlURL.parse("SFTP://bob:p%40ss@Example.com/img.qcow2?timeout=5s")
        #expect(url.scheme == "sftp")
        #expect(url.port == 22)
        #expect(url.username == "bob")
        #expect(url.password == "p@ss")
        #expect(url.queryValue("timeout") == "5s")
        #expect(url.fetchURL == "sftp://Example.com/img.qcow2")
        let http = try CurlURL.parse("http://a:b@127.0.0.1:8080/x?y=1#frag")
        #expect(http.fetchURL == "http://127.0.0.1:8080/x?y=1")
        #expect(http.port == 8080)
        #expect(http.isSameOrigin(as: try CurlURL.parse("HTTP://127.0.0.1:8080/other")))
        #expect(!http.isSameOrigin(as: try CurlURL.parse("http://localhost:8080/x")))
        #expect(!http.isSameOrigin(as: try CurlURL.parse("https://127.0.0.1:8080/x")))
        #expect(!http.isSameOrigin(as: try CurlURL.parse("http://127.0.0.1:8081/x")))
        #expect(throws: DownloadError.self) { try CurlURL.parse("http://") }
    }
}
