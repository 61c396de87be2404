import DjinnConfig
import DjinnTesting
@testable import DjinnWorker
import DockerEngine
import Foundation
import Synchronization
import Testing

/// Docker builds end to end: created as the server creates them, queued on `builds_docker`,
/// run by an in-process worker against the real dockerd that `scripts/dockerd` starts, with
/// its local busybox image. Skipped (reason printed) only where no daemon can run.
@Suite(.enabled("needs a Docker daemon: root with docker.io and busybox-static (scripts/dockerd)") {
    await TestDocker.isAvailable()
})
struct DockerDriverTests {
    /// Makes the worker's docker drivers as the worker does, and remembers them.
    final class Made: Sendable {
        let list = Mutex<[DockerDriver]>([])
    }

    final class Drivers: Sendable {
        let daemon: TestDockerDaemon
        let made = Made()
        let factory: @Sendable (BuildDefinition) -> any BuildDriver

        init(_ f: WorkerFixture, daemon: TestDockerDaemon, file: DockerDriverSettings?) {
            self.daemon = daemon
            let settings = f.settings(driver: .docker)
            let made = self.made
            let inner = BuildConsumerService.driverFactory(settings, drivers: DriverFileSettings(docker: file), logger: quietLogger)
            let tmp = f.directory.appendingPathComponent("tmp").path
            factory = { definition in
                let driver = inner(definition)
                guard let docker = driver as? DockerDriver else { return driver }
                let spooled = DockerDriver(
                    configuration: docker.configuration, build: docker.build, temporaryDirectory: tmp, logger: quietLogger)
                made.list.withLock { $0.append(spooled) }
                return spooled
            }
        }

        /// Containers and volumes of these drivers still on the daemon.
        func leftovers() async throws -> [String] {
            let client = try DockerEngineClient(host: daemon.host, apiVersion: "")
            var found: [String] = []
            for driver in made.list.withLock({ $0 }) {
                let label = "\(DockerDriver.labelKey)=\(driver.instance)"
                found += try await client.listContainers(label: label).map { "container \($0.id)" }
                found += try await client.listVolumes(label: label).map { "volume \($0.name)" }
            }
            return found
        }
    }

    static func drivers(_ f: WorkerFixture, version: String = "1.40") async throws -> Drivers {
        let daemon = try await TestDocker.required()
        return Drivers(f, daemon: daemon, file: DockerDriverSettings(host: daemon.host, version: version))
    }

