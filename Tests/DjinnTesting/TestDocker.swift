import Foundation

/// The Docker daemon of a test run, for the docker driver's tests.
///
/// `scripts/test` starts one with `scripts/dockerd` and exports `DJINN_DOCKER_HOST` and
/// `DJINN_DOCKER_IMAGE` (a busybox image made locally). Under a plain `swift test` the first
/// suite to ask starts one the same way (and stops it at exit) when this machine can run it;
/// when it cannot (not root, no docker.io) the suites are skipped and the reason is printed.
public struct TestDockerDaemon: Sendable, Equatable {
    /// `unix:///…/docker.sock`, as driver.conf's `host`.
    public var host: String
    /// A local image with /bin/sh (busybox); never pulled.
    public var image: String
}

public enum TestDocker {
    public static var script: String { TestServices.repositoryRoot.appendingPathComponent("scripts/dockerd").path }

    private static let shared = SharedDocker()

    /// The daemon, or nil (reason printed once) when this machine cannot run one.
    public static func daemon() async throws -> TestDockerDaemon? {
        try await shared.get()
    }

    /// For `.enabled(if:)`: false only when this machine cannot run a daemon. A daemon that
    /// should start but does not is a failure of the tests (they run and fail), not a skip.
    public static func isAvailable() async -> Bool {
        do { return try await daemon() != nil } catch { return true }
    }

    /// The daemon, or a thrown error for tests that run only when `isAvailable()`.
    public static func required() async throws -> TestDockerDaemon {
        guard let daemon = try await daemon() else { throw TestServicesError.missing("DJINN_DOCKER_HOST") }
        return daemon
    }
}

private actor SharedDocker {
    private var result: Result<TestDockerDaemon?, Error>?

    func get() async throws -> TestDockerDaemon? {
        if let result { return try result.get() }
        let outcome: Result<TestDockerDaemon?, Error>
        do {
            outcome = .success(try await start())
        } catch {
            outcome = .failure(error)
        }
        result = outcome
        return try outcome.get()
    }

    private func start() async throws -> TestDockerDaemon? {
        let env = ProcessInfo.processInfo.environment
        if let host = env["DJINN_DOCKER_HOST"], !host.isEmpty {
            return TestDockerDaemon(host: host, image: env["DJINN_DOCKER_IMAGE"] ?? "djinn-test/busybox:latest")
        }
        // scripts/test found that no daemon can run or start here, and says why.
        if let reason = env["DJINN_DOCKER_UNAVAILABLE"], !reason.isEmpty {
            FileHandle.standardError.write(Data("docker tests skipped: \(reason)\n".utf8))
            return nil
        }
        do {
            try await runCommand([TestDocker.script, "available"])
        } catch TestServicesError.command(_, _, let output) {
            FileHandle.standardError.write(Data(
                "docker tests skipped: no Docker daemon can run here (\(output.trimmingCharacters(in: .whitespacesAndNewlines)))\n".utf8))
            return nil
        }
        let output = try await runCommand([TestDocker.script, "start"])
        let values = TestServices.parseEnv(output)
        guard let host = values["DJINN_DOCKER_HOST"], let directory = values["DJINN_DOCKER_DIR"] else {
            throw TestServicesError.command("scripts/dockerd start", 0, output)
        }
        runAtExit([TestDocker.script, "stop", directory])
        return TestDockerDaemon(host: host, image: values["DJINN_DOCKER_IMAGE"] ?? "djinn-test/busybox:latest")
    }
}
