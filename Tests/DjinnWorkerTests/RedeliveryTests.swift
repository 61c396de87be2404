import DjinnJobs
import DjinnQueue
import DjinnTesting
import DjinnWorker
import Foundation
import Testing

/// Spec §4.1 in its intended order: finished builds are never rerun, started ones are orphaned
/// and rerun, builds that cannot run go to the dead set; and the worker's graceful shutdown.
@Suite struct RedeliveryTests {
    static let quickManifest = """
        driver:
          type: os
        stages: [build]
        jobs:
          - stage: build
            commands: [echo fresh-run]
        """

    func enqueue(_ f: WorkerFixture, buildID: Int64) async throws {
        try await QueueProducer(client: f.redis, queue: "builds_os")
            .enqueue(BuildPayload(host: "https://djinn.example", buildID: buildID).gobEncoded())
    }

    /// Waits until the queue holds no job at all (every one acknowledged).
    func waitUntilQueueIsEmpty(_ f: WorkerFixture) async throws {
        let deadline = ContinuousClock.now + .seconds(30)
        while try await f.redis.command(["HLEN", "builds_os:data"]).int != 0 {
            guard ContinuousClock.now < deadline else { throw WaitTimedOut(state: "jobs still in builds_os:data") }
            try await Task.sleep(for: .milliseconds(20))
        }
    }

    @Test func aFinishedBuildDeliveredAgainIsAcknowledgedWithoutRunning() async throws {
        try await WorkerFixture.with { f in
            let build = try await f.submit(Self.quickManifest)
            try await f.withService { _ in
                let first = try await f.waitFinished(build.id)
                try await enqueue(f, buildID: build.id)
                try await waitUntilQueueIsEmpty(f)
                let after = try await f.state(build.id)
                #expect(after.finishedAt == first.finishedAt)
                #expect(after.startedAt == first.startedAt)
                #expect(after.output == first.output)
            }
            #expect(try await f.tags(build.id).isEmpty)
        }
    }

    @Test func aStartedBuildDeliveredAgainIsOrphanedAndRerun() async throws {
        try await WorkerFixture.with { f in
            let build = try await f.submit(Self.quickManifest)
            // What a worker that died mid-build leaves behind.
            try await f.pool.execute(
                "UPDATE builds SET status = 'running', started_at = now(), output = 'stale build output' WHERE id = $1", [build.id])
            try await f.pool.execute(
                "UPDATE build_jobs SET status = 'running', started_at = now(), output = 'stale job output' WHERE build_id = $1",
                [build.id])
            let finished = try await f.withService { _ in try await f.waitFinished(build.id) }
            #expect(finished.status == "passed")
            #expect(try await f.tags(build.id) == ["orphaned"])
            #expect(!finished.storedText.contains("stale"))
            #expect(finished.job("build.1")?.output?.contains("fresh-run") == true)
        }
    }

    @Test func aBuildOrphanedOnceAlreadyIsFailedInsteadOfRunAThirdTime() async throws {
        try await WorkerFixture.with { f in
            let build = try await f.submit(Self.quickManifest)
            try await f.pool.execute(
                "INSERT INTO build_tags (user_id, build_id, name, created_at) VALUES ($1, $2, 'orphaned', now())", [f.user.id, build.id])
            try await f.pool.execute("UPDATE builds SET status = 'running', started_at = now() WHERE id = $1", [build.id])
            let finished = try await f.withService { _ in try await f.waitFinished(build.id) }
            #expect(finished.status == "failed")
            #expect(finished.output?.contains("stopped unexpectedly 2 times; not running it again") == true)
            #expect(finished.jobs.allSatisfy { $0.status == "failed" && $0.finishedAt != nil })
        }
    }

    @Test func jobsForMissingBuildsAndUndecodablePayloadsGoToTheDeadSet() async throws {
        try await WorkerFixture.with { f in
            try await f.withService { _ in
                try await enqueue(f, buildID: 424242)
                try await QueueProducer(client: f.redis, queue: "builds_os").enqueue([0x01, 0x02, 0x03])
                let deadline = ContinuousClock.now + .seconds(30)
                while try await f.redis.command(["ZCARD", "builds_os:dead"]).int != 2 {
                    guard ContinuousClock.now < deadline else { throw WaitTimedOut(state: "dead set not filled") }
                    try await Task.sleep(for: .milliseconds(20))
                }
            }
        }
    }

    @Test func shutdownLetsARunningBuildFinishWithinTheGrace() async throws {
        try await WorkerFixture.with { f in
            let build = try await f.submit("""
                driver:
                  type: os
                stages: [build]
                jobs:
                  - stage: build
                    commands: [sleep 1, echo done-in-grace]
                """)
            try await f.withService { service in
                try await f.wait(for: build.id) { $0.job("build.1")?.status == "running" }
                service.shutdown()
            }
            let state = try await f.state(build.id)
            #expect(state.status == "passed")
            #expect(state.job("build.1")?.output?.contains("done-in-grace") == true)
            #expect(try await f.redis.command(["HLEN", "builds_os:data"]).int == 0)
        }
    }

    @Test func aBuildStillRunningAfterTheGraceIsStoppedResetAndRequeuedForTheNextWorker() async throws {
        try await WorkerFixture.with { f in
            let marker = f.directory.appendingPathComponent("first-run").path
            let pgidFile = f.directory.appendingPathComponent("pgid").path
            let build = try await f.submit("""
                driver:
                  type: os
                env:
                  - MARK=\(marker)
                  - PGID_FILE=\(pgidFile)
                stages: [build]
                jobs:
                  - stage: build
                    commands:
                      - if [ ! -e "$MARK" ]; then touch "$MARK"; echo $$ > "$PGID_FILE"; sleep 120; fi
                      - echo second-run
                """)
            var options = BuildConsumerService.workerQueueOptions(f.settings())
            options.shutdownGrace = .milliseconds(500)
            try await f.withService(queueOptions: options) { service in
                try await f.wait(for: build.id) { $0.job("build.1")?.status == "running" }
                _ = try await KillAndTimeoutTests.readPGID(pgidFile)
                service.shutdown()
            }
            let pgid = try await KillAndTimeoutTests.readPGID(pgidFile)
            #expect(await eventually(timeout: .seconds(2)) { !processGroupExists(pgid) })
            let reset = try await f.state(build.id)
            #expect(reset.status == "queued")
            #expect(reset.startedAt == nil && reset.finishedAt == nil && reset.output == nil)
            #expect(reset.jobs.allSatisfy { $0.status == "queued" && $0.output == nil && $0.startedAt == nil })
            #expect(try await f.redis.command(["LLEN", "builds_os:active"]).int == 1, "the build is back on the queue")

            let finished = try await f.withService { _ in try await f.waitFinished(build.id) }
            #expect(finished.status == "passed")
            #expect(finished.job("build.1")?.output?.contains("second-run") == true)
        }
    }
}
