import DjinnBuilds
import Crypto
import DjinnConfig
import DjinnSSH
import DjinnTesting
import Foundation
import Testing

@testable import DjinnWorker

/// Driver settings: driver.conf merged with the manifest's `driver:` map (no I/O).
@Suite struct DriverConfigurationTests {
    @Test func sshTakesTheAddressFromTheManifestAndTheRestFromTheFile() throws {
        let file = SSHDriverSettings(addr: "10.0.0.1:22", user: "build", password: "pw", key: "/etc/djinn/id", timeout: .seconds(5))
        let merged = try DriverConfiguration.ssh(file: file, manifest: ["type": "ssh", "address": "10.0.0.9:2222"]).get()
        #expect(merged.address == SSHAddress(host: "10.0.0.9", port: 2222))
        #expect(merged.credentials == SSHCredentials(user: "build", password: "pw", privateKeyFile: "/etc/djinn/id"))
        #expect(merged.connectTimeout == .seconds(5))
        // `addr` (what Go's driver reads) wins over `address` (what validation demands).
        #expect(try DriverConfiguration.ssh(file: file, manifest: ["addr": "h:1", "address": "g:2"]).get().addressText == "h:1")
        // Not in the manifest: driver.conf's.
        #expect(try DriverConfiguration.ssh(file: file, manifest: ["type": "ssh"]).get().addressText == "10.0.0.1:22")
    }

    @Test func sshProblemsAreBuildFailuresNamingTheSetting() {
        func failure(_ file: SSHDriverSettings?, _ manifest: [String: String]) -> String? {
            if case .failure(let error) = DriverConfiguration.ssh(file: file, manifest: manifest) { return error.description }
            return nil
        }
        #expect(failure(nil, ["address": "h:22"])?.contains("driver ssh") == true)
        #expect(failure(SSHDriverSettings(user: "u", password: "p"), [:])?.contains("no address") == true)
        #expect(failure(SSHDriverSettings(user: "u", password: "p"), ["address": "h:99999"])?.contains("invalid ssh address") == true)
        #expect(failure(SSHDriverSettings(password: "p"), ["address": "h:22"])?.contains("no user") == true)
        #expect(failure(SSHDriverSettings(user: "u"), ["address": "h:22"])?.contains("neither a key nor a password") == true)
        // The password never appears in a failure.
        #expect(failure(SSHDriverSettings(user: "", password: "s3cret"), ["address": "h:22"])?.contains("s3cret") == false)
    }

    @Test func knownHostsComesFromTheDriverFileOnly() throws {
        let file = SSHDriverSettings(user: "build", password: "pw", knownHosts: "/etc/djinn/known_hosts")
        let manifest = ["address": "h:22", "known_hosts": "/dev/null", "knownHosts": "/dev/null"]
        #expect(try DriverConfiguration.ssh(file: file, manifest: manifest).get().knownHostsFile == "/etc/djinn/known_hosts")
        #expect(try DriverConfiguration.ssh(file: SSHDriverSettings(user: "b", password: "p"), manifest: manifest).get().knownHostsFile == nil)
    }

    @Test func aPasswordWithoutKnownHostsWarnsAtStart() {
        func settings(_ kind: DriverKind, _ ssh: SSHDriverSettings?) -> WorkerProgram.Settings {
            let worker = WorkerSettings(
                driver: kind.rawValue, driverKind: kind, database: DatabaseSettings(addr: "127.0.0.1:5432"), redis: RedisSettings(addr: "127.0.0.1:6379"),
                artifacts: StoreSettings(path: "/a"), objects: StoreSettings(path: "/o"))
            return WorkerProgram.Settings(worker: worker, drivers: DriverFileSettings(ssh: ssh))
        }
        func warning(_ kind: DriverKind, _ ssh: SSHDriverSettings?) -> String? {
            WorkerProgram.unverifiedPasswordWarning(settings(kind, ssh))
        }
        let warned = warning(.ssh, SSHDriverSettings(user: "b", password: "s3cret"))
        #expect(warned?.contains("known_hosts") == true)
        #expect(warned?.contains("s3cret") == false)
        #expect(warning(.ssh, SSHDriverSettings(user: "b", password: "s3cret", knownHosts: "/k")) == nil)
        #expect(warning(.ssh, SSHDriverSettings(user: "b", key: "/id")) == nil)
        #expect(warning(.os, SSHDriverSettings(user: "b", password: "s3cret")) == nil)
        #expect(warning(.ssh, nil) == nil)
        let notes = WorkerProgram.startupNotes(settings(.ssh, SSHDriverSettings(user: "b", password: "p")))
        #expect(notes.filter { $0.message == warned }.count == 1)
    }