    @Test func passingBuildWithObjectsKeysMaskedVariableAndArtifacts() async throws {
        try await WorkerFixture.with { f in
            let drivers = try await Self.drivers(f)
            try await f.addVariable("SECRET", "hunter2-supersecret", masked: true)
            try await f.addVariable("PLAIN", "plain-value")
            try await f.addKey("deploy", "KEY-BODY-LINE\n", config: "Host example.com")
            try await f.addObject("config.txt", "config-content\n")
            try await f.addObject("data.bin", "data-content\n")
            let build = try await f.submit("""
                driver:
                  type: docker
                  image: \(drivers.daemon.image)
                  workspace: /workspace
                objects:
                  - config.txt => conf/app.txt
                  - data.bin => /etc/data.bin
                stages: [build, test]
                jobs:
                  - stage: build
                    name: compile
                    commands:
                      - echo "secret is $SECRET and plain is $PLAIN"
                      - pwd
                      - cat conf/app.txt /workspace/etc/data.bin
                      - echo to-stderr >&2
                      - mkdir -p out && printf 'artifact-content\\n' > out/result.txt
                      - cat /root/.ssh/config /root/.ssh/deploy
                      - stat -c 'mode %a %n' "$0" /root/.ssh /root/.ssh/deploy
                    artifacts:
                      - out/result.txt => result.txt
                      - missing.txt => missing.txt
                      - out => directory
                  - stage: test
                    commands:
                      - test -f out/result.txt
                      - echo "workspace kept"
                """)
            let started = ContinuousClock.now
            let finished = try await f.withService(f.settings(driver: .docker), makeDriver: drivers.factory) { _ in
                try await f.waitFinished(build.id)
            }
            let elapsed = ContinuousClock.now - started
            #expect(finished.status == "passed", "\(finished)")
            #expect(finished.jobs.map(\.status) == ["passed", "passed", "passed"])
            let create = try #require(finished.job("create-driver")?.output)
            #expect(create.contains("Running with Docker driver...\nUsing Docker API version 1.40...\n"), "\(create)")
            #expect(create.contains("Using Docker image \(drivers.daemon.image) - sha256:"))
            #expect(create.contains("Placing object config.txt => conf/app.txt\nPlacing object data.bin => /etc/data.bin\n"))
            #expect(create.contains("Placing key deploy => /root/.ssh/deploy"))
            #expect(!create.contains("error"), "\(create)")

            let compile = try #require(finished.job("compile")?.output)
            #expect(compile.contains("secret is xxxxxx and plain is plain-value"), "\(compile)")
            #expect(!finished.storedText.contains("hunter2-supersecret"), "the secret was stored")
            #expect(compile.contains("+ pwd\n/workspace\n"))
            #expect(compile.contains("config-content\ndata-content\n"))
            #expect(compile.contains("to-stderr"))
            #expect(compile.contains("\nStrictHostKeyChecking no\nUserKnownHostsFile /dev/null\n\nHost example.com\nKEY-BODY-LINE\n"))
            // The script is really 0755 (Go wrote decimal 755), and where the entrypoint ran it.
            #expect(compile.contains("mode 755 /workspace/.djinn/compile.sh"), "\(compile)")
            #expect(compile.contains("mode 700 /root/.ssh\nmode 600 /root/.ssh/deploy"))
            #expect(compile.contains("Collecting artifact out/result.txt => result.txt\n"))
            #expect(compile.contains("Collecting artifact missing.txt => missing.txt\nartifact error: missing.txt: no such file or directory\n"))
            #expect(compile.contains("artifact error: out is not a regular file"), "\(compile)")
            #expect(finished.job("test.1")?.output?.contains("workspace kept") == true)

            let row = try await f.pool.query(
                "SELECT hash, size FROM build_artifacts WHERE build_id = $1 AND name = 'result.txt'", [build.id])[0]
            #expect(try row.decode(Int64?.self, column: "size") == 17)
            let hash = try row.decode(String.self, column: "hash")
            #expect(FileManager.default.contents(atPath: f.artifactsPath + "/\(f.user.id)/\(hash)") == Data("artifact-content\n".utf8))
            #expect(try await drivers.leftovers().isEmpty)
            #expect(try f.leftoverWorkingDirectories().isEmpty, "artifact spools are unlinked")
            print("docker build end to end (create, 2 jobs, 3 artifacts, destroy): \(elapsed)")
        }
    }

    /// Output arrives while the job runs (the Engine's log stream, not after the container
    /// exits); a failing job fails the build and nothing after it runs.
    @Test func outputStreamsLiveAndAFailingJobStopsTheBuild() async throws {
        try await WorkerFixture.with { f in
            let drivers = try await Self.drivers(f, version: "")
            let build = try await f.submit("""
                driver:
                  type: docker
                  image: \(drivers.daemon.image)
                  workspace: /build
                stages: [one, two]
                jobs:
                  - stage: one
                    name: slow
                    commands: [echo first-line, sleep 3, echo second-line]
                  - stage: one
                    name: breaks
                    commands: [echo before, exit 3, echo never-printed]
                  - stage: two
                    name: later
                    commands: [echo nope]
                """)
            try await f.withService(f.settings(driver: .docker), makeDriver: drivers.factory) { _ in
                let streaming = try await f.wait(for: build.id, timeout: .seconds(30)) {
                    $0.job("slow")?.output?.contains("first-line") == true
                }
                #expect(streaming.job("slow")?.status == "running")
                #expect(streaming.job("slow")?.output?.contains("second-line") == false, "output arrived before the container ended")
                let finished = try await f.waitFinished(build.id)
                #expect(finished.status == "failed")
                #expect(finished.job("slow")?.status == "passed")
                #expect(finished.job("slow")?.output?.contains("second-line") == true)
                let breaks = try #require(finished.job("breaks"))
                #expect(breaks.status == "failed")
                #expect(breaks.output?.contains("before") == true)
                #expect(breaks.output?.contains("never-printed") == false)
                #expect(finished.job("later")?.startedAt == nil)
                #expect(finished.job("later")?.status == "failed")
                // The daemon's own API version was used (none configured).
                #expect(finished.job("create-driver")?.output?.contains("Using Docker API version 1.") == true)
            }
            #expect(try await drivers.leftovers().isEmpty)
        }
    }

    /// A build of one job running `command` in `image`, workspace /workspace.
    static func oneJobManifest(_ image: String, command: String) -> String {
        """
        driver:
          type: docker
          image: \(image)
          workspace: /workspace
        stages: [build]
        jobs:
          - stage: build
            commands: [\(command)]
        """
    }

