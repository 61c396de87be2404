import DjinnRedis
import DjinnTesting
import Foundation
import Testing

@testable import DjinnQueue

/// A consumer process killed with SIGKILL mid-job: the job completes on another consumer
/// within the recovery window.
@Suite struct ProcessKillTests {
    /// `djinn-queue-probe`, built beside the test bundle by `swift build --build-tests`.
    static var probePath: String? {
        let executable = (try? FileManager.default.destinationOfSymbolicLink(atPath: "/proc/self/exe"))
            ?? CommandLine.arguments[0]
        var directory = URL(fileURLWithPath: executable).deletingLastPathComponent()
        // On Linux the bundle is an executable in the products directory; elsewhere it is a
        // directory tree inside it.
        for _ in 0..<4 {
            let candidate = directory.appendingPathComponent("djinn-queue-probe").path
            if FileManager.default.isExecutableFile(atPath: candidate) { return candidate }
            directory = directory.deletingLastPathComponent()
        }
        return nil
    }

    @Test func aKilledConsumerProcessesJobCompletesElsewhere() async throws {
        let probe = try #require(Self.probePath, "djinn-queue-probe not built (run scripts/test)")
        let endpoints = try await TestServices.endpoints()
        let client = try await testClient()
        let queue = testQueue()
        let keys = QueueKeys(queue: queue)
        try await QueueProducer(client: client, queue: queue).enqueue(bytes("payload"), id: "X")

        let startedFile = FileManager.default.temporaryDirectory.appendingPathComponent("probe-\(UUID().uuidString)").path
        defer { try? FileManager.default.removeItem(atPath: startedFile) }
        let process = try TestProcess.start(
            [probe, endpoints.redisAddr, queue, startedFile], environment: ["DJINN_REDIS_PASSWORD": endpoints.redisPassword])
        let started = await eventually(timeout: .seconds(30)) {
            (try? String(contentsOfFile: startedFile, encoding: .utf8)) == "X\n"
        }
        if !started { process.signal(SIGKILL) }
        try #require(started, "the probe never started the job")
        #expect(try await client.integer(["ZCARD", keys.consumers]) == 1)

        // SIGKILL: the consumer gets no chance to hand the job back.
        process.signal(SIGKILL)
        #expect(try await process.wait() == SIGKILL)
        let killedAt = ContinuousClock.now

        let completed = Recorder<QueueJob>()
        let survivor = RunningConsumer(client: client, queue: queue, options: fastOptions()) { job in
            completed.append(job)
        }
        #expect(await eventually(timeout: .seconds(30)) { completed.count == 1 })
        let recovery = ContinuousClock.now - killedAt
        #expect(recovery < .seconds(8), "\(recovery)")
        #expect(completed.all.first?.id == "X" && completed.all.first?.data == bytes("payload"))
        #expect(completed.all.first?.attempt == 0)
        try await survivor.stop()
        // The dead process's registration is cleaned up too.
        #expect(try await client.queueKeys(queue) == [])
        await client.close()
    }
}
