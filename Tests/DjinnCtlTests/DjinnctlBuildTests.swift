import DjinnJobs
import DjinnPostgres
import DjinnQueue
import DjinnRedis
import DjinnTesting
import Foundation
import Testing

let manifestText = """
    driver:
      type: os
    env:
      - PLAIN=visible-in-env
    stages: [build]
    jobs:
      - stage: build
        commands: [make]
        artifacts: [bin/app => app]

    """

@Suite struct DjinnctlBuildTests {
    @Test(arguments: [
        ["-h"], ["build", "-h"], ["build", "submit", "-h"], ["build", "kill", "-help"], ["build", "show", "--help"],
        ["user", "-h"], ["user", "add", "-h"],
    ])
    func everyCommandHasHelp(_ arguments: [String]) async throws {
        let result = try await Djinnctl.run(arguments)
        #expect(result.status == 0, "\(result.stderr)")
        #expect(result.stdout.contains("USAGE: djinnctl"))
    }

    @Test func userAdd() async throws {
        try await CtlFixture.with { f in
            let added = try await f.djinnctl("user", "add", "-config", f.config, "alice", "alice@example.com")
            #expect(added.status == 0, "\(added.stderr)")
            #expect(added.stdout == "user alice added with id 1\n")
            #expect(try await f.rows("SELECT id, username, email, verified FROM users") == [["1", "alice", "alice@example.com", "t"]])
            let again = try await f.djinnctl("user", "add", "-config", f.config, "alice", "other@example.com")
            #expect(again.status == 1)
            #expect(again.stderr.contains("a user named alice or with email other@example.com already exists"))
            let bad = try await f.djinnctl("user", "add", "-config", f.config, "bob", "not-an-email")
            #expect(bad.status == 1 && bad.stderr.contains("invalid email \"not-an-email\""))
        }
    }

