import DjinnBuilds
import DjinnPostgres
import Foundation
import Synchronization
import Testing

final class EventLog: Sendable {
    private let events = Mutex<[FollowEvent]>([])
    var all: [FollowEvent] { events.withLock { $0 } }
    func append(_ event: FollowEvent) { events.withLock { $0.append(event) } }
}

@Suite struct BuildFollowerTests {
    typealias JobState = BuildSnapshot.JobState

    /// Outputs by job id; fetch returns the part from a character offset.
    static func fetch(_ outputs: [Int64: String]) -> (Int64, Int) async throws -> String {
        { id, offset in String(String.UnicodeScalarView(outputs[id, default: ""].unicodeScalars.dropFirst(offset))) }
    }

    @Test func statusChangesAndNewOutputOnceEach() async throws {
        var follower = BuildFollower()
        let queued = BuildSnapshot(status: .queued, jobs: [
            JobState(id: 1, stage: "setup - #1", name: "create-driver", status: .queued, outputLength: 0),
            JobState(id: 2, stage: "build", name: "make", status: .queued, outputLength: 0),
        ])
        #expect(try await follower.events(for: queued, fetchOutput: Self.fetch([:])) == [])

        var running = queued
        running.status = .running
        running.jobs[0].status = .passed
        running.jobs[1].status = .running
        running.jobs[1].outputLength = 6
        let outputs: [Int64: String] = [2: "héllo\n"]
        #expect(try await follower.events(for: running, fetchOutput: Self.fetch(outputs)) == [
            .jobStatus(stage: "setup - #1", job: "create-driver", status: .passed),
            .jobStatus(stage: "build", job: "make", status: .running),
            .jobOutput(stage: "build", job: "make", text: "héllo\n"),
        ])
        // Nothing new: nothing reported.
        #expect(try await follower.events(for: running, fetchOutput: Self.fetch(outputs)) == [])

        var finished = running
        finished.status = .failed
        finished.output = "make failed"
        finished.jobs[1].status = .failed
        finished.jobs[1].outputLength = 12
        #expect(try await follower.events(for: finished, fetchOutput: Self.fetch([2: "héllo\nerror\n"])) == [
            .jobOutput(stage: "build", job: "make", text: "error\n"),
            .jobStatus(stage: "build", job: "make", status: .failed),
            .finished(status: .failed, output: "make failed"),
        ])
        #expect(follower.isFinished)
        #expect(try await follower.events(for: finished, fetchOutput: Self.fetch([:])) == [])
    }

    @Test func aBuildAlreadyFinishedIsReportedAtOnce() async throws {
        var follower = BuildFollower()
        let done = BuildSnapshot(status: .passed, jobs: [JobState(id: 5, stage: "s", name: "j", status: .passed, outputLength: 3)])
        #expect(try await follower.events(for: done, fetchOutput: Self.fetch([5: "ok\n"])) == [
            .jobStatus(stage: "s", job: "j", status: .running),
            .jobOutput(stage: "s", job: "j", text: "ok\n"), .jobStatus(stage: "s", job: "j", status: .passed),
            .finished(status: .passed, output: nil),
        ])
    }

    /// A job that never ran (a failed build's later jobs) has no output and no `running`.
    @Test func aJobThatNeverRanIsReportedOnlyWithItsStatus() async throws {
        var follower = BuildFollower()
        let done = BuildSnapshot(status: .failed, jobs: [JobState(id: 7, stage: "s", name: "later", status: .failed, outputLength: 0)])
        #expect(try await follower.events(for: done, fetchOutput: Self.fetch([:])) == [
            .jobStatus(stage: "s", job: "later", status: .failed), .finished(status: .failed, output: nil),
        ])
    }

    /// A worker is simulated by updating rows by hand while `follow` polls.
    @Test(arguments: [BuildStatus.passed, .failed])
    func followsABuildInTheDatabaseUntilItFinishes(_ final: BuildStatus) async throws {
        try await BuildFixture.with { f in
            let user = try await f.addUser("gina")
            let build = try await f.submitter().submit(
                BuildRequest(userID: user.id, manifest: try parse(osManifest), trigger: .manual(by: user)))
            let jobIDs = try await f.rows("SELECT id FROM build_jobs ORDER BY id").map { Int64($0[0]!)! }
            #expect(jobIDs.count == 2)

            let events = EventLog()
            let pool = f.pool
            let follow = Task {
                try await BuildFollower.follow(buildID: build.id, store: BuildStore(pool), interval: .milliseconds(20)) { event in
                    events.append(event)
                }
            }
            func waitFor(_ count: Int) async throws {
                for _ in 0..<500 where events.all.count < count { try await Task.sleep(for: .milliseconds(10)) }
            }
            try await f.pool.execute("UPDATE builds SET status = 'running', started_at = now() WHERE id = $1", [build.id])
            try await f.pool.execute("UPDATE build_jobs SET status = 'running' WHERE id = $1", [jobIDs[0]])
            try await waitFor(1)
            try await f.pool.execute("UPDATE build_jobs SET status = 'passed' WHERE id = $1", [jobIDs[0]])
            try await f.pool.execute("UPDATE build_jobs SET status = 'running', output = $2 WHERE id = $1", [jobIDs[1], "+ make\n"])
            try await waitFor(4)
            try await f.pool.execute("UPDATE build_jobs SET output = output || $2 WHERE id = $1", [jobIDs[1], "cc -o app app.c\n"])
            try await waitFor(5)
            try await f.pool.execute(
                "UPDATE build_jobs SET status = $2, output = output || 'done\n' WHERE id = $1", [jobIDs[1], final])
            try await f.pool.execute(
                "UPDATE builds SET status = $2, finished_at = now(), output = $3 WHERE id = $1",
                [build.id, final, final == .failed ? "job build/build.1 failed" : nil])
            let status = try await follow.value
            #expect(status == final)
            #expect(events.all == [
                .jobStatus(stage: "setup - #1", job: "create-driver", status: .running),
                .jobStatus(stage: "setup - #1", job: "create-driver", status: .passed),
                .jobStatus(stage: "build", job: "build.1", status: .running),
                .jobOutput(stage: "build", job: "build.1", text: "+ make\n"),
                .jobOutput(stage: "build", job: "build.1", text: "cc -o app app.c\n"),
                .jobOutput(stage: "build", job: "build.1", text: "done\n"),
                .jobStatus(stage: "build", job: "build.1", status: final),
                .finished(status: final, output: final == .failed ? "job build/build.1 failed" : nil),
            ])
        }
    }

    @Test func followingABuildThatDoesNotExistFails() async throws {
        try await BuildFixture.with { f in
            await #expect(throws: BuildFollowError.buildNotFound(42)) {
                try await BuildFollower.follow(buildID: 42, store: BuildStore(f.pool)) { _ in }
            }
        }
    }
}
