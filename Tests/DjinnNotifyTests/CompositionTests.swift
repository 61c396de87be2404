import Crypto
import Foundation
import Testing

@testable import DjinnNotify

let t0 = Date(timeIntervalSince1970: 1_700_000_000.25)

func sampleOwner() -> UserSnapshot {
    UserSnapshot(id: 7, email: "alice@example.com", username: "alice", createdAt: Date(timeIntervalSince1970: 1_600_000_000))
}

func sampleBuild(status: String = "failed", output: String? = "line\n", trigger: TriggerSnapshot? = nil) -> BuildSnapshot {
    BuildSnapshot(
        id: 42, userID: 7, namespaceID: 3, number: 12, manifest: "driver:\n  type: os\n", status: status, output: output,
        tags: ["zeta", "alpha"], pinned: false, createdAt: t0, startedAt: t0, finishedAt: nil,
        trigger: trigger ?? TriggerSnapshot(type: "manual", comment: "", data: ["username": "alice", "email": "alice@example.com"]),
        owner: sampleOwner(),
        namespace: NamespaceSnapshot(
            id: 3, userID: 7, rootID: 3, parentID: nil, name: "proj", path: "proj", description: "", visibility: "private",
            createdAt: t0, owner: sampleOwner()))
}

@Suite struct FailureMailTests {
    @Test func subjectAndStatuses() {
        #expect(FailureMail.subject(number: 12, status: "timed_out") == "Djinn CI - Build #12 timed_out")
        #expect(FailureMail.statuses == ["failed", "killed", "timed_out"])
    }

    @Test func lastFifteenLinesKeepsTheTrailingEmptyElement() {
        let output = (1...20).map { "line \($0)" }.joined(separator: "\n") + "\n"
        let tail = FailureMail.lastLines(output)
        // 21 elements (the last empty): the final 15 are lines 7…20 and "".
        #expect(tail == (7...20).map { "line \($0)" }.joined(separator: "\n") + "\n")
        #expect(FailureMail.lastLines("a\nb") == "a\nb")
        #expect(FailureMail.lastLines("") == "")
    }

    @Test func commentTitleAndBodyRules() {
        #expect(FailureMail.commentParts("  Fix the thing  ") == ("Fix the thing", ""))
        #expect(FailureMail.commentParts("Fix the thing\n\n  More words.\n") == ("Fix the thing", "More words."))
        let long = String(repeating: "a", count: 72) + "bcd"
        #expect(FailureMail.commentParts(long) == (String(repeating: "a", count: 72) + "...", "...bcd"))
        let exactly72 = String(repeating: "x", count: 72)
        #expect(FailureMail.commentParts(exactly72) == (exactly72, ""))
        let longFirstLine = String(repeating: "b", count: 80) + "\nrest of it"
        #expect(FailureMail.commentParts(longFirstLine) == (String(repeating: "b", count: 80) + "...", "...rest of it"))
    }