    @Test func submitPrintsIdAndNumberAndQueuesTheGobPayload() async throws {
        try await CtlFixture.with { f in
            _ = try await f.djinnctl("user", "add", "-config", f.config, "alice", "alice@example.com")
            let manifest = try f.write("m.yml", manifestText)
            let first = try await f.djinnctl("build", "submit", "-config", f.config, "-user", "alice", "-tag", "x", "-tag", "x", manifest)
            #expect(first.status == 0, "\(first.stderr)")
            #expect(first.stdout == "build 1 #1 queued on builds_os\n")
            let second = try await f.djinnctl(
                "build", "submit", "-config=\(f.config)", "-user", "alice", "-driver-list", "docker,os", "-host", "https://ci.example", manifest)
            #expect(second.stdout == "build 2 #2 queued on builds_os\n")

            #expect(try await f.rows("SELECT type, comment, data::text FROM build_triggers ORDER BY id LIMIT 1") == [
                ["manual", "", #"{"email":"alice@example.com","username":"alice"}"#],
            ])
            #expect(try await f.rows("SELECT build_id, name FROM build_tags") == [["1", "x"]])
            let ids = (try await f.redis.command(["LRANGE", "builds_os:active", 0, -1]).strings ?? []).compactMap { $0 }
            #expect(ids.count == 2)
            var payloads: [BuildPayload] = []
            for id in ids {
                let message = try #require(try await f.redis.command(["HGET", "builds_os:data", id]).bytes)
                let envelope = try Envelope(decoding: message)
                #expect(envelope.id == id && envelope.attempt == 0)
                payloads.append(try BuildPayload(gob: envelope.data))
            }
            #expect(payloads == [BuildPayload(host: "djinnctl", buildID: 1), BuildPayload(host: "https://ci.example", buildID: 2)])
        }
    }

    @Test func manifestErrorsNameFileLineAndColumn() async throws {
        try await CtlFixture.with { f in
            _ = try await f.djinnctl("user", "add", "-config", f.config, "alice", "alice@example.com")
            let manifest = try f.write("bad.yml", "driver:\n  type: kvm\nenv: [NOEQUALS]\n")
            let result = try await f.djinnctl("build", "submit", "-config", f.config, "-user", "alice", manifest)
            #expect(result.status == 1)
            #expect(result.stderr.contains("\(manifest):2:9: unknown driver type kvm (expected ssh, qemu, docker, os)\n\(manifest):3:7: env entry"))
            #expect(try await f.rows("SELECT count(*) FROM builds") == [["0"]])
        }
    }

    @Test func refusedSubmissionsWriteNothing() async throws {
        try await CtlFixture.with { f in
            _ = try await f.djinnctl("user", "add", "-config", f.config, "alice", "alice@example.com")
            let manifest = try f.write("m.yml", manifestText)
            let qemu = try f.write("q.yml", "driver:\n  type: qemu\n  image: x\n  arch: riscv\n")
            let cases: [([String], String)] = [
                (["-driver-list", "docker"], "driver error: os - driver disabled"),
                (["-driver-list", "docker,kvm"], "-driver-list: unknown driver kvm"),
                (["-user", "nobody"], "no user nobody (add one with djinnctl user add)"),
            ]
            for (extra, message) in cases {
                var arguments = ["build", "submit", "-config", f.config]
                arguments += extra.contains("-user") ? extra : extra + ["-user", "alice"]
                let result = try await Djinnctl.run(arguments + [manifest])
                #expect(result.status == 1 && result.stderr.contains(message), "\(extra): \(result.stderr)")
            }
            let unknown = try await f.djinnctl("build", "submit", "-config", f.config, "-user", "alice", qemu)
            #expect(unknown.status == 1 && unknown.stderr.contains("driver error: qemu-riscv - unknown driver"))
            #expect(try await f.rows("SELECT count(*) FROM builds") == [["0"]])
            #expect(try await f.redis.command(["KEYS", "*"]).array?.isEmpty == true)
        }
    }

    @Test func showPrintsStagesJobsArtifactsAndNoSecrets() async throws {
        try await CtlFixture.with { f in
            _ = try await f.djinnctl("user", "add", "-config", f.config, "alice", "alice@example.com")
            try await f.pool.execute("""
                INSERT INTO variables (user_id, author_id, key, value, masked) VALUES (1, 1, 'TOKEN', 'ZW5jcnlwdGVkLXNlY3JldA==', true)
                """)
            try await f.pool.execute("INSERT INTO keys (user_id, author_id, name, key, config) VALUES (1, 1, 'id_rsa', '\\x6b65792d6d6174657269616c', '')")
            let manifest = try f.write("m.yml", manifestText)
            _ = try await f.djinnctl("build", "submit", "-config", f.config, "-user", "alice", "-comment", "by hand", manifest)
            try await f.pool.execute("UPDATE build_jobs SET status = 'passed' WHERE name = 'create-driver'")
            let result = try await f.djinnctl("build", "show", "-config", f.config, "1")
            #expect(result.status == 0, "\(result.stderr)")
            let lines = result.stdout.split(separator: "\n", omittingEmptySubsequences: false).map(String.init)
            #expect(lines.first == "build 1 #1: queued")
            #expect(lines.contains("owner:     alice"))
            #expect(lines.contains("trigger:   manual: by hand"))
            #expect(lines.contains("driver:    os {\"type\":\"os\"}"))
            #expect(lines.contains("finished:  -"))
            let tail = Array(lines.drop { $0 != "stage setup - #1" })
            #expect(tail.count == 9)
            #expect(tail == [
                "stage setup - #1", "  create-driver  passed", "", "stage build", "  build.1  queued", "", "artifacts",
                tail[7], "",
            ])
            #expect(tail[7].hasPrefix("  build.1: bin/app => app (not collected, hash "))
            let secret = try await f.rows("SELECT secret FROM builds")[0][0]!
            for hidden in [secret, "ZW5jcnlwdGVkLXNlY3JldA==", "visible-in-env", "key-material", "6b65792d"] {
                #expect(!result.stdout.contains(hidden))
            }
            let missing = try await f.djinnctl("build", "show", "-config", f.config, "99")
            #expect(missing.status == 1 && missing.stderr.contains("no build with id 99"))
        }
    }

    @Test func killPublishesTheSecretToTheWorker() async throws {
        try await CtlFixture.with { f in
            _ = try await f.djinnctl("user", "add", "-config", f.config, "alice", "alice@example.com")
            _ = try await f.djinnctl("build", "submit", "-config", f.config, "-user", "alice", try f.write("m.yml", manifestText))
            let queued = try await f.djinnctl("build", "kill", "-config", f.config, "1")
            #expect(queued.status == 1 && queued.stderr.contains("build 1 is not running (it is queued)"))

            try await f.pool.execute("UPDATE builds SET status = 'running'")
            let subscriber = f.redis.makeSubscriber()
            try await subscriber.subscribe(["kill-1"])
            let killed = try await f.djinnctl("build", "kill", "-config", f.config, "1")
            #expect(killed.status == 0, "\(killed.stderr)")
            #expect(killed.stdout == "kill sent to build 1 (1 worker listening)\n")
            let secret = try await f.rows("SELECT secret FROM builds")[0][0]
            for await message in subscriber.messages {
                #expect(message.channel == "kill-1" && message.payloadString == secret)
                break
            }
            await subscriber.close()
            #expect(!killed.stdout.contains(secret ?? "-"))
        }
    }
}