    @Test func qemuTakesImageFromTheManifestAndArchFromTheQueue() throws {
        let file = QEMUDriverSettings(arch: "", cpus: 2, memory: 1024, disks: "/var/lib/djinn/images", image: "debian/11")
        let merged = try DriverConfiguration.qemu(file: file, manifest: ["type": "qemu", "image": "debian/12", "arch": "x86_64"], workerArch: nil).get()
        #expect(merged == QEMUDriver.Configuration(arch: "x86_64", cpus: 2, memory: 1024, disks: "/var/lib/djinn/images", image: "debian/12"))
        #expect(try DriverConfiguration.qemu(file: file, manifest: [:], workerArch: "aarch64").get().image == "debian/11")
        #expect(try DriverConfiguration.qemu(file: file, manifest: [:], workerArch: "aarch64").get().arch == "aarch64")
        if case .failure(let error) = DriverConfiguration.qemu(file: QEMUDriverSettings(), manifest: ["image": "x"], workerArch: nil) {
            #expect(error.description.contains("disks") && error.description.contains("cpus") && error.description.contains("memory"))
        } else {
            Issue.record("a qemu block without disks, cpus and memory was accepted")
        }
        if case .success = DriverConfiguration.qemu(file: nil, manifest: ["image": "x"], workerArch: nil) {
            Issue.record("no qemu block was accepted")
        }
    }

