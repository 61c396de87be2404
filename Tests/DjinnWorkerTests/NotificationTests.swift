import Crypto
import DjinnBuilds
import DjinnConfig
import DjinnManifest
import DjinnNotify
import DjinnTesting
import Foundation
import Testing

@testable import DjinnWorker

/// The worker's notifications end to end: builds run by an in-process worker service, mail to
/// a real SMTP server (aiosmtpd), webhooks and commit statuses to a local HTTP receiver
/// standing in for the hooks and for the GitHub and GitLab APIs.
@Suite struct NotificationTests {
    /// A namespace `proj` of alice with a collaborator (bob) and alice again as collaborator,
    /// a webhook for started+finished with a secret, and a connected provider with a repo.
    struct Setup {
        var hookID: Int64
        var providerID: Int64
        var repoRowID: Int64
    }

    func prepare(_ f: WorkerFixture, receiverPort: Int, provider: String, hookPath: String = "/hook") async throws -> Setup {
        let namespaceID = try await f.pool.query(
            "INSERT INTO namespaces (user_id, name, path, level) VALUES ($1, 'proj', 'proj', 1) RETURNING id", [f.user.id]
        )[0].decode(Int64.self, at: 0)
        try await f.pool.execute("UPDATE namespaces SET root_id = id WHERE id = $1", [namespaceID])
        let bob = try await UserStore(f.pool).add(username: "bob", email: "bob@example.com")
        for collaborator in [bob.id, f.user.id] {
            try await f.pool.execute(
                "INSERT INTO namespace_collaborators (namespace_id, user_id) VALUES ($1, $2)", [namespaceID, collaborator])
        }
        let hookID = try await f.pool.query("""
            INSERT INTO namespace_webhooks (user_id, author_id, namespace_id, payload_url, secret, ssl, events, active)
            VALUES ($1, $1, $2, $3, $4, false, 6, true) RETURNING id
            """, [f.user.id, namespaceID, "http://127.0.0.1:\(receiverPort)\(hookPath)", f.cipher.encrypt(Array("hook-secret".utf8))]
        )[0].decode(Int64.self, at: 0)
        let providerID = try await f.pool.query("""
            INSERT INTO providers (user_id, provider_user_id, name, access_token, connected, main_account)
            VALUES ($1, 1, $2, $3, true, true) RETURNING id
            """, [f.user.id, provider, f.cipher.encrypt(Array("provider-token".utf8))])[0].decode(Int64.self, at: 0)
        let repoRowID = try await f.pool.query("""
            INSERT INTO provider_repos (user_id, provider_id, repo_id, provider_name, name) VALUES ($1, $2, 4321, $3, 'alice/proj')
            RETURNING id
            """, [f.user.id, providerID, provider])[0].decode(Int64.self, at: 0)
        return Setup(hookID: hookID, providerID: providerID, repoRowID: repoRowID)
    }

    func submitPull(_ f: WorkerFixture, _ setup: Setup, commands: String) async throws -> CreatedBuild {
        let submitter = BuildSubmitter(
            pool: f.pool, enqueuer: ProducerEnqueuer(client: f.redis), enabledDrivers: ["os"], host: "https://djinn.example",
            logger: quietLogger)
        let manifest = try Manifest(parsing: """
            namespace: proj
            driver:
              type: os
            stages: [test]
            jobs:
              - stage: test
                name: run
                commands:
            \(commands)
            """, file: "t.yml")
        let trigger = BuildTrigger(
            type: .pull, comment: "Make it faster\n\nIt was slow.", data: ["sha": "0123456789abcdef", "ref": "feature", "action": "opened"],
            providerID: setup.providerID, repoID: setup.repoRowID)
        return try await submitter.submit(BuildRequest(userID: f.user.id, manifest: manifest, trigger: trigger))
    }

