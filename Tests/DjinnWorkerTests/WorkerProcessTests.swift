import DjinnTesting
import DjinnWorker
import Foundation
import Testing

/// The built `djinn-worker` binary against the real PostgreSQL and Redis.
@Suite struct WorkerProcessTests {
    @Test func theWorkerRunsBuildsAndFinishesARunningOneOnSIGTERM() async throws {
        try await WorkerFixture.with { f in
            let files = try f.writeWorkerConfig()
            let worker = try WorkerProcess(
                config: files.config, driver: files.driver, log: files.log,
                environment: ["TMPDIR": f.directory.appendingPathComponent("tmp").path])
            let passing = try await f.submit("""
                driver:
                  type: os
                stages: [build]
                jobs:
                  - stage: build
                    commands: [echo from-the-worker-process]
                """)
            let failing = try await f.submit("""
                driver:
                  type: os
                stages: [build]
                jobs:
                  - stage: build
                    commands: [exit 7]
                """)
            #expect(try await f.waitFinished(passing.id).status == "passed")
            let failed = try await f.waitFinished(failing.id)
            #expect(failed.status == "failed")
            #expect(failed.output?.contains("error: job build.1 in stage build failed: exit status 7") == true)

            let slow = try await f.submit("""
                driver:
                  type: os
                stages: [build]
                jobs:
                  - stage: build
                    commands: [sleep 2, echo finished-after-sigterm]
                """)
            try await f.wait(for: slow.id) { $0.job("build.1")?.status == "running" }
            worker.signal(SIGTERM)
            let status = await worker.status()
            #expect(status == 0, "\(worker.log)")
            let finished = try await f.state(slow.id)
            #expect(finished.status == "passed")
            #expect(finished.job("build.1")?.output?.contains("finished-after-sigterm") == true)
            let log = worker.log
            #expect(log.contains("WARN the os driver should only be used if you trust the builds being submitted, or for testing"))
            #expect(log.contains("consuming from queue: builds_os"))
            #expect(log.contains("using parallelism of: 2"))
            #expect(try f.leftoverWorkingDirectories().isEmpty)
        }
    }

    /// A worker killed with SIGKILL mid-build: once its heartbeat expires another worker gets
    /// the build, orphans it and runs it to the end.
    @Test(.timeLimit(.minutes(2)))
    func aBuildWhoseWorkerWasKilledIsFinishedByAnotherWorker() async throws {
        try await WorkerFixture.with { f in
            let files = try f.writeWorkerConfig()
            let tmp = f.directory.appendingPathComponent("tmp").path
            let marker = f.directory.appendingPathComponent("first-run").path
            let pgidFile = f.directory.appendingPathComponent("pgid").path
            let first = try WorkerProcess(config: files.config, driver: files.driver, log: files.log, environment: ["TMPDIR": tmp])
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
                      - echo attempt
                      - if [ ! -e "$MARK" ]; then touch "$MARK"; echo $$ > "$PGID_FILE"; sleep 120; fi
                      - echo second-worker-finished-it
                """)
            try await f.wait(for: build.id) { $0.job("build.1")?.status == "running" }
            let orphanedGroup = try await KillAndTimeoutTests.readPGID(pgidFile)
            first.signal(SIGKILL)
            _ = await first.status()
            // The build's watchdog outlives the worker: it kills the job and removes the directory.
            defer { _ = kill(-orphanedGroup, SIGKILL) }
            #expect(await eventually(timeout: .seconds(5)) { !processGroupExists(orphanedGroup) }, "the dead worker's job survived")
            #expect(await eventually(timeout: .seconds(5)) { (try? f.leftoverWorkingDirectories().isEmpty) == true })

            let second = try WorkerProcess(
                config: files.config, driver: files.driver, log: files.log, environment: ["TMPDIR": tmp])
            let finished: WorkerFixture.BuildState
            do {
                finished = try await f.waitFinished(build.id, timeout: .seconds(60))
            } catch {
                Issue.record("worker log:\n\(second.log)")
                _ = await second.stop()
                throw error
            }
            #expect(finished.status == "passed", "\(finished)")
            #expect(try await f.tags(build.id) == ["orphaned"])
            #expect(finished.job("build.1")?.output?.contains("second-worker-finished-it") == true)
            #expect(await second.stop() == 0)
        }
    }

    /// A job printing 200 MB: the stored output keeps the head and the tail and says what was
    /// cut, and the worker's peak memory stays under 100 MB.
    @Test(.timeLimit(.minutes(3)))
    func aJobPrinting200MBKeepsTheWorkerUnder100MB() async throws {
        try await WorkerFixture.with { f in
            let files = try f.writeWorkerConfig(parallelism: 1, timeout: "5m", logLevel: "info")
            let worker = try WorkerProcess(
                config: files.config, driver: files.driver, log: files.log,
                environment: ["TMPDIR": f.directory.appendingPathComponent("tmp").path])
            let build = try await f.submit("""
                driver:
                  type: os
                stages: [build]
                jobs:
                  - stage: build
                    commands:
                      - echo first-line-of-the-flood
                      - yes 'a line of build output that repeats' | head -c 200000000
                      - echo last-line-of-the-flood
                """)
            let finished = try await f.waitFinished(build.id, timeout: .seconds(150))
            let peak = try #require(worker.peakResidentKilobytes)
            #expect(await worker.stop() == 0)
            #expect(finished.status == "passed")
            let output = try #require(finished.job("build.1")?.output)
            #expect(output.contains("first-line-of-the-flood"))
            #expect(output.contains("last-line-of-the-flood"))
            // Nearly all of the 200 MB went through the worker and was cut between head and tail.
            let marker = try #require(output.firstRange(of: /\[… (\d+) bytes cut …\]/))
            let cut = try #require(Int(output[marker].dropFirst(3).prefix { $0.isNumber }))
            #expect(cut > 190_000_000, "cut \(cut) bytes")
            #expect(output.utf8.count < 3 << 20)
            #expect(peak < 100 * 1024, "worker peak RSS \(peak) kB")
        }
    }
}