    @Test func jobScriptsExportTheEnvironmentQuotedBeforeTracing() {
        let (script, rejected) = SSHDriver.script(
            commands: ["echo \"$GREETING\"", "env"], environment: ["GREETING=it's $HOME", "EMPTY=", "BAD-NAME=x", "A_1=b=c"])
        #expect(script == """
            #!/bin/sh
            exec 2>&1
            export GREETING='it'\\''s $HOME'
            export EMPTY=''
            export A_1='b=c'
            set -ex

            echo "$GREETING"
            env

            """)
        #expect(rejected == ["BAD-NAME"])
    }
}

/// ssh builds end to end: queued on `builds_ssh` as the server queues them, run by an
/// in-process worker whose driver logs in to a real sshd on loopback.
@Suite(.enabled(if: TestSSHServer.available, Comment(rawValue: TestSSHServer.unavailableReason)))
struct SSHDriverTests {
    /// Worker settings for `builds_ssh`, and driver.conf's ssh block.
    func sshWorker(
        _ f: WorkerFixture, _ server: TestSSHServer, key: Bool = false, timeout: Duration = .seconds(10), knownHosts: String = ""
    ) -> (WorkerSettings, DriverFileSettings) {
        var settings = f.settings()
        settings.driver = "ssh"
        settings.driverKind = .ssh
        let block = key
            ? SSHDriverSettings(user: TestSSHServer.user, key: server.privateKeyFile, timeout: timeout, knownHosts: knownHosts)
            : SSHDriverSettings(user: TestSSHServer.user, password: TestSSHServer.password, timeout: timeout, knownHosts: knownHosts)
        return (settings, DriverFileSettings(ssh: block))
    }

    func run<T>(
        _ f: WorkerFixture, _ server: TestSSHServer, key: Bool = false, timeout: Duration = .seconds(10), knownHosts: String = "",
        _ body: () async throws -> T
    ) async throws -> T {
        let (settings, drivers) = sshWorker(f, server, key: key, timeout: timeout, knownHosts: knownHosts)
        return try await f.withService(settings, makeDriver: BuildConsumerService.driverFactory(
            settings, drivers: drivers, postgres: f.pool, logger: quietLogger)) { _ in try await body() }
    }

    func remote(_ server: TestSSHServer) async throws -> SSHSession {
        let session = SSHSession(
            address: SSHAddress(host: "127.0.0.1", port: server.port),
            credentials: SSHCredentials(user: TestSSHServer.user, password: TestSSHServer.password))
        try await session.connect()
        return session
    }

    @Test func aPassingBuildWithVariablesObjectsAndArtifacts() async throws {
        let server = try await TestSSHServer.shared()
        let tag = "t\(UUID().uuidString.prefix(8).lowercased())"
        try await WorkerFixture.with { f in
            try await f.addVariable("GREETING", "it's \"quoted\" $HOME")
            try await f.addVariable("TOKEN", "hunter2-secret-\(tag)", masked: true)
            try await f.addObject("config.txt", "object-content\n")
            let build = try await f.submit("""
                driver:
                  type: ssh
                  address: \(server.address)
                objects:
                  - config.txt => \(tag)/conf/app.txt
                stages: [build]
                jobs:
                  - stage: build
                    name: make
                    commands:
                      - echo "$GREETING"
                      - echo "token=$TOKEN"
                      - test "$(cat \(tag)/conf/app.txt)" = object-content
                      - test "$(stat -c %a \(tag)/conf/app.txt)" = 700
                      - pwd
                      - mkdir -p \(tag)/out && echo one > \(tag)/out/result-1.txt && echo two > \(tag)/out/result-2.txt
                      - echo plain > \(tag)/plain.txt
                      - echo to-stderr >&2
                    artifacts:
                      - \(tag)/plain.txt => plain.txt
                      - \(tag)/out/*.txt => out-*
                      - \(tag)/out/result-?.txt => unnamed.txt
                      - \(tag)/missing/*.log => logs
                """, enabledDrivers: ["ssh"])
            let finished = try await run(f, server) { try await f.waitFinished(build.id) }
            #expect(finished.status == "passed", "\(finished)")
            let driver = try #require(finished.job("create-driver")?.output)
            #expect(driver.contains("Running with Driver ssh...\nConnecting to \(TestSSHServer.user)@\(server.address)...\n"), "\(driver)")
            #expect(driver.contains("Established Driver connection to \(server.address)...\n\n"))
            #expect(driver.contains("Placing object config.txt => \(tag)/conf/app.txt\n"))
            let make = try #require(finished.job("make")?.output)
            #expect(make.contains("it's \"quoted\" $HOME\n"), "\(make)")
            #expect(make.contains("token=xxxxxx"))
            #expect(!finished.storedText.contains("hunter2-secret"))
            #expect(make.contains("\n\(TestSSHServer.home)\n"))
            #expect(make.contains("to-stderr\n"))
            #expect(make.contains("Collecting artifact \(tag)/plain.txt => plain.txt\n"))
            #expect(make.contains("Collected \(tag)/out/result-1.txt => out-result-1.txt\n"), "\(make)")
            #expect(make.contains("Collected \(tag)/out/result-2.txt => out-result-2.txt\n"), "\(make)")
            #expect(make.contains(
                "artifact error: \(tag)/out/result-?.txt matches 2 files (\(tag)/out/result-1.txt, \(tag)/out/result-2.txt); put a * in the name unnamed.txt to store each\n"))
            #expect(make.contains("artifact error: no file matches \(tag)/missing/*.log"))

            let rows = try await f.pool.query(
                "SELECT name, hash, size, sha256 FROM build_artifacts WHERE build_id = $1 ORDER BY name", [build.id])
            var stored: [String: (hash: String, size: Int64?, sha256: [UInt8]?)] = [:]
            for row in rows {
                stored[try row.decode(String.self, column: "name")] = (
                    try row.decode(String.self, column: "hash"), try row.decode(Int64?.self, column: "size"),
                    try row.decode([UInt8]?.self, column: "sha256"))
            }
            // Every match of `out/*.txt => out-*` is stored: the manifest's row holds the first,
            // a new row of the same job and source the second.
            #expect(rows.count == 5, "\(stored.keys.sorted())")
            for (name, content) in ["plain.txt": "plain\n", "out-result-1.txt": "one\n", "out-result-2.txt": "two\n"] {
                let row = try #require(stored[name], "\(name): \(stored.keys)")
                #expect(row.size == Int64(content.utf8.count))
                #expect(row.sha256 == Array(SHA256.hash(data: Array(content.utf8))))
                #expect(FileManager.default.contents(atPath: f.artifactsPath + "/\(f.user.id)/\(row.hash)") == Data(content.utf8))
            }
            #expect(stored["logs"]?.size == nil)
            #expect(stored["unnamed.txt"]?.size == nil)
            let sources = try await f.pool.query(
                "SELECT DISTINCT source, job_id, user_id FROM build_artifacts WHERE build_id = $1 AND name LIKE 'out-%'", [build.id])
            #expect(sources.count == 1)
            #expect(try sources.first?.decode(String.self, column: "source") == "\(tag)/out/*.txt")

            let session = try await remote(server)
            _ = try await session.run("rm -rf \(tag)")
            await session.close()
        }
    }

    @Test func aNonZeroExitFailsTheJobAndStopsTheBuild() async throws {
        let server = try await TestSSHServer.shared()
        try await WorkerFixture.with { f in
            let build = try await f.submit("""
                driver:
                  type: ssh
                  address: \(server.address)
                stages: [one, two]
                jobs:
                  - stage: one
                    name: breaks
                    commands:
                      - echo before
                      - exit 3
                      - echo never-printed
                  - stage: two
                    name: later
                    commands: [echo nope]
                """, enabledDrivers: ["ssh"])
            let finished = try await run(f, server) { try await f.waitFinished(build.id) }
            #expect(finished.status == "failed")
            let breaks = try #require(finished.job("breaks"))
            #expect(breaks.status == "failed")
            #expect(breaks.output?.contains("before") == true)
            #expect(breaks.output?.contains("never-printed") == false)
            #expect(finished.job("later")?.startedAt == nil)
        }
    }

    @Test func keyAuthentication() async throws {
        let server = try await TestSSHServer.shared()
        try await WorkerFixture.with { f in
            let build = try await f.submit("""
                driver:
                  type: ssh
                  address: \(server.address)
                stages: [one]
                jobs:
                  - stage: one
                    name: who
                    commands: [id -un]
                """, enabledDrivers: ["ssh"])
            let finished = try await run(f, server, key: true) { try await f.waitFinished(build.id) }
            #expect(finished.status == "passed", "\(finished)")
            #expect(finished.job("who")?.output?.contains("\n\(TestSSHServer.user)\n") == true)
        }
    }

    /// A known_hosts file holding `entry` for the server, removed by the caller.
    func knownHostsFile(_ server: TestSSHServer, _ entry: String) throws -> String {
        let path = FileManager.default.temporaryDirectory.appendingPathComponent("djinn-known-hosts-\(UUID().uuidString.prefix(8))").path
        try "[127.0.0.1]:\(server.port) \(entry)\n".write(toFile: path, atomically: true, encoding: .utf8)
        return path
    }

    func oneJobBuild(_ f: WorkerFixture, _ server: TestSSHServer) async throws -> CreatedBuild {
        try await f.submit("""
            driver:
              type: ssh
              address: \(server.address)
            stages: [one]
            jobs:
              - stage: one
                name: who
                commands: [id -un]
            """, enabledDrivers: ["ssh"])
    }

    @Test func aKnownHostKeyLetsTheBuildRun() async throws {
        let server = try await TestSSHServer.shared()
        let path = try knownHostsFile(server, try server.hostKeyEd25519)
        defer { unlink(path) }
        try await WorkerFixture.with { f in
            let build = try await oneJobBuild(f, server)
            let finished = try await run(f, server, knownHosts: path) { try await f.waitFinished(build.id) }
            #expect(finished.status == "passed", "\(finished)")
            #expect(finished.job("who")?.output?.contains("\n\(TestSSHServer.user)\n") == true)
        }
    }

    @Test func anotherHostKeyFailsCreateDriverAtOnce() async throws {
        let server = try await TestSSHServer.shared()
        let path = try knownHostsFile(server, "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIOMqqnkVzrm0SdG6UOoqKLsabgH5C9okWi0dh2l9GKJl")
        defer { unlink(path) }
        try await WorkerFixture.with { f in
            let build = try await oneJobBuild(f, server)
            let started = ContinuousClock.now
            // A long connect timeout: the failure must not wait for it.
            let finished = try await run(f, server, timeout: .seconds(60), knownHosts: path) { try await f.waitFinished(build.id) }
            #expect(ContinuousClock.now - started < .seconds(20))
            #expect(finished.status == "failed")
            let driver = try #require(finished.job("create-driver"))
            #expect(driver.status == "failed")
            let output = try #require(driver.output)
            #expect(output.contains(
                "host key verification failed for 127.0.0.1:\(server.port) (ssh-ed25519): does not match the key in \(path); the server's key is SHA256:"),
                "\(output)")
            // One attempt, no retries.
            #expect(output.components(separatedBy: "Connecting to ").count == 2, "\(output)")
            #expect(!output.contains("Established"))
            #expect(!finished.storedText.contains(TestSSHServer.password))
            #expect(finished.job("who")?.startedAt == nil)
        }
    }

    @Test func anUnreachableHostTimesOutWithGosMessage() async throws {
        let server = try await TestSSHServer.shared()
        let port = try unusedLoopbackPort()
        try await WorkerFixture.with { f in
            let build = try await f.submit("""
                driver:
                  type: ssh
                  address: 127.0.0.1:\(port)
                stages: [one]
                jobs:
                  - stage: one
                    name: never
                    commands: [echo never]
                """, enabledDrivers: ["ssh"])
            let started = ContinuousClock.now
            let finished = try await run(f, server, timeout: .seconds(2)) { try await f.waitFinished(build.id) }
            #expect(ContinuousClock.now - started < .seconds(10))
            #expect(finished.status == "failed")
            let driver = try #require(finished.job("create-driver"))
            #expect(driver.status == "failed")
            let output = try #require(driver.output)
            #expect(output.contains("Connecting to \(TestSSHServer.user)@127.0.0.1:\(port)...\n"))
            #expect(output.hasSuffix("Timed out trying to connect to 127.0.0.1:\(port)...\n"), "\(output)")
            #expect(finished.job("never")?.startedAt == nil)
        }
    }

    @Test func aMissingDriverBlockFailsTheBuildWithTheReason() async throws {
        try await WorkerFixture.with { f in
            var settings = f.settings()
            settings.driver = "ssh"
            settings.driverKind = .ssh
            let build = try await f.submit("""
                driver:
                  type: ssh
                  address: 127.0.0.1:22
                stages: [one]
                jobs:
                  - stage: one
                    commands: [echo never]
                """, enabledDrivers: ["ssh"])
            let finished = try await f.withService(settings, makeDriver: BuildConsumerService.driverFactory(
                settings, drivers: DriverFileSettings(), postgres: f.pool, logger: quietLogger)) { _ in try await f.waitFinished(build.id) }
            #expect(finished.status == "failed")
            #expect(finished.job("create-driver")?.output?.contains("no \"driver ssh { … }\" block") == true)
        }
    }

    @Test func aKillEndsTheJobAndItsProcessesOnTheHost() async throws {
        let server = try await TestSSHServer.shared()
        let name = "waits-\(UUID().uuidString.prefix(8).lowercased())"
        try await WorkerFixture.with { f in
            let build = try await f.submit("""
                driver:
                  type: ssh
                  address: \(server.address)
                stages: [one]
                jobs:
                  - stage: one
                    name: \(name)
                    commands:
                      - echo started
                      - sleep 120
                      - echo never
                """, enabledDrivers: ["ssh"])
            let probe = try await remote(server)
            try await run(f, server) {
                try await f.wait(for: build.id, timeout: .seconds(30)) { $0.job(name)?.output?.contains("started") == true }
                // `[w]aits-…` matches the job's processes but not the shell running pgrep.
                let pattern = "[" + name.prefix(1) + "]" + name.dropFirst() + ".sh"
                let (_, before) = try await probe.run("pgrep -f '\(pattern)' || true")
                #expect(!before.isEmpty, "the job's script is not running on the host")
                let secret = try await f.pool.query("SELECT secret FROM builds WHERE id = $1", [build.id])[0].decode(String.self, at: 0)
                let sent = ContinuousClock.now
                #expect(try await f.redis.publish(secret, to: "kill-\(build.id)") == 1)
                let killed = try await f.wait(for: build.id, timeout: .seconds(10), interval: .milliseconds(10)) { $0.finishedAt != nil }
                #expect(ContinuousClock.now - sent < .seconds(2))
                #expect(killed.status == "killed")
                #expect(killed.job(name)?.status == "killed")
                var gone = false
                for _ in 0..<100 {
                    let (_, output) = try await probe.run("pgrep -f '\(pattern)' || true")
                    if output.isEmpty {
                        gone = true
                        break
                    }
                    try await Task.sleep(for: .milliseconds(50))
                }
                #expect(gone, "the job's script survived the kill on the host")
            }
            await probe.close()
        }
    }
}