    func notifications(smtpPort: Int, receiverPort: Int, grace: Duration = .seconds(5)) -> NotifierConfiguration {
        NotifierConfiguration(
            smtp: SMTPSettings(addr: "127.0.0.1:\(smtpPort)"),
            providers: [
                "github": ProviderSettings(name: "github", endpoint: "http://127.0.0.1:\(receiverPort)/github"),
                "gitlab": ProviderSettings(name: "gitlab", endpoint: "http://127.0.0.1:\(receiverPort)/gitlab/api/v4"),
            ],
            apiServer: "https://api.djinn.example", concurrency: 2,
            retry: RetryPolicy(attempts: 3, initialDelay: .milliseconds(200)), shutdownGrace: grace)
    }

    @Test func failedPullRequestBuildMailsWebhooksAndStatuses() async throws {
        let smtp = try await HelperServer.launch("smtp_sink.py", python: HelperServer.venvPython)
        defer { smtp.stop() }
        let receiver = try await HelperServer.launch("webhook_receiver.py")
        defer { receiver.stop() }
        try await WorkerFixture.with { f in
            let setup = try await prepare(f, receiverPort: receiver.port, provider: "github")
            let build = try await submitPull(f, setup, commands: (1...20).map { "      - echo out-\($0)" }.joined(separator: "\n") + "\n      - exit 4")
            let config = notifications(smtpPort: smtp.port, receiverPort: receiver.port)
            let finished = try await f.withService(notifications: config) { service in
                let state = try await f.waitFinished(build.id)
                await service.notifier.queue.waitUntilIdle()
                return state
            }
            #expect(finished.status == "failed")

            // Mail: owner and the collaborator, alice once.
            let mails = try await smtp.waitForRecords(1)
            #expect(mails.count == 1)
            let mail = try #require(mails.first)
            #expect(mail["mail_from"] as? String == "djinn-worker@djinn.example")
            #expect(mail["rcpt_tos"] as? [String] == ["alice@example.com", "bob@example.com"])
            let data = try #require(mail["data"] as? String)
            #expect(data.contains("Subject: Djinn CI - Build #\(build.number) failed"))
            #expect(data.contains("Build: https://djinn.example/b/alice/\(build.number)"))
            #expect(data.contains("Opened pull request to feature"))
            #expect(data.contains("Make it faster"))
            #expect(data.contains("exit 4"))

            let requests = receiver.recorded()
            // Webhooks: started then finished, signed.
            let hooks = requests.filter { ($0["path"] as? String) == "/hook" }
            #expect(hooks.compactMap { recordedHeader($0, "X-Djinn-CI-Event") } == ["build.started", "build.finished"])
            for hook in hooks {
                let body = try #require(hook["body"] as? String)
                let mac = HMAC<SHA256>.authenticationCode(for: Array(body.utf8), using: SymmetricKey(data: Array("hook-secret".utf8)))
                #expect(recordedHeader(hook, "X-Djinn-CI-Signature") == "sha256=" + mac.map { String(format: "%02x", $0) }.joined())
                #expect(recordedHeader(hook, "X-Djinn-CI-Hook-ID") == "\(setup.hookID)")
            }
            let payloads = try hooks.map { try #require(JSONSerialization.jsonObject(with: Data(($0["body"] as! String).utf8)) as? [String: Any]) }
            #expect(payloads.map { $0["status"] as? String } == ["running", "failed"])
            #expect(payloads.allSatisfy { ($0["manifest"] as? String)?.contains("namespace: proj") == true })
            #expect(payloads.first?["started_at"] is String)
            #expect(payloads.last?["finished_at"] is String)
            #expect(payloads.last?["url"] as? String == "https://api.djinn.example/b/alice/\(build.number)")
            #expect((payloads.last?["output"] as? String)?.contains("out-20") == true)

            // Commit statuses: queued and running before, failure after, in order.
            let statuses = requests.filter { ($0["path"] as? String)?.hasPrefix("/github/") == true }
            #expect(statuses.map { $0["path"] as? String } == Array(repeating: "/github/repos/alice/proj/statuses/0123456789abcdef", count: 3))
            #expect(statuses.allSatisfy { recordedHeader($0, "Authorization") == "Bearer provider-token" })
            let bodies = try statuses.map { try #require(JSONSerialization.jsonObject(with: Data(($0["body"] as! String).utf8)) as? [String: String]) }
            #expect(bodies.map { $0["state"] } == ["pending", "pending", "failure"])
            #expect(bodies.map { $0["description"] } == ["Build is queued.", "Build is running.", "Build has failed."])
            #expect(bodies.allSatisfy { $0["context"] == "continuous-integration/djinn-ci" })
            #expect(bodies.allSatisfy { $0["target_url"] == "https://djinn.example/b/alice/\(build.number)" })

            // Every webhook attempt is a row.
            let rows = try await f.pool.query(
                "SELECT event, response_code, redelivery, duration, created_at FROM namespace_webhook_deliveries ORDER BY id")
            #expect(try rows.map { try $0.decode(Int64.self, column: "event") } == [2, 4])
            #expect(try rows.map { try $0.decode(Int64?.self, column: "response_code") } == [200, 200])
            for row in rows {
                let createdAt = try row.decode(Date.self, column: "created_at")
                #expect(abs(createdAt.timeIntervalSinceNow) < 120)
            }
        }
    }

    @Test func gitlabStatusesForAPassingBuildAndNoMail() async throws {
        let smtp = try await HelperServer.launch("smtp_sink.py", python: HelperServer.venvPython)
        defer { smtp.stop() }
        let receiver = try await HelperServer.launch("webhook_receiver.py")
        defer { receiver.stop() }
        try await WorkerFixture.with { f in
            let setup = try await prepare(f, receiverPort: receiver.port, provider: "gitlab")
            let build = try await submitPull(f, setup, commands: "      - echo fine")
            try await f.withService(notifications: notifications(smtpPort: smtp.port, receiverPort: receiver.port)) { service in
                try await f.waitFinished(build.id)
                await service.notifier.queue.waitUntilIdle()
            }
            let statuses = receiver.recorded().filter { ($0["path"] as? String)?.hasPrefix("/gitlab/") == true }
            #expect(statuses.map { $0["path"] as? String }
                == Array(repeating: "/gitlab/api/v4/projects/4321/statuses/0123456789abcdef", count: 3))
            let bodies = try statuses.map { try #require(JSONSerialization.jsonObject(with: Data(($0["body"] as! String).utf8)) as? [String: Any]) }
            #expect(bodies.map { $0["state"] as? String } == ["pending", "running", "success"])
            #expect(bodies.allSatisfy { $0["id"] as? Int == 4321 && $0["sha"] as? String == "0123456789abcdef" })
            #expect(smtp.recorded().isEmpty)
        }
    }

    /// Neither an SMTP server that is down nor a webhook receiver that never answers delays
    /// the build, and the worker still stops promptly.
    @Test func unreachableMailAndHangingHooksDoNotDelayTheBuild() async throws {
        let receiver = try await HelperServer.launch("webhook_receiver.py")
        defer { receiver.stop() }
        try await WorkerFixture.with { f in
            let setup = try await prepare(f, receiverPort: receiver.port, provider: "github", hookPath: "/hang")
            let build = try await submitPull(f, setup, commands: "      - exit 1")
            // The status API hangs as well.
            var config = notifications(smtpPort: try unusedLoopbackPort(), receiverPort: receiver.port, grace: .seconds(1))
            config.providers["github"] = ProviderSettings(name: "github", endpoint: "http://127.0.0.1:\(receiver.port)/hang")
            let started = ContinuousClock.now
            var stopping = ContinuousClock.now
            let state = try await f.withService(notifications: config) { service in
                let state = try await f.waitFinished(build.id, timeout: .seconds(30))
                #expect(service.notifier.queue.pending > 0, "deliveries are still hanging in the background")
                stopping = ContinuousClock.now
                return state
            }
            let stopped = ContinuousClock.now
            #expect(state.status == "failed")
            // A one-command build takes well under the 60 s webhook time-out.
            #expect(stopping - started < .seconds(15), "build took \(stopping - started)")
            let runTime = try #require(state.finishedAt).timeIntervalSince(try #require(state.startedAt))
            #expect(runTime < 10, "run took \(runTime) s")
            // Shutdown: queue grace 1 s, deliveries abandoned, no 60 s wait.
            #expect(stopped - stopping < .seconds(10), "stopping took \(stopped - stopping)")
        }
    }
}


