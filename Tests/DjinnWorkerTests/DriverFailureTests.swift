import DjinnTesting
import DjinnWorker
import Foundation
import Synchronization
import Testing

/// Drivers that cannot be created: the build ends with a final status and the reason, never
/// `running`; and the `BuildFinished` hook hears about every outcome.
@Suite struct DriverFailureTests {
    static let manifest = """
        driver:
          type: os
        stages: [build]
        jobs:
          - stage: build
            commands: [echo never]
        """

    /// A driver whose creation takes far longer than its limit.
    struct SlowDriver: BuildDriver {
        func create(_ setup: DriverSetup, output: DriverOutput) async throws {
            output.write("booting a very slow machine\n")
            try await Task.sleep(for: .seconds(60))
        }
        func execute(_ job: DriverJob, output: DriverOutput) async throws -> JobOutcome { .passed }
        func openArtifact(_ source: String) async throws -> OpenFile { throw DriverError("none") }
        func abort() async {}
        func destroy() async {}
    }

    @Test func driverCreationPastItsLimitTimesTheBuildOut() async throws {
        try await WorkerFixture.with { f in
            let build = try await f.submit(Self.manifest)
            let finished = try await f.withService(
                runSettings: RunSettings(timeout: .seconds(60), creationLimit: .seconds(1)), makeDriver: { _ in SlowDriver() }
            ) { _ in try await f.waitFinished(build.id, timeout: .seconds(30)) }
            #expect(finished.status == "timed_out")
            #expect(finished.job("create-driver")?.status == "timed_out")
            #expect(finished.job("create-driver")?.output?.contains("booting a very slow machine") == true)
            #expect(finished.job("build.1")?.status == "timed_out")
            #expect(finished.job("build.1")?.startedAt == nil)
            let duration = finished.finishedAt!.timeIntervalSince(finished.startedAt!)
            #expect(duration < 10, "creation was limited to 1 s, the build took \(duration) s")
        }
    }

    @Test func aDriverThisWorkerDoesNotHaveFailsEveryBuildWithTheReason() async throws {
        try await WorkerFixture.with { f in
            let build = try await f.submit(Self.manifest)
            let outcomes = Mutex<[BuildFinished]>([])
            let finished = try await f.withService(
                makeDriver: { _ in UnavailableDriver(reason: "the qemu driver is not available in this worker yet") },
                onFinished: { event in outcomes.withLock { $0.append(event) } }
            ) { _ in try await f.waitFinished(build.id) }
            #expect(finished.status == "failed")
            #expect(finished.job("create-driver")?.output?.hasSuffix("the qemu driver is not available in this worker yet\n") == true)
            #expect(finished.job("build.1")?.status == "failed")
            let events = outcomes.withLock { $0 }
            #expect(events.count == 1)
            #expect(events.first?.buildID == build.id)
            #expect(events.first?.status.rawValue == "failed")
            #expect(events.first?.host == "https://djinn.example")
        }
    }
}