    static func waitingManifest(_ image: String) -> String {
        """
        driver:
          type: docker
          image: \(image)
          workspace: /workspace
        stages: [build]
        jobs:
          - stage: build
            name: waits
            commands: [echo started, sleep 300]
        """
    }

    @Test func killStopsTheContainerPromptlyAndLeavesNothingBehind() async throws {
        try await WorkerFixture.with { f in
            let drivers = try await Self.drivers(f)
            let build = try await f.submit(Self.waitingManifest(drivers.daemon.image))
            try await f.withService(f.settings(driver: .docker), makeDriver: drivers.factory) { _ in
                _ = try await f.wait(for: build.id, timeout: .seconds(30)) { $0.job("waits")?.output?.contains("started") == true }
                #expect(try await drivers.leftovers().count == 3, "helper, job container and volume while it runs")
                let secret = try await f.pool.query("SELECT secret FROM builds WHERE id = $1", [build.id])[0].decode(String.self, at: 0)
                let sent = ContinuousClock.now
                #expect(try await f.redis.publish(secret, to: "kill-\(build.id)") == 1)
                let killed = try await f.wait(for: build.id, timeout: .seconds(20), interval: .milliseconds(10)) { $0.finishedAt != nil }
                let elapsed = ContinuousClock.now - sent
                #expect(elapsed < .seconds(5), "killed after \(elapsed)")
                print("docker build killed and cleaned up \(elapsed) after the kill message")
                #expect(killed.status == "killed")
                #expect(killed.job("waits")?.status == "killed")
                // Destroy runs before the build row is finished.
                #expect(try await drivers.leftovers().isEmpty)
            }
        }
    }

    @Test func timeoutStopsTheContainerAndLeavesNothingBehind() async throws {
        try await WorkerFixture.with { f in
            let drivers = try await Self.drivers(f)
            let build = try await f.submit(Self.waitingManifest(drivers.daemon.image))
            // The limit counts from the build's start, so it must cover creating the helper
            // container and volume: 1.5–2 s here, 6.5 s seen in a loaded CI run. 15 s leaves
            // the job time to print before the limit strikes.
            let finished = try await f.withService(
                f.settings(driver: .docker), runSettings: RunSettings(timeout: .seconds(15)), makeDriver: drivers.factory
            ) { _ in try await f.waitFinished(build.id, timeout: .seconds(60)) }
            #expect(finished.status == "timed_out")
            #expect(finished.job("waits")?.status == "timed_out")
            #expect(finished.job("waits")?.output?.contains("started") == true)
            #expect(try await drivers.leftovers().isEmpty)
        }
    }

    /// A worker SIGKILLed mid-build leaves its containers and volume; when the build runs
    /// again, creation removes them (they carry the build's id) and the build passes. Another
    /// build's containers are left alone.
    @Test func anEarlierAttemptsLeftoversAreRemovedWhenTheBuildRunsAgain() async throws {
        try await WorkerFixture.with { f in
            let drivers = try await Self.drivers(f)
            let build = try await f.submit(Self.oneJobManifest(drivers.daemon.image, command: "echo again"))
            let client = try DockerEngineClient(host: drivers.daemon.host, apiVersion: "")
            let database = f.settings(driver: .docker).database
            func label(_ id: Int64) -> String { "\(database.name)@\(database.addr)/\(id)" }
            func leftBehind(build id: Int64) async throws -> String {
                let labels = [DockerDriver.labelKey: "dead-worker-\(id)", DockerDriver.buildLabelKey: label(id)]
                let volume = try await client.createVolume(labels: labels)
                return try await client.createContainer(ContainerCreateRequest(
                    image: drivers.daemon.image, entrypoint: ["/bin/sh"], cmd: ["-c", "true"], labels: labels,
                    hostConfig: .init(mounts: [.init(source: volume, target: "/workspace")], networkMode: "none")))
            }
            _ = try await leftBehind(build: build.id)
            let otherBuild = build.id + 1_000_000
            let other = try await leftBehind(build: otherBuild)
            let finished = try await f.withService(f.settings(driver: .docker), makeDriver: drivers.factory) { _ in
                try await f.waitFinished(build.id)
            }
            #expect(finished.status == "passed", "\(finished)")
            let mine = "\(DockerDriver.buildLabelKey)=\(label(build.id))"
            #expect(try await client.listContainers(label: mine).isEmpty)
            #expect(try await client.listVolumes(label: mine).isEmpty)
            let otherLabel = "\(DockerDriver.buildLabelKey)=\(label(otherBuild))"
            #expect(try await client.listContainers(label: otherLabel).map(\.id) == [other])
            #expect(try await client.listVolumes(label: otherLabel).count == 1)
            try await client.removeContainer(other)
            for volume in try await client.listVolumes(label: otherLabel) { try await client.removeVolume(volume.name) }
        }
    }

