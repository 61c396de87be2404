import DjinnBuilds
import DjinnJobs
import DjinnManifest
import DjinnQueue
import DjinnRedis
import DjinnRunner
import DjinnTesting
import Foundation
import Synchronization
import Testing

/// `bench/worker`: build latency and per-job overhead of a `djinn-worker` process (the release
/// binary named by DJINN_BENCH_WORKER). Skipped unless that variable is set.
///
/// * Latency: builds of one job (`true`) submitted one at a time to an idle worker; from the
///   moment the payload is enqueued to the first manifest job's `started_at` (written by the
///   worker, same clock).
/// * Per-job overhead: a build of 100 jobs each running `true`; (last job's `finished_at` −
///   first job's `started_at`) / 100, and the same minus the cost of spawning `/bin/sh -c true`
///   measured here (what running the script itself costs, not the runner).
@Suite(.enabled(if: ProcessInfo.processInfo.environment["DJINN_BENCH_WORKER"] != nil), .serialized)
struct WorkerBenchmark {
    static var executable: String { ProcessInfo.processInfo.environment["DJINN_BENCH_WORKER"] ?? "" }
    static var latencyBuilds: Int { Int(ProcessInfo.processInfo.environment["DJINN_BENCH_BUILDS"] ?? "") ?? 200 }

    /// Records when each build's payload went onto the queue.
    final class TimedEnqueuer: BuildEnqueuer {
        let client: RedisClient
        let enqueuedAt = Mutex<[Int64: Date]>([:])

        init(client: RedisClient) { self.client = client }

        func enqueue(queue: String, payload: [UInt8]) async throws {
            let id = try BuildPayload(gob: payload).buildID
            let now = Date()
            enqueuedAt.withLock { $0[id] = now }
            try await QueueProducer(client: client, queue: queue).enqueue(payload)
        }
    }

    static func percentile(_ sorted: [Double], _ p: Double) -> Double {
        sorted[max(0, Int((Double(sorted.count) * p).rounded(.up)) - 1)]
    }

    static func milliseconds(_ value: Double) -> String { String(format: "%.2f ms", value * 1000) }

    @Test(.timeLimit(.minutes(10)))
    func latencyAndPerJobOverhead() async throws {
        try await WorkerFixture.with { f in
            let files = try f.writeWorkerConfig(parallelism: 2, timeout: "5m", logLevel: "error")
            let worker = try WorkerProcess(
                config: files.config, driver: files.driver, log: files.log,
                environment: ["TMPDIR": f.directory.appendingPathComponent("tmp").path], executable: Self.executable)
            do {
                try await measure(f)
            } catch {
                _ = await worker.stop()
                throw error
            }
            _ = await worker.stop()
        }
    }

    func measure(_ f: WorkerFixture) async throws {
        let enqueuer = TimedEnqueuer(client: f.redis)
        let submitter = BuildSubmitter(
            pool: f.pool, enqueuer: enqueuer, enabledDrivers: ["os"], host: "https://djinn.example", logger: quietLogger)
        func submit(_ text: String) async throws -> Int64 {
            try await submitter.submit(BuildRequest(
                userID: f.user.id, manifest: try Manifest(parsing: text, file: "bench.yml"), trigger: .manual(by: f.user))).id
        }

        // Warm up (first connections, page cache).
        for _ in 0..<5 { try await f.waitFinished(try await submit(Self.oneJob), timeout: .seconds(30)) }

        var latencies: [Double] = []
        for _ in 0..<Self.latencyBuilds {
            let id = try await submit(Self.oneJob)
            let state = try await f.waitFinished(id, timeout: .seconds(30))
            #expect(state.status == "passed")
            let started = try #require(state.jobs.first { $0.name != "create-driver" }?.startedAt)
            let enqueued = try #require(enqueuer.enqueuedAt.withLock { $0[id] })
            latencies.append(started.timeIntervalSince(enqueued))
        }
        latencies.sort()

        var perJob: [Double] = []
        for _ in 0..<3 {
            let id = try await submit(Self.hundredJobs)
            let state = try await f.waitFinished(id, timeout: .seconds(120))
            #expect(state.status == "passed")
            let jobs = state.jobs.filter { $0.name != "create-driver" }
            #expect(jobs.count == 100)
            let first = try #require(jobs.first?.startedAt)
            let last = try #require(jobs.last?.finishedAt)
            perJob.append(last.timeIntervalSince(first) / Double(jobs.count))
        }
        perJob.sort()
        let script = try await Self.scriptCost()

        let report = """
            worker benchmark (\(Self.executable))
            enqueue → first job running, \(latencies.count) builds one at a time:
              p50 \(Self.milliseconds(Self.percentile(latencies, 0.5))), \
            p90 \(Self.milliseconds(Self.percentile(latencies, 0.9))), \
            p99 \(Self.milliseconds(Self.percentile(latencies, 0.99))), \
            max \(Self.milliseconds(latencies.last!))
            100 jobs of `true`, per job (median of 3 builds): \(Self.milliseconds(perJob[1])) \
            (runs: \(perJob.map(Self.milliseconds).joined(separator: ", ")))
            spawning and reaping `/bin/sh -c true` alone: \(Self.milliseconds(script))
            runner overhead per job: \(Self.milliseconds(perJob[1] - script))

            """
        print(report)
        try report.write(toFile: ProcessInfo.processInfo.environment["DJINN_BENCH_REPORT"] ?? "/dev/null", atomically: false, encoding: .utf8)
    }

    /// The median cost of spawning `/bin/sh -c true` in a process group and reaping it.
    static func scriptCost() async throws -> Double {
        var samples: [Double] = []
        for _ in 0..<200 {
            let start = ContinuousClock.now
            let child = try ChildProcess.spawn(ChildProcess.Configuration(
                executable: "/bin/sh", arguments: ["-c", JobScript.render(commands: ["true"])], workingDirectory: "/tmp",
                environment: ["PATH=/usr/bin:/bin"]))
            for try await _ in child.output {}
            _ = try await child.wait()
            let elapsed = ContinuousClock.now - start
            samples.append(Double(elapsed.components.attoseconds) / 1e18 + Double(elapsed.components.seconds))
        }
        samples.sort()
        return samples[samples.count / 2]
    }

    static let oneJob = """
        driver:
          type: os
        stages: [build]
        jobs:
          - stage: build
            commands: [true]
        """

    static var hundredJobs: String {
        var text = "driver:\n  type: os\nstages: [build]\njobs:\n"
        for index in 1...100 { text += "  - stage: build\n    name: job-\(index)\n    commands: [true]\n" }
        return text
    }
}
