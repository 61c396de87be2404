import DjinnTesting
@testable import DockerEngine
import Foundation
import Synchronization
import Testing

/// The client against the real daemon `scripts/dockerd` starts (skipped, with the reason
/// printed, only where no daemon can run).
@Suite(.enabled("needs a Docker daemon: root with docker.io and busybox-static (scripts/dockerd)") {
    await TestDocker.isAvailable()
})
struct EngineClientTests {
    let label = "org.djinn-ci.test=\(UUID().uuidString.prefix(8))"
    var labels: [String: String] {
        let parts = label.split(separator: "=")
        return [String(parts[0]): String(parts[1])]
    }

    func client() async throws -> (DockerEngineClient, TestDockerDaemon) {
        let daemon = try await TestDocker.required()
        return (try DockerEngineClient(host: daemon.host, apiVersion: "1.40"), daemon)
    }

    @Test func versionAndImage() async throws {
        let (client, daemon) = try await client()
        try await client.ping()
        let version = try await client.version()
        #expect(!version.apiVersion.isEmpty)
        let image = try #require(try await client.inspectImage(daemon.image))
        #expect(image.id.hasPrefix("sha256:"))
        #expect(try await client.inspectImage("djinn-test/never-made:1") == nil)
    }

    /// Files in through a volume, a script run with its output streamed and demultiplexed,
    /// the exit code, a file out as a tar stream, and everything removed.
    @Test func volumeContainerArchiveRoundTrip() async throws {
        let (client, daemon) = try await client()
        let volume = try await client.createVolume(labels: labels)
        let mounts = [ContainerCreateRequest.Mount(source: volume, target: "/ws")]
        let helper = try await client.createContainer(ContainerCreateRequest(
            image: daemon.image, cmd: ["true"], labels: labels, hostConfig: .init(mounts: mounts)))
        let script = "echo out-line\necho err-line >&2\nprintf 'made\\n' > /ws/result.txt\nexit 3\n"
        try await client.putArchive(helper, path: "/ws", tar: TarWriter.archive([
            (TarEntry(name: "in/script.sh", mode: 0o755), Array(script.utf8)),
        ]))
        let job = try await client.createContainer(ContainerCreateRequest(
            image: daemon.image, entrypoint: ["/bin/sh", "/ws/in/script.sh"], env: ["A=1"], workingDir: "/ws", labels: labels,
            hostConfig: .init(mounts: mounts, networkMode: "none")))
        try await client.startContainer(job)
        let collected = Mutex<[(DockerStream, String)]>([])
        try await client.followLogs(job) { stream, bytes in
            collected.withLock { $0.append((stream, String(decoding: bytes, as: UTF8.self))) }
        }
        #expect(try await client.waitContainer(job) == 3)
        let lines = collected.withLock { $0 }
        #expect(lines.filter { $0.0 == .stdout }.map(\.1).joined() == "out-line\n")
        #expect(lines.filter { $0.0 == .stderr }.map(\.1).joined() == "err-line\n")

        let reader = Mutex((TarReader(), [TarEvent]()))
        try await client.getArchive(helper, path: "/ws/result.txt") { bytes in
            try reader.withLock { state in state.1 += try state.0.feed(bytes) }
        }
        let events = reader.withLock { $0.1 }
        guard case .entry(let entry) = events.first else { Issue.record("no entry: \(events)"); return }
        #expect(entry.name == "result.txt")
        #expect(events.contains(.data(Array("made\n".utf8))))
        await #expect(throws: DockerEngineError.self) {
            try await client.getArchive(helper, path: "/ws/missing") { _ in }
        }

        #expect(try await client.listContainers(label: label).count == 2)
        for id in [job, helper] { try await client.removeContainer(id) }
        try await client.removeVolume(volume)
        #expect(try await client.listContainers(label: label).isEmpty)
        #expect(try await client.listVolumes(label: label).isEmpty)
        // Already gone: not an error.
        try await client.removeContainer(job)
        try await client.removeVolume(volume)
    }

    /// Output arrives while the container runs, and a kill ends the stream and the wait.
    @Test func logsStreamLiveAndKillEndsThem() async throws {
        let (client, daemon) = try await client()
        let id = try await client.createContainer(ContainerCreateRequest(
            image: daemon.image, entrypoint: ["/bin/sh", "-c", "echo started; sleep 300"], labels: labels,
            hostConfig: .init(networkMode: "none")))
        try await client.startContainer(id)
        let seen = Mutex("")
        let started = ContinuousClock.now
        async let logs: Void = client.followLogs(id) { _, bytes in
            seen.withLock { $0 += String(decoding: bytes, as: UTF8.self) }
        }
        let deadline = ContinuousClock.now + .seconds(20)
        while !seen.withLock({ $0.contains("started") }) && ContinuousClock.now < deadline {
            try await Task.sleep(for: .milliseconds(20))
        }
        #expect(seen.withLock { $0 } == "started\n", "output came while the container still ran")
        try await client.killContainer(id)
        try await logs
        #expect(try await client.waitContainer(id) == 137)
        #expect(ContinuousClock.now - started < .seconds(20))
        try await client.killContainer(id)  // not running: not an error
        try await client.removeContainer(id)
    }

    /// A cancelled task's request ends promptly with CancellationError.
    @Test func cancellingAFollowEndsIt() async throws {
        let (client, daemon) = try await client()
        let id = try await client.createContainer(ContainerCreateRequest(
            image: daemon.image, entrypoint: ["/bin/sh", "-c", "sleep 300"], labels: labels, hostConfig: .init(networkMode: "none")))
        try await client.startContainer(id)
        let follow = Task { try await client.followLogs(id) { _, _ in } }
        try await Task.sleep(for: .milliseconds(300))
        let cancelledAt = ContinuousClock.now
        follow.cancel()
        await #expect(throws: CancellationError.self) { try await follow.value }
        #expect(ContinuousClock.now - cancelledAt < .seconds(3))
        try await client.removeContainer(id)
    }

    /// A missing image from a registry that cannot be reached (loopback, closed port: no
    /// traffic leaves the machine) fails with the daemon's reason.
    @Test func pullFailureIsReported() async throws {
        let (client, _) = try await client()
        await #expect {
            try await client.pullImage("127.0.0.1:1/djinn/missing:1")
        } throws: { error in
            "\(error)".contains("127.0.0.1:1")
        }
    }

    @Test func unreachableSocketIsATransportError() async throws {
        let client = try DockerEngineClient(host: "unix:///tmp/djinn-no-such-\(UUID().uuidString.prefix(6)).sock", apiVersion: "")
        await #expect {
            try await client.ping()
        } throws: { error in
            guard case DockerEngineError.transport(let text) = error else { return false }
            return text.contains("djinn-no-such")
        }
    }
}