    /// An image the daemon lacks and cannot pull (a registry on a closed loopback port: no
    /// traffic leaves the machine) fails the build at creation with the daemon's reason.
    @Test func missingImageThatCannotBePulledFailsClearly() async throws {
        try await WorkerFixture.with { f in
            let drivers = try await Self.drivers(f)
            let build = try await f.submit("""
                driver:
                  type: docker
                  image: 127.0.0.1:1/djinn/missing:1
                  workspace: /workspace
                stages: [build]
                jobs:
                  - stage: build
                    commands: [echo never]
                """)
            let finished = try await f.withService(f.settings(driver: .docker), makeDriver: drivers.factory) { _ in
                try await f.waitFinished(build.id)
            }
            #expect(finished.status == "failed")
            let create = try #require(finished.job("create-driver")?.output)
            #expect(create.contains("Pulling image 127.0.0.1:1/djinn/missing:1...\n"), "\(create)")
            #expect(create.contains("image 127.0.0.1:1/djinn/missing:1 is not on the Docker host and cannot be pulled: "), "\(create)")
            #expect(create.contains("127.0.0.1:1"))
            #expect(finished.job("build.1")?.startedAt == nil)
            #expect(try await drivers.leftovers().isEmpty)
        }
    }

    /// The `djinn-worker` binary with `driver "docker"` and driver.conf's docker block.
    @Test func theWorkerProcessRunsDockerBuildsFromItsDriverFile() async throws {
        try await WorkerFixture.with { f in
            let daemon = try await TestDocker.required()
            let files = try f.writeWorkerConfig(driverKind: "docker", driverFile: """
                driver docker {
                    host "\(daemon.host)"
                    version "1.41"
                }

                """)
            let worker = try WorkerProcess(
                config: files.config, driver: files.driver, log: files.log,
                environment: ["TMPDIR": f.directory.appendingPathComponent("tmp").path])
            let build = try await f.submit("""
                driver:
                  type: docker
                  image: \(daemon.image)
                  workspace: /workspace
                stages: [build]
                jobs:
                  - stage: build
                    commands: [echo from-a-container, exit 4]
                """)
            let finished = try await f.waitFinished(build.id)
            #expect(await worker.stop() == 0, "\(worker.log)")
            #expect(finished.status == "failed")
            #expect(finished.job("build.1")?.output?.contains("+ echo from-a-container\nfrom-a-container\n+ exit 4\n") == true, "\(finished)")
            #expect(finished.job("create-driver")?.output?.contains("Using Docker API version 1.41...") == true)
            let log = worker.log
            #expect(log.contains("consuming from queue: builds_docker"))
            #expect(!log.contains("not available in this worker yet"), "\(log)")
        }
    }

