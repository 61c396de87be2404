import DjinnTesting
import DjinnWorker
import Foundation
import Testing

/// Builds created as the server creates them, queued on `builds_os`, run by an in-process
/// worker service against the real PostgreSQL and Redis.
@Suite struct EndToEndTests {
    @Test func passingBuildRecordsEveryJobAndTheBuild() async throws {
        try await WorkerFixture.with { f in
            try await f.addVariable("GREETING", "hello from the build")
            let build = try await f.submit("""
                driver:
                  type: os
                stages: [build, test]
                jobs:
                  - stage: build
                    name: compile
                    commands:
                      - echo "$GREETING"
                      - echo to-stderr >&2
                      - pwd > where.txt
                      - 'printf "nul-\\000-bad-\\377-end\\n"'
                  - stage: test
                    commands:
                      - test "$(cat where.txt)" = "$HOME"
                      - cd sub 2>/dev/null || mkdir sub && cd sub && pwd
                """)
            let finished = try await f.withService { _ in try await f.waitFinished(build.id) }
            #expect(finished.status == "passed", "\(finished)")
            #expect(finished.startedAt != nil)
            #expect(finished.jobs.map(\.name) == ["create-driver", "compile", "test.1"])
            for job in finished.jobs {
                #expect(job.status == "passed", "\(job)")
                #expect(job.startedAt != nil && job.finishedAt != nil)
                #expect(job.startedAt! <= job.finishedAt!)
            }
            let createDriver = try #require(finished.job("create-driver"))
            #expect(createDriver.stage == "setup - #1")
            #expect(createDriver.output?.contains("Running with OS driver...") == true)
            let compile = try #require(finished.job("compile"))
            #expect(compile.output?.contains("+ echo hello from the build\nhello from the build\n") == true, "\(compile.output ?? "")")
            #expect(compile.output?.contains("to-stderr") == true)
            // Sanitised before storing: NUL → "NUL", an invalid UTF-8 byte → U+FFFD.
            #expect(compile.output?.contains("nul-NUL-bad-\u{FFFD}-end\n") == true, "\(compile.output ?? "")")
            // The build output is the driver output and every job's, in order.
            let output = try #require(finished.output)
            let driverAt = try #require(output.range(of: "Running with OS driver"))
            let compileAt = try #require(output.range(of: "hello from the build"))
            #expect(driverAt.lowerBound < compileAt.lowerBound)
            #expect(output.contains("/sub\n"))
            #expect(try f.leftoverWorkingDirectories().isEmpty)
        }
    }

    @Test func failingJobFailsTheBuildAndLaterJobsNeverRun() async throws {
        try await WorkerFixture.with { f in
            let build = try await f.submit("""
                driver:
                  type: os
                stages: [one, two]
                jobs:
                  - stage: one
                    name: breaks
                    commands:
                      - echo before
                      - exit 3
                      - echo never-printed
                  - stage: one
                    name: same-stage-later
                    commands: [echo nope]
                  - stage: two
                    name: later-stage
                    commands: [echo nope]
                """)
            let finished = try await f.withService { _ in try await f.waitFinished(build.id) }
            #expect(finished.status == "failed")
            let breaks = try #require(finished.job("breaks"))
            #expect(breaks.status == "failed")
            #expect(breaks.output?.contains("before") == true)
            #expect(breaks.output?.contains("never-printed") == false)
            for name in ["same-stage-later", "later-stage"] {
                let job = try #require(finished.job(name))
                #expect(job.status == "failed")
                #expect(job.startedAt == nil, "\(name) never ran")
                #expect(job.finishedAt != nil)
                #expect(job.output == "")
            }
            #expect(finished.output?.contains("\nerror: job breaks in stage one failed: exit status 3\n") == true, "\(finished.output ?? "")")
        }
    }

    @Test func failureInAnAllowedStageGivesPassedWithFailures() async throws {
        try await WorkerFixture.with { f in
            let build = try await f.submit("""
                driver:
                  type: os
                stages: [lint, build]
                allow_failures: [lint]
                jobs:
                  - stage: lint
                    commands: [false]
                  - stage: build
                    commands: [true]
                """)
            let finished = try await f.withService { _ in try await f.waitFinished(build.id) }
            #expect(finished.status == "passed_with_failures")
            #expect(finished.job("lint.1")?.status == "passed_with_failures")
            #expect(finished.job("build.1")?.status == "passed")
        }
    }

    /// Anyone polling PostgreSQL sees each job go running → passed while the build still runs,
    /// and a long job's output arrives while it runs.
    @Test func progressIsVisibleWhileTheBuildRuns() async throws {
        try await WorkerFixture.with { f in
            let build = try await f.submit("""
                driver:
                  type: os
                stages: [build]
                jobs:
                  - stage: build
                    name: quick
                    commands: [echo quick]
                  - stage: build
                    name: slow
                    commands:
                      - echo first-line
                      - sleep 3
                      - echo second-line
                """)
            try await f.withService { _ in
                let quickPassed = try await f.wait(for: build.id) { $0.job("quick")?.status == "passed" }
                #expect(quickPassed.status == "running")
                let streaming = try await f.wait(for: build.id) {
                    $0.job("slow")?.output?.contains("first-line") == true
                }
                #expect(streaming.status == "running")
                #expect(streaming.job("slow")?.status == "running")
                #expect(streaming.job("slow")?.output?.contains("second-line") == false)
                // The build's output is flushed on its own tick: wait for it separately.
                let buildStreaming = try await f.wait(for: build.id) { $0.output?.contains("first-line") == true }
                #expect(buildStreaming.status == "running", "the build output is live too")
                let finished = try await f.waitFinished(build.id)
                #expect(finished.status == "passed")
                #expect(finished.job("slow")?.output?.contains("second-line") == true)
            }
        }
    }
}