/// `-follow`, with a worker simulated by updating rows by hand.
@Suite struct DjinnctlFollowTests {
    /// Each step waits for djinnctl to have printed what the previous one changed, so no
    /// state is missed however slow the machine is. A failed step stops djinnctl.
    func followedRun(_ f: CtlFixture, final: String, buildOutput: String?) async throws -> Djinnctl.Result {
        _ = try await f.djinnctl("user", "add", "-config", f.config, "alice", "alice@example.com")
        let manifest = try f.write("m.yml", manifestText)
        let run = try Djinnctl.start(["build", "submit", "-config", f.config, "-user", "alice", "-follow", manifest])
        do {
            try await run.waitForOutput("queued on builds_os\n")
            try await f.pool.execute("UPDATE builds SET status = 'running', started_at = now()")
            try await f.pool.execute("UPDATE build_jobs SET status = 'running' WHERE name = 'create-driver'")
            try await run.waitForOutput("create-driver: running\n")
            try await f.pool.execute("UPDATE build_jobs SET status = 'passed' WHERE name = 'create-driver'")
            try await f.pool.execute("UPDATE build_jobs SET status = 'running', output = '+ make' || chr(10) WHERE name = 'build.1'")
            try await run.waitForOutput("+ make\n")
            try await f.pool.execute("UPDATE build_jobs SET output = output || 'cc -o app app.c' WHERE name = 'build.1'")
            try await run.waitForOutput("app.c")
            try await f.pool.execute(
                "UPDATE build_jobs SET status = $1, output = output || chr(10) || 'done' WHERE name = 'build.1'", [final])
            try await f.pool.execute("UPDATE builds SET status = $1, output = $2, finished_at = now()", [final, buildOutput])
        } catch {
            run.terminate()
            _ = try? await run.finish()
            throw error
        }
        return try await run.finish()
    }

    @Test func followsAPassingBuildAndExitsZero() async throws {
        try await CtlFixture.with { f in
            let result = try await followedRun(f, final: "passed", buildOutput: nil)
            #expect(result.status == 0, "\(result.stderr)")
            #expect(result.stdout == """
                build 1 #1 queued on builds_os
                ==> setup - #1/create-driver: running
                ==> setup - #1/create-driver: passed
                ==> build/build.1: running
                + make
                cc -o app app.c
                done
                ==> build/build.1: passed
                build 1 #1 passed

                """)
        }
    }

    @Test func followsAFailingBuildAndExitsNonZero() async throws {
        try await CtlFixture.with { f in
            let result = try await followedRun(f, final: "failed", buildOutput: "job build/build.1 failed")
            #expect(result.status == 1)
            #expect(result.stdout.hasSuffix("""
                cc -o app app.c
                done
                ==> build/build.1: failed
                job build/build.1 failed
                build 1 #1 failed

                """), "\(result.stdout)")
        }
    }
}