    /// Settings that cannot work fail the build with the reason; the worker goes on.
    @Test func missingSettingsFailTheBuildClearly() async throws {
        try await WorkerFixture.with { f in
            let drivers = try await Self.drivers(f)
            let manifest = Self.oneJobManifest(drivers.daemon.image, command: "echo never")
            // The server's validation demands image and workspace; a row written otherwise
            // (older server, hand edit) must still fail cleanly.
            let noWorkspace = try await f.submit(manifest)
            try await f.pool.execute(
                "UPDATE build_drivers SET config = $2::json WHERE build_id = $1", [noWorkspace.id, #"{"type":"docker","image":"x"}"#])
            let noImage = try await f.submit(manifest)
            try await f.pool.execute(
                "UPDATE build_drivers SET config = $2::json WHERE build_id = $1", [noImage.id, #"{"type":"docker","workspace":"/w"}"#])
            let relative = try await f.submit(manifest)
            try await f.pool.execute(
                "UPDATE build_drivers SET config = $2::json WHERE build_id = $1",
                [relative.id, "{\"type\":\"docker\",\"image\":\"\(drivers.daemon.image)\",\"workspace\":\"work\"}"])
            try await f.withService(f.settings(driver: .docker), makeDriver: drivers.factory) { _ in
                for (build, reason) in [
                    (noWorkspace, "docker driver: the manifest's driver block has no workspace\n"),
                    (noImage, "docker driver: the manifest's driver block has no image\n"),
                    (relative, "docker driver: workspace work must be an absolute directory other than /\n"),
                ] {
                    let finished = try await f.waitFinished(build.id)
                    #expect(finished.status == "failed")
                    #expect(finished.job("create-driver")?.output?.hasSuffix(reason) == true, "\(finished)")
                }
            }
            // And a worker whose driver.conf has no docker block at all.
            let noHost = try await f.submit(manifest)
            let withoutBlock = Drivers(f, daemon: drivers.daemon, file: nil)
            let finished = try await f.withService(f.settings(driver: .docker), makeDriver: withoutBlock.factory) { _ in
                try await f.waitFinished(noHost.id)
            }
            #expect(finished.status == "failed")
            #expect(finished.job("create-driver")?.output?.contains("driver.conf has no \"driver docker { host … }\" block") == true)
        }
    }
}

/// The docker driver's pure parts: the settings merge, paths in the workspace, the keys archive.
@Suite struct DockerDriverUnitTests {
    let file = DockerDriverSettings(host: "unix:///var/run/docker.sock", version: "1.40", image: "file-image", workspace: "/file")

    @Test func manifestGivesImageAndWorkspaceAndReplacesTheFiles() throws {
        let merged = try DockerDriverConfiguration.merge(file: file, manifest: ["type": "docker", "image": "debian:12", "workspace": "/src/"]).get()
        #expect(merged == DockerDriverConfiguration(host: "unix:///var/run/docker.sock", version: "1.40", image: "debian:12", workspace: "/src/"))
        #expect(merged.workspacePath == "/src")
        // Absent from the manifest: empty, not the file's value (spec §5.1) — so a failure.
        let missing = DockerDriverConfiguration.merge(file: file, manifest: ["image": "debian:12"])
        #expect(missing == .failure(DriverError("docker driver: the manifest's driver block has no workspace")))
    }

    @Test func everyMissingSettingIsNamed() {
        let manifest = ["image": "i", "workspace": "/w"]
        #expect(DockerDriverConfiguration.merge(file: nil, manifest: manifest)
            == .failure(DriverError("docker driver: driver.conf has no \"driver docker { host … }\" block")))
        #expect(DockerDriverConfiguration.merge(file: DockerDriverSettings(), manifest: manifest)
            == .failure(DriverError("docker driver: driver.conf's docker block has no host (e.g. host \"unix:///var/run/docker.sock\")")))
        #expect(DockerDriverConfiguration.merge(file: file, manifest: ["workspace": "/w"])
            == .failure(DriverError("docker driver: the manifest's driver block has no image")))
        for workspace in ["/", "relative", "/..", "/./"] {
            #expect(DockerDriverConfiguration.merge(file: file, manifest: ["image": "i", "workspace": workspace])
                == .failure(DriverError("docker driver: workspace \(workspace) must be an absolute directory other than /")))
        }
    }

    @Test func destinationsLandInsideTheWorkspace() {
        let ws = "/workspace"
        #expect(DockerDriver.workspaceComponents("conf/app.txt", workspace: ws) == ["conf", "app.txt"])
        #expect(DockerDriver.workspaceComponents("/workspace/a/b", workspace: ws) == ["a", "b"])
        #expect(DockerDriver.workspaceComponents("/etc/data.bin", workspace: ws) == ["etc", "data.bin"])
        #expect(DockerDriver.workspaceComponents("../../escape", workspace: ws) == nil)
        #expect(DockerDriver.workspaceComponents("/workspace", workspace: ws) == nil)
        #expect(DockerDriver.workspaceComponents("a/../../b", workspace: ws) == nil)
    }

    @Test func keysArchiveHoldsKeysAndConfig() throws {
        let (archive, lines) = DockerDriver.keysArchive([
            DriverKey(name: "deploy", content: Array("K".utf8), config: "Host a", location: "/root/.ssh/deploy"),
        ])
        #expect(lines == ["Placing key deploy => /root/.ssh/deploy\n", "\n"])
        var reader = TarReader()
        let entries = try reader.feed(archive).compactMap { event -> TarEntry? in
            if case .entry(let entry) = event { return entry }
            return nil
        }
        #expect(entries.map(\.name) == ["root/.ssh/", "root/.ssh/deploy", "root/.ssh/config"])
        #expect(entries.map(\.mode) == [0o700, 0o600, 0o600])
    }
}
