import DjinnTesting
import DjinnWorker
import Foundation
import Testing

/// Kill (`PUBLISH kill-<id> <secret>`) and timeout end the build within a second and leave no
/// process of it running — background processes and ones that ignore SIGTERM included.
@Suite struct KillAndTimeoutTests {
    /// The manifest of a build whose second job records its process group, starts a
    /// background process and then waits.
    static func waitingManifest(pgidFile: String, ignoreTerm: Bool = false) -> String {
        """
        driver:
          type: os
        env:
          - PGID_FILE=\(pgidFile)
        stages: [build, after]
        jobs:
          - stage: build
            name: quick
            commands: [echo quick]
          - stage: build
            name: waits
            commands:
              - echo started
              \(ignoreTerm ? "- trap '' TERM" : "- true")
              - sleep 300 &
              - echo $$ > "$PGID_FILE"
              - sleep 300
          - stage: after
            name: never
            commands: [echo never]
        """
    }

    static func readPGID(_ path: String) async throws -> Int32 {
        let deadline = ContinuousClock.now + .seconds(30)
        while ContinuousClock.now < deadline {
            if let text = try? String(contentsOfFile: path, encoding: .utf8),
                let pgid = Int32(text.trimmingCharacters(in: .whitespacesAndNewlines))
            {
                return pgid
            }
            try await Task.sleep(for: .milliseconds(20))
        }
        throw WaitTimedOut(state: "no pgid in \(path)")
    }

    @Test func killWithTheRightSecretKillsWithinASecondAndAWrongOneIsIgnored() async throws {
        try await WorkerFixture.with { f in
            let pgidFile = f.directory.appendingPathComponent("pgid").path
            let build = try await f.submit(Self.waitingManifest(pgidFile: pgidFile))
            try await f.withService { _ in
                let pgid = try await Self.readPGID(pgidFile)
                #expect(processGroupExists(pgid))
                let secret = try await f.pool.query("SELECT secret FROM builds WHERE id = $1", [build.id])[0].decode(String.self, at: 0)

                #expect(try await f.redis.publish("not-the-secret", to: "kill-\(build.id)") == 1)
                try await Task.sleep(for: .milliseconds(500))
                let stillRunning = try await f.state(build.id)
                #expect(stillRunning.status == "running")
                #expect(stillRunning.job("waits")?.status == "running")
                #expect(processGroupExists(pgid))

                // Measured on the database's clock, from just before the publish to the build's
                // finished_at as the worker wrote it: the worker's latency, not this test's polling.
                let sent = try await f.pool.query("SELECT clock_timestamp()")[0].decode(Date.self, at: 0)
                #expect(try await f.redis.publish(secret, to: "kill-\(build.id)") == 1)
                let killed = try await f.wait(for: build.id, timeout: .seconds(10), interval: .milliseconds(10)) { $0.finishedAt != nil }
                let elapsed = try #require(killed.finishedAt).timeIntervalSince(sent)
                print("os build killed \(elapsed) s after the kill message (database clock)")
                #expect(elapsed < 1, "killed after \(elapsed) s")
                #expect(killed.status == "killed")
                #expect(killed.job("quick")?.status == "passed")
                let waits = try #require(killed.job("waits"))
                #expect(waits.status == "killed")
                #expect(waits.finishedAt != nil)
                #expect(waits.output?.contains("started") == true)
                #expect(killed.job("never")?.status == "killed")
                #expect(killed.job("never")?.startedAt == nil)
                #expect(await eventually(timeout: .seconds(2)) { !processGroupExists(pgid) }, "process group \(pgid) survived the kill")
            }
            #expect(try f.leftoverWorkingDirectories().isEmpty)
        }
    }

    @Test func timeoutEndsTheBuildTimedOutAndKillsProcessesThatIgnoreSIGTERM() async throws {
        try await WorkerFixture.with { f in
            let pgidFile = f.directory.appendingPathComponent("pgid").path
            let build = try await f.submit(Self.waitingManifest(pgidFile: pgidFile, ignoreTerm: true))
            let settings = f.settings(timeout: .seconds(3))
            try await f.withService(settings, runSettings: RunSettings(timeout: .seconds(3))) { _ in
                let pgid = try await Self.readPGID(pgidFile)
                let finished = try await f.waitFinished(build.id, timeout: .seconds(30))
                #expect(finished.status == "timed_out")
                #expect(finished.job("quick")?.status == "passed")
                #expect(finished.job("waits")?.status == "timed_out")
                #expect(finished.job("never")?.status == "timed_out")
                let duration = finished.finishedAt!.timeIntervalSince(finished.startedAt!)
                #expect(duration >= 2.9 && duration < 6, "ran \(duration) s with a 3 s timeout")
                #expect(await eventually(timeout: .seconds(2)) { !processGroupExists(pgid) }, "process group \(pgid) survived the timeout")
            }
        }
    }

    /// Kill messages for other builds, or after the build finished, change nothing.
    @Test func killMessagesForOtherBuildsAreIgnored() async throws {
        try await WorkerFixture.with { f in
            let build = try await f.submit("""
                driver:
                  type: os
                stages: [build]
                jobs:
                  - stage: build
                    commands: [sleep 1]
                """)
            try await f.withService { _ in
                try await f.wait(for: build.id) { $0.status == "running" }
                let secret = try await f.pool.query("SELECT secret FROM builds WHERE id = $1", [build.id])[0].decode(String.self, at: 0)
                _ = try await f.redis.publish(secret, to: "kill-\(build.id + 1)")
                let finished = try await f.waitFinished(build.id)
                #expect(finished.status == "passed")
            }
        }
    }
}