    @Test func triggerSummaries() {
        #expect(FailureMail.triggerSummary(TriggerSnapshot(type: "manual", comment: "", data: ["username": "bob", "email": "b@x.io"]))
            == "Submitted by bob <b@x.io>")
        #expect(FailureMail.triggerSummary(TriggerSnapshot(
            type: "push", comment: "Add tests\n\nBecause.", data: ["sha": "0123456789abcdef", "ref": "refs/heads/main"]))
            == "Committed 0123456 to refs/heads/main\n\nAdd tests\n\nBecause.")
        #expect(FailureMail.triggerSummary(TriggerSnapshot(type: "pull", comment: "", data: ["action": "opened", "ref": "feature"]))
            == "Opened pull request to feature")
        #expect(FailureMail.triggerSummary(TriggerSnapshot(type: "schedule", comment: "nightly", data: [:])) == "nightly")
        #expect(FailureMail.triggerSummary(TriggerSnapshot(type: "schedule", comment: "", data: [:])) == "")
    }

    @Test func recipientsAreDeduplicatedOwnerFirst() {
        #expect(FailureMail.recipients(owner: "alice@example.com", collaborators: ["bob@x.io", "", "Alice@example.com", "bob@x.io", "carol@x.io"])
            == ["alice@example.com", "bob@x.io", "carol@x.io"])
    }

    @Test func senderPrefersAdminThenServerHost() {
        #expect(FailureMail.sender(admin: "ci@corp.io", serverURL: "https://djinn.example", fallbackHost: "h") == "ci@corp.io")
        #expect(FailureMail.sender(admin: "", serverURL: "https://djinn.example:8443", fallbackHost: "h") == "djinn-worker@djinn.example")
        #expect(FailureMail.sender(admin: "", serverURL: "djinn-scheduler", fallbackHost: "box") == "djinn-worker@box")
    }

    @Test func bodyAndRenderedMessage() {
        let build = sampleBuild(output: (1...30).map { "out \($0)" }.joined(separator: "\n"))
        let message = FailureMail.message(
            for: build, collaborators: ["bob@x.io"], serverURL: "https://djinn.example", admin: "", fallbackHost: "h")
        #expect(message.from == "djinn-worker@djinn.example")
        #expect(message.recipients == ["alice@example.com", "bob@x.io"])
        #expect(message.subject == "Djinn CI - Build #12 failed")
        #expect(message.body == """
            Build: https://djinn.example/b/alice/12

            -----
            Submitted by alice <alice@example.com>
            -----

            \((16...30).map { "out \($0)" }.joined(separator: "\n"))
            """)
        let text = message.rendered(date: t0)
        #expect(text.hasPrefix("From: djinn-worker@djinn.example\r\nTo: alice@example.com, bob@x.io\r\nSubject: Djinn CI - Build #12 failed\r\nDate: Tue, 14 Nov 2023 22:13:20 +0000\r\n"))
        #expect(text.contains("\r\n\r\nBuild: https://djinn.example/b/alice/12\r\n\r\n-----\r\n"))
        #expect(!text.replacingOccurrences(of: "\r\n", with: "").contains("\n"))
    }

    @Test func longLinesAreBrokenAndHeadersCannotBeInjected() {
        let message = MailMessage(from: "a@b", recipients: ["c@d"], subject: "x\r\nBcc: evil@x", body: String(repeating: "é", count: 1000))
        let text = message.rendered(date: t0)
        #expect(text.contains("Subject: x  Bcc: evil@x\r\n"))
        for line in text.components(separatedBy: "\r\n") { #expect(line.utf8.count <= 998) }
        #expect(text.components(separatedBy: "\r\n").filter { $0.hasPrefix("é") }.joined() == String(repeating: "é", count: 1000))
    }
}

@Suite struct WebhookCompositionTests {
    @Test func eventBits() {
        #expect(WebhookEvent.buildSubmitted.bit == 1)
        #expect(WebhookEvent.buildStarted.bit == 2)
        #expect(WebhookEvent.buildFinished.bit == 4)
        #expect(WebhookEvent.images.bit == 512)
        #expect(WebhookEvent.buildUnpinned.bit == 16384)
        #expect(WebhookEvent.buildFinished.isSelected(by: 4 | 2))
        #expect(!WebhookEvent.buildFinished.isSelected(by: 2 | 512))
    }

    @Test func jsonIsWrittenAsGoWritesIt() {
        let value = JSONValue.object([
            ("b", .string("<a href=\"x\">&\u{2028}\n\t\u{01}é</a>\\")), ("a", .array([.int(-3), .bool(true), .null])),
        ])
        #expect(value.encoded() == #"{"b":"\u003ca href=\"x\"\u003e\u0026\u2028\n\t\u0001é\u003c/a\u003e\\","a":[-3,true,null]}"#)
        #expect(JSONValue.stringMap(["z": "1", "a": "2"]).encoded() == #"{"a":"2","z":"1"}"#)
    }

    @Test func rfc3339LikeGo() {
        #expect(RFC3339.format(Date(timeIntervalSince1970: 0)) == "1970-01-01T00:00:00Z")
        #expect(RFC3339.format(Date(timeIntervalSince1970: 1_700_000_000.25)) == "2023-11-14T22:13:20.25Z")
        #expect(RFC3339.format(Date(timeIntervalSince1970: 1_700_000_000.000123)) == "2023-11-14T22:13:20.000123Z")
    }

    @Test func buildPayloadFields() throws {
        let payload = EventPayloads.build(sampleBuild(), apiServer: "https://api.djinn")
        let object = try #require(try JSONSerialization.jsonObject(with: Data(payload.encoded().utf8)) as? [String: Any])
        #expect(object["id"] as? Int == 42)
        #expect(object["number"] as? Int == 12)
        #expect(object["namespace_id"] as? Int == 3)
        #expect(object["manifest"] as? String == "driver:\n  type: os\n")
        #expect(object["status"] as? String == "failed")
        #expect(object["output"] as? String == "line\n")
        #expect(object["tags"] as? [String] == ["alpha", "zeta"])
        #expect(object["pinned"] as? Bool == false)
        #expect(object["created_at"] as? String == "2023-11-14T22:13:20.25Z")
        #expect(object["finished_at"] is NSNull)
        #expect(object["url"] as? String == "https://api.djinn/b/alice/12")
        #expect(object["jobs_url"] as? String == "https://api.djinn/b/alice/12/jobs")
        #expect(object["tags_url"] as? String == "https://api.djinn/b/alice/12/tags")
        let trigger = try #require(object["trigger"] as? [String: Any])
        #expect(trigger["type"] as? String == "manual")
        #expect((trigger["data"] as? [String: String])?["username"] == "alice")
        let user = try #require(object["user"] as? [String: Any])
        #expect(user["username"] as? String == "alice" && user["email"] as? String == "alice@example.com")
        let namespace = try #require(object["namespace"] as? [String: Any])
        #expect(namespace["url"] as? String == "https://api.djinn/n/alice/proj")
        #expect(namespace["webhooks_url"] as? String == "https://api.djinn/n/alice/proj/-/webhooks")
        #expect(namespace["parent_id"] is NSNull)
        #expect(namespace["root_id"] as? Int == 3)
        // Field order as Go's struct: id first, then user_id, namespace_id, number …
        #expect(payload.encoded().hasPrefix(#"{"id":42,"user_id":7,"namespace_id":3,"number":12,"manifest":"#))
    }

    @Test func imagePayload() throws {
        let image = ImageSnapshot(
            id: 5, authorID: 7, userID: 7, namespaceID: nil, driver: "qemu", name: "deb", createdAt: t0, author: sampleOwner(),
            owner: sampleOwner(), namespace: nil,
            download: .init(id: 9, source: "http://x/i.qcow2", error: nil, createdAt: t0, startedAt: t0, finishedAt: t0))
        let object = try #require(
            try JSONSerialization.jsonObject(with: Data(EventPayloads.imageDownloaded(image, apiServer: "https://a").encoded().utf8))
                as? [String: Any])
        #expect(object["action"] as? String == "downloaded")
        let body = try #require(object["image"] as? [String: Any])
        #expect(body["url"] as? String == "https://a/images/5")
        #expect(body["driver"] as? String == "qemu")
        #expect(body["namespace_id"] is NSNull)
        #expect((body["download"] as? [String: Any])?["error"] is NSNull)
        #expect((body["author"] as? [String: Any])?["username"] as? String == "alice")
    }

    @Test func requestHeadersBodyAndSignature() {
        let request = WebhookRequest(
            url: "http://h/hook", event: .buildFinished, hookID: 9, secret: Array("s3cret".utf8), payload: .object([("a", .int(1))]))
        #expect(request.body == Array("{\"a\":1}\n".utf8))
        let expected = HMAC<SHA256>.authenticationCode(for: Array("{\"a\":1}\n".utf8), using: SymmetricKey(data: Array("s3cret".utf8)))
        #expect(WebhookRequest.signature(secret: Array("s3cret".utf8), body: request.body)
            == "sha256=" + expected.map { String(format: "%02x", $0) }.joined())
        // RFC 4231 test case 2 (key "Jefe").
        #expect(WebhookRequest.signature(secret: Array("Jefe".utf8), body: Array("what do ya want for nothing?".utf8))
            == "sha256=5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843")
        #expect(HTTPHeader.block(request.headers) == """
            Accept: */*\r
            Content-Length: 8\r
            Content-Type: application/json; charset=utf-8\r
            User-Agent: Djinn-CI-Hook\r
            X-Djinn-CI-Event: build.finished\r
            X-Djinn-CI-Hook-ID: 9\r
            X-Djinn-CI-Signature: \(WebhookRequest.signature(secret: Array("s3cret".utf8), body: request.body))\r

            """)
        let unsigned = WebhookRequest(url: "http://h", event: .buildStarted, hookID: 1, secret: nil, payload: .null)
        #expect(!unsigned.headers.contains { $0.name == "X-Djinn-CI-Signature" })
    }
}

@Suite struct CommitStatusTests {
    @Test func stateMapping() {
        let statuses = ["queued", "running", "passed", "passed_with_failures", "failed", "killed", "timed_out"]
        #expect(statuses.map { CommitStatusRequest.state(.github, $0) }
            == ["pending", "pending", "success", "success", "failure", "failure", "failure"])
        #expect(statuses.map { CommitStatusRequest.state(.gitlab, $0) }
            == ["pending", "running", "success", "success", "failed", "canceled", "canceled"])
        #expect(statuses.map(CommitStatusRequest.description) == [
            "Build is queued.", "Build is running.", "Build has passed.", "Build has passed with failures.",
            "Build has failed.", "Build was killed.", "Build has timed out.",
        ])
    }

    @Test func githubAndGitlabRequests() {
        let github = CommitStatusRequest(
            provider: .github, endpoint: "https://api.github.com/", repoName: "alice/proj", repoID: 99, sha: "abc",
            status: "running", targetURL: "https://djinn/b/alice/1", token: "tok")
        #expect(github.url == "https://api.github.com/repos/alice/proj/statuses/abc")
        #expect(github.body.encoded()
            == #"{"state":"pending","target_url":"https://djinn/b/alice/1","description":"Build is running.","context":"continuous-integration/djinn-ci"}"#)
        #expect(github.headers.contains(HTTPHeader("Authorization", "Bearer tok")))
        let gitlab = CommitStatusRequest(
            provider: .gitlab, endpoint: "https://gitlab.com/api/v4", repoName: "alice/proj", repoID: 99, sha: "abc",
            status: "killed", targetURL: "t", token: "tok")
        #expect(gitlab.url == "https://gitlab.com/api/v4/projects/99/statuses/abc")
        #expect(gitlab.body.encoded()
            == #"{"id":99,"sha":"abc","state":"canceled","target_url":"t","description":"Build was killed.","context":"continuous-integration/djinn-ci"}"#)
    }

    @Test func retryDelaysDouble() {
        let policy = RetryPolicy(attempts: 4, initialDelay: .milliseconds(100))
        #expect([2, 3, 4].map(policy.delay(before:)) == [.milliseconds(100), .milliseconds(200), .milliseconds(400)])
    }
}
