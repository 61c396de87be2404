import DjinnQEMU
import DjinnRunner
import DjinnTesting
import Foundation
import Logging
import Synchronization
import Testing

@testable import DjinnWorker

/// The qemu driver up to the SSH login, with a stand-in `qemu-system-x86_64` (a shell script
/// that records its arguments and fails as qemu does), and — only when a real qemu and an
/// image are there — a real boot.
@Suite struct QEMUDriverTests {
    /// A directory with a fake `qemu-system-x86_64`: it appends its arguments to `calls` and
    /// fails with qemu's host-forwarding message for even ports, and with qemu's missing-file
    /// message otherwise.
    struct FakeQEMU {
        let directory: String
        var calls: [String] {
            ((try? String(contentsOfFile: directory + "/calls", encoding: .utf8)) ?? "").split(separator: "\n").map(String.init)
        }

        init() throws {
            directory = FileManager.default.temporaryDirectory.appendingPathComponent("fake-qemu-\(UUID().uuidString.prefix(8))").path
            try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
            let script = """
                #!/bin/sh
                echo "$*" >> "\(directory)/calls"
                case "$*" in
                  *hostfwd=tcp:127.0.0.1:*[02468]-:22*)
                    echo "qemu-system-x86_64: Could not set up host forwarding rule 'tcp:127.0.0.1:x-:22'" >&2; exit 1 ;;
                esac
                echo "qemu-system-x86_64: -drive file=x: Could not open 'x': No such file or directory" >&2
                exit 1
                """
            try writeExecutable(directory + "/qemu-system-x86_64", script)
        }

        func remove() { try? FileManager.default.removeItem(atPath: directory) }
    }

    /// Runs `create` with an output sink of its own; returns the error text and what was printed.
    func create(_ driver: QEMUDriver) async -> (error: String?, printed: String) {
        let sink = OutputSink(masks: [])
        sink.open(.job(1))
        var failure: String?
        do {
            try await driver.create(DriverSetup(environment: [], keys: [], objects: []), output: DriverOutput(sink: sink, stream: .job(1)))
        } catch {
            failure = "\(error)"
        }
        await driver.abort()
        await driver.destroy()
        sink.close(.job(1))
        let printed = sink.takeJobUpdate(1, final: true)?.suffix ?? ""
        return (failure, printed)
    }

    let configuration = QEMUDriver.Configuration(arch: "x86_64", cpus: 1, memory: 256, disks: "/var/lib/djinn/images", image: "debian/12")

    @Test func aTakenPortIsRetriedAndAMissingImageExplained() async throws {
        let fake = try FakeQEMU()
        defer { fake.remove() }
        let ports = HostPortAllocator(range: 40000...40100)
        let driver = QEMUDriver(configuration: .success(configuration), ports: ports, searchPath: fake.directory, kvmDevice: nil, logger: quietLogger) { _ in nil }
        let (error, printed) = await create(driver)
        #expect(printed.hasPrefix("Running with Driver qemu...\nCreating machine with arch x86_64...\nBooting machine with image debian/12...\n"), "\(printed)")
        #expect(error == "failed to boot machine\ncouldn't find image debian/12\nmake sure your image exists in the namespace the build is being run from")
        let calls = fake.calls
        #expect(calls.count >= 2, "\(calls)")
        #expect(calls.first?.contains("hostfwd=tcp:127.0.0.1:40000-:22") == true)
        #expect(calls.last?.contains("-drive file=/var/lib/djinn/images/_base/qemu/x86_64/debian/12,media=disk,snapshot=on,if=virtio") == true)
        #expect(calls.allSatisfy { $0.contains("-daemonize -display none -pidfile ") })
        #expect(ports.reservedPorts.isEmpty)
    }

    @Test func theUsersOwnImageIsUsedAndDotDotRejected() async throws {
        let fake = try FakeQEMU()
        defer { fake.remove() }
        let ports = HostPortAllocator(range: 40201...40300)
        let own = QEMUDriver(configuration: .success(configuration), ports: ports, searchPath: fake.directory, kvmDevice: nil, logger: quietLogger) { name in
            name == "debian/12" ? QEMUDriver.UserImage(userID: 7, hash: "h4sh") : nil
        }
        _ = await create(own)
        #expect(fake.calls.last?.contains("file=/var/lib/djinn/images/7/qemu/h4sh,") == true, "\(fake.calls)")

        var escaping = configuration
        escaping.image = "../../../etc/shadow"
        let driver = QEMUDriver(configuration: .success(escaping), ports: ports, searchPath: fake.directory, kvmDevice: nil, logger: quietLogger) { _ in nil }
        let (error, _) = await create(driver)
        #expect(error == "invalid image name ../../../etc/shadow: it must not contain ..")
    }

    @Test func noQEMUOrNoSettingsFailTheBuildWithTheReason() async throws {
        let driver = QEMUDriver(configuration: .success(configuration), searchPath: "/nonexistent", logger: quietLogger) { _ in nil }
        #expect(await create(driver).error == "failed to boot machine\nqemu-system-x86_64 is not installed on the worker's host")
        let unset = QEMUDriver(configuration: .failure(DriverError("the qemu driver needs cpus")), logger: quietLogger) { _ in nil }
        #expect(await create(unset).error == "the qemu driver needs cpus")
    }

    /// A real boot: needs qemu-system-x86_64 and an image whose root logs in over SSH with
    /// an empty password (DJINN_TEST_QEMU_IMAGE, a qcow2 path; scripts/qemu-image builds one
    /// and scripts/test exports it). Otherwise it says why and passes. KVM is decided as the
    /// worker decides it (`KVMCheck`'s probe; a nested sandbox's /dev/kvm opens and then stops
    /// the VM, so it emulates); DJINN_TEST_QEMU_KVM=0 forces emulation (TCG).
    /// Covers: boot and login, variables, a key and an object placed over SFTP, `id -un`, a
    /// failing job's status, an artifact found by a glob, and that destroy leaves no qemu
    /// process, pid file or reserved port behind.
    @Test(.timeLimit(.minutes(10))) func aRealMachineBootsAndRunsAJob() async throws {
        let environment = ProcessInfo.processInfo.environment
        guard let qemu = QEMUDriver.find("qemu-system-x86_64", path: environment["PATH"]) else {
            print("QEMUDriverTests.aRealMachineBootsAndRunsAJob skipped: qemu-system-x86_64 is not installed")
            return
        }
        guard let image = environment["DJINN_TEST_QEMU_IMAGE"], FileManager.default.fileExists(atPath: image) else {
            print("QEMUDriverTests.aRealMachineBootsAndRunsAJob skipped: set DJINN_TEST_QEMU_IMAGE to a qcow2 image (root, empty password, sshd; scripts/qemu-image)")
            return
        }
        let kvm = environment["DJINN_TEST_QEMU_KVM"] != "0"
        let scratch = FileManager.default.temporaryDirectory.appendingPathComponent("qemu-disks-\(UUID().uuidString.prefix(8))").path
        let disks = scratch + "/disks"
        try FileManager.default.createDirectory(atPath: disks + "/_base/qemu/x86_64", withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(atPath: scratch) }
        try FileManager.default.createSymbolicLink(atPath: disks + "/_base/qemu/x86_64/test", withDestinationPath: image)
        try Data("object-content\n".utf8).write(to: URL(fileURLWithPath: scratch + "/object"))

        let ports = HostPortAllocator(range: 2222...65535)
        let driver = QEMUDriver(
            configuration: .success(.init(arch: "x86_64", cpus: 1, memory: 256, disks: disks, image: "test")), ports: ports,
            searchPath: (qemu as NSString).deletingLastPathComponent, kvmDevice: kvm ? "/dev/kvm" : nil, logger: quietLogger
        ) { _ in nil }
        let sink = OutputSink(masks: [])
        func run(_ id: Int64, _ commands: [String]) async throws -> (JobOutcome, String) {
            sink.open(.job(id))
            let outcome = try await driver.execute(DriverJob(id: id, name: "job-\(id)", commands: commands), output: DriverOutput(sink: sink, stream: .job(id)))
            sink.close(.job(id))
            return (outcome, sink.takeJobUpdate(id, final: true)?.suffix ?? "")
        }

        let clock = ContinuousClock()
        let started = clock.now
        var machines: [QEMUProcess] = []
        do {
            sink.open(.job(1))
            let setup = DriverSetup(
                environment: ["GREETING=hi there", "1NOT_A_NAME=x"],
                keys: [DriverKey(name: "deploy", content: Array("key-bytes\n".utf8), config: "Host example\n\tIdentityFile ~/.ssh/deploy", location: "/root/.ssh/deploy")],
                objects: [DriverObject(name: "config.txt", destination: "conf/app.txt", file: .success(scratch + "/object"))])
            try await driver.create(setup, output: DriverOutput(sink: sink, stream: .job(1)))
            let booted = started.duration(to: clock.now)
            sink.close(.job(1))
            let created = sink.takeJobUpdate(1, final: true)?.suffix ?? ""
            #expect(created.contains("Booting machine with image test...\n"), "\(created)")
            #expect(created.contains("Established SSH connection to machine as root...\n\n"), "\(created)")
            #expect(created.contains("Placing key deploy => ~/.ssh/deploy\n"), "\(created)")
            #expect(created.contains("Placing object config.txt => conf/app.txt\n"), "\(created)")
            let withKVM = !created.contains("the machine runs without KVM (slow)\n")
            if !kvm { #expect(!withKVM) }
            machines = QEMUProcess.running(with: disks)
            #expect(machines.count == 1, "\(machines)")

            let (passed, printed) = try await run(2, [
                "echo \"$GREETING\" from $(id -un)",
                "test \"$(cat conf/app.txt)\" = object-content",
                "test \"$(cat ~/.ssh/deploy)\" = key-bytes && grep -q 'IdentityFile ~/.ssh/deploy' ~/.ssh/config",
                "mkdir -p out && echo artifact-content > out/result-1.txt",
            ])
            #expect(passed == .passed, "\(printed)")
            #expect(printed.contains("Failed to setenv 1NOT_A_NAME: not a valid variable name\n"), "\(printed)")
            #expect(printed.contains("hi there from root\n"), "\(printed)")

            let (failed, failing) = try await run(3, ["echo before", "exit 3", "echo never-printed"])
            #expect(failed == .failed(nil), "\(failing)")
            #expect(failing.contains("before\n") && !failing.contains("never-printed\n"), "\(failing)")

            let files = try await driver.artifactFiles("out/*.txt")
            #expect(files == [ArtifactFile(path: "out/result-1.txt", matched: true)])
            // OpenFile closes its descriptor when released.
            let artifact = try await driver.openArtifact(files.first?.path ?? "")
            var bytes = [UInt8](repeating: 0, count: 64)
            let count = read(artifact.descriptor, &bytes, bytes.count)
            #expect(artifact.size == 17 && count == 17 && Array(bytes.prefix(max(count, 0))) == Array("artifact-content\n".utf8))
            let total = started.duration(to: clock.now)
            print("QEMUDriverTests.aRealMachineBootsAndRunsAJob: \(withKVM ? "KVM" : "TCG") boot to login \(booted), boot + 2 jobs + artifact \(total)")
        } catch {
            await driver.destroy()
            throw error
        }
        let destroying = clock.now
        await driver.destroy()
        print("QEMUDriverTests.aRealMachineBootsAndRunsAJob: destroy \(destroying.duration(to: clock.now))")

        // The VM is gone (a zombie waiting for its reaper has no cmdline and does not count),
        // with its pid file and port.
        let deadline = clock.now + .seconds(10)
        while !QEMUProcess.running(with: disks).isEmpty && clock.now < deadline { try await Task.sleep(for: .milliseconds(100)) }
        #expect(QEMUProcess.running(with: disks).isEmpty)
        for machine in machines {
            #expect(machine.pidFile.map { !FileManager.default.fileExists(atPath: $0) } == true, "\(machine)")
        }
        #expect(ports.reservedPorts.isEmpty)
    }

    /// A real machine stopped while it boots (a kill or time-out during the login retries):
    /// `create` ends with CancellationError and the VM is gone. Needs what
    /// aRealMachineBootsAndRunsAJob needs; takes seconds, not a boot. (A stop while qemu
    /// itself is still starting: anAbortWhileQEMUStartsKillsTheDaemonisedMachine.)
    @Test(.timeLimit(.minutes(2))) func aRealMachineAbortedWhileBootingIsKilled() async throws {
        let environment = ProcessInfo.processInfo.environment
        guard let qemu = QEMUDriver.find("qemu-system-x86_64", path: environment["PATH"]),
            let image = environment["DJINN_TEST_QEMU_IMAGE"], FileManager.default.fileExists(atPath: image)
        else {
            print("QEMUDriverTests.aRealMachineAbortedWhileBootingIsKilled skipped: needs qemu-system-x86_64 and DJINN_TEST_QEMU_IMAGE")
            return
        }
        let scratch = FileManager.default.temporaryDirectory.appendingPathComponent("qemu-disks-\(UUID().uuidString.prefix(8))").path
        try FileManager.default.createDirectory(atPath: scratch + "/_base/qemu/x86_64", withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(atPath: scratch) }
        try FileManager.default.createSymbolicLink(atPath: scratch + "/_base/qemu/x86_64/test", withDestinationPath: image)
        let ports = HostPortAllocator(range: 2222...65535)
        let driver = QEMUDriver(
            configuration: .success(.init(arch: "x86_64", cpus: 1, memory: 256, disks: scratch, image: "test")), ports: ports,
            searchPath: (qemu as NSString).deletingLastPathComponent,
            kvmDevice: environment["DJINN_TEST_QEMU_KVM"] != "0" ? "/dev/kvm" : nil, logger: quietLogger
        ) { _ in nil }
        let sink = OutputSink(masks: [])
        sink.open(.job(1))
        let creating = Task {
            try await driver.create(DriverSetup(environment: [], keys: [], objects: []), output: DriverOutput(sink: sink, stream: .job(1)))
        }
        let clock = ContinuousClock()
        let deadline = clock.now + .seconds(30)
        // Until qemu has daemonised (the VM's pid is in its pid file), then into the login retries.
        let machines = try await QEMUProcess.daemonised(with: scratch, until: deadline)
        #expect(machines.count == 1, "\(machines)")
        try await Task.sleep(for: .milliseconds(500))
        await driver.abort()
        await #expect(throws: CancellationError.self) { try await creating.value }
        await driver.destroy()
        sink.close(.job(1))
        let gone = clock.now + .seconds(5)
        while !QEMUProcess.running(with: scratch).isEmpty && clock.now < gone { try await Task.sleep(for: .milliseconds(50)) }
        let left = QEMUProcess.running(with: scratch)
        for machine in left { kill(machine.pid, SIGKILL) }
        #expect(left.isEmpty, "\(left) outlived the build")
        #expect(ports.reservedPorts.isEmpty)
    }

    /// A qemu process of this host, found by a text in its command line (/proc).
    /// The whole path with the real worker binary: worker.conf `driver "qemu-x86_64"` and a
    /// driver.conf qemu block, a build submitted as the server does (queue
    /// `builds_qemu-x86_64`), the base image from `disks`, KVM decided by the probe, a job, a
    /// glob artifact with two matches, and no VM left once the build is finished.
    @Test(.timeLimit(.minutes(10))) func theWorkerProcessRunsAQEMUBuildEndToEnd() async throws {
        let environment = ProcessInfo.processInfo.environment
        guard QEMUDriver.find("qemu-system-x86_64", path: environment["PATH"]) != nil,
            let image = environment["DJINN_TEST_QEMU_IMAGE"], FileManager.default.fileExists(atPath: image)
        else {
            print("QEMUDriverTests.theWorkerProcessRunsAQEMUBuildEndToEnd skipped: needs qemu-system-x86_64 and DJINN_TEST_QEMU_IMAGE")
            return
        }
        try await WorkerFixture.with { f in
            let disks = f.directory.appendingPathComponent("disks").path
            try FileManager.default.createDirectory(atPath: disks + "/_base/qemu/x86_64", withIntermediateDirectories: true)
            try FileManager.default.createSymbolicLink(atPath: disks + "/_base/qemu/x86_64/tiny", withDestinationPath: image)
            let files = try f.writeWorkerConfig(driverKind: "qemu-x86_64", driverFile: """
                driver qemu {
                    disks  "\(disks)"
                    cpus   1
                    memory 256
                }

                """)
            let worker = try WorkerProcess(
                config: files.config, driver: files.driver, log: files.log,
                environment: ["TMPDIR": f.directory.appendingPathComponent("tmp").path])
            let build = try await f.submit("""
                driver:
                  type: qemu
                  image: tiny
                stages: [build]
                jobs:
                  - stage: build
                    name: hello
                    commands:
                      - echo "hello from $(id -un) on $(uname -m)"
                      - mkdir -p out && echo first > out/a.txt && echo second > out/b.txt
                    artifacts:
                      - out/*.txt => vm-*
                """, enabledDrivers: ["qemu-x86_64"])
            let finished = try await f.waitFinished(build.id, timeout: .seconds(400))
            let running = QEMUProcess.running(with: disks)
            #expect(await worker.stop() == 0, "\(worker.log)")
            #expect(finished.status == "passed", "\(finished)")
            let created = finished.job("create-driver")?.output ?? ""
            #expect(created.contains("Booting machine with image tiny...\n"), "\(created)")
            #expect(created.contains("Established SSH connection to machine as root...\n"), "\(created)")
            let hello = finished.job("hello")?.output ?? ""
            #expect(hello.contains("hello from root on x86_64\n"), "\(hello)")
            #expect(hello.contains("Collected out/a.txt => vm-a.txt\n") && hello.contains("Collected out/b.txt => vm-b.txt\n"), "\(hello)")
            let rows = try await f.pool.query(
                "SELECT name, size FROM build_artifacts WHERE build_id = $1 ORDER BY name", [build.id])
            #expect(try rows.map { try $0.decode(String.self, column: "name") } == ["vm-a.txt", "vm-b.txt"])
            #expect(try rows.map { try $0.decode(Int64?.self, column: "size") } == [6, 7])
            // Destroy runs before the build row is finished.
            #expect(running.isEmpty, "\(running)")
            #expect(worker.log.contains("consuming from queue: builds_qemu-x86_64"), "\(worker.log)")
            print("QEMUDriverTests.theWorkerProcessRunsAQEMUBuildEndToEnd: \(created.contains("without KVM") ? "TCG" : "KVM"), build \(finished.finishedAt.flatMap { end in finished.startedAt.map { end.timeIntervalSince($0) } } ?? -1) s")
        }
    }

    struct QEMUProcess: CustomStringConvertible {
        var pid: Int32
        var arguments: [String]
        var pidFile: String? { arguments.firstIndex(of: "-pidfile").flatMap { $0 + 1 < arguments.count ? arguments[$0 + 1] : nil } }
        var description: String { "\(pid): \(arguments.joined(separator: " "))" }

        static func running(with text: String) -> [QEMUProcess] {
            let entries = (try? FileManager.default.contentsOfDirectory(atPath: "/proc")) ?? []
            return entries.compactMap { entry in
                guard let pid = Int32(entry), let data = FileManager.default.contents(atPath: "/proc/\(entry)/cmdline") else { return nil }
                let arguments = data.split(separator: 0, omittingEmptySubsequences: false).map { String(decoding: $0, as: UTF8.self) }
                guard arguments.first?.contains("qemu-system") == true, arguments.contains(where: { $0.contains(text) }) else { return nil }
                return QEMUProcess(pid: pid, arguments: arguments)
            }
        }

        /// Polls until a qemu mentioning `text` has written its own pid to its pid file (the
        /// daemonised VM), or `deadline`; returns those (none when the deadline passed).
        static func daemonised(with text: String, until deadline: ContinuousClock.Instant) async throws -> [QEMUProcess] {
            while true {
                let machines = running(with: text).filter { machine in
                    machine.pidFile.flatMap { try? String(contentsOfFile: $0, encoding: .utf8) }?
                        .trimmingCharacters(in: .whitespacesAndNewlines) == "\(machine.pid)"
                }
                if !machines.isEmpty || ContinuousClock.now >= deadline { return machines }
                try await Task.sleep(for: .milliseconds(20))
            }
        }
    }

    /// A kill or time-out while qemu is still starting: qemu's parent is stopped, but its
    /// daemon child (the VM, in a session of its own) may already run. It must not outlive
    /// the build. Stand-in: a `qemu-system-x86_64` whose parent waits 3 s, as qemu's does
    /// until the machine is set up, after starting the "VM" (perl sleeping, named qemu, its
    /// pid file and this test's directory in its command line) in a new session.
    @Test func anAbortWhileQEMUStartsKillsTheDaemonisedMachine() async throws {
        let fake = try FakeQEMU()
        defer { fake.remove() }
        let script = """
            #!/bin/bash
            while [ $# -gt 0 ]; do [ "$1" = -pidfile ] && pidfile=$2; shift; done
            vm='echo $$ > "$0"; exec -a qemu-system-x86_64 perl -e "sleep 600" -- -pidfile "$0" "$1"'
            setsid bash -c "$vm" "$pidfile" "\(fake.directory)" </dev/null >/dev/null 2>&1 &
            sleep 3
            exit 0
            """
        try writeExecutable(fake.directory + "/qemu-system-x86_64", script)
        let ports = HostPortAllocator(range: 40401...40500)
        let driver = QEMUDriver(
            configuration: .success(configuration), ports: ports, searchPath: fake.directory, kvmDevice: nil, logger: quietLogger
        ) { _ in nil }
        let sink = OutputSink(masks: [])
        sink.open(.job(1))
        let creating = Task {
            try await driver.create(DriverSetup(environment: [], keys: [], objects: []), output: DriverOutput(sink: sink, stream: .job(1)))
        }
        // Until the "VM" runs (its pid file holds its pid).
        let clock = ContinuousClock()
        let deadline = clock.now + .seconds(10)
        let machines = try await QEMUProcess.daemonised(with: fake.directory, until: deadline)
        try #require(machines.count == 1, "\(machines)")
        await driver.abort()
        await #expect(throws: CancellationError.self) { try await creating.value }
        await driver.destroy()
        sink.close(.job(1))
        let machine = machines[0]
        let gone = clock.now + .seconds(5)
        while !QEMUProcess.running(with: fake.directory).isEmpty && clock.now < gone {
            try await Task.sleep(for: .milliseconds(50))
        }
        let left = !QEMUProcess.running(with: fake.directory).isEmpty
        if left { kill(machine.pid, SIGKILL) }
        #expect(!left, "\(machine) outlived the build")
        #expect(ports.reservedPorts.isEmpty)
    }

    /// A daemonised VM is not the worker's child: once it exits it stays a zombie until its
    /// reaper collects it (a sandbox's pid 1 took 1.6 s here). A zombie counts as ended, so
    /// destroy does not wait for the reaper (or the kill grace).
    @Test func aZombieCountsAsEnded() async throws {
        // `sleep 0.1`'s parent execs into `sleep 600`, which never waits: a zombie for 600 s.
        let parent = try ChildProcess.spawn(ChildProcess.Configuration(
            executable: "/bin/sh", arguments: ["-c", "sleep 0.1 & echo $!; exec sleep 600"], workingDirectory: "/",
            environment: ["PATH=/usr/bin:/bin"]))
        var printed: [UInt8] = []
        for try await chunk in parent.output {
            printed += chunk
            if printed.contains(UInt8(ascii: "\n")) { break }
        }
        let zombie = try #require(pid_t(String(decoding: printed, as: UTF8.self).trimmingCharacters(in: .whitespacesAndNewlines)))
        try await Task.sleep(for: .milliseconds(500))
        #expect(kill(zombie, 0) == 0)
        #expect(QEMUDriver.hasEnded(zombie))
        #expect(!QEMUDriver.hasEnded(parent.pid))
        parent.signalGroup(SIGKILL)
        _ = try await parent.wait()
        #expect(QEMUDriver.hasEnded(parent.pid))
    }

    /// A worker killed outright leaves no VM running: the watchdog sees the worker gone and
    /// kills the machine (here stand-ins: a `sleep` as the worker, a `sleep` named qemu as the VM).
    @Test func theWatchdogKillsTheMachineWhenTheWorkerDies() async throws {
        func spawn(_ script: String) throws -> ChildProcess {
            try ChildProcess.spawn(ChildProcess.Configuration(
                executable: "/bin/bash", arguments: ["-c", script], workingDirectory: "/", environment: ["PATH=/usr/bin:/bin"]))
        }
        let worker = try spawn("exec sleep 600")
        let machine = try spawn("exec -a qemu-system-x86_64 sleep 600")
        let pidFile = FileManager.default.temporaryDirectory.appendingPathComponent("djinn-qemu-test-\(UUID().uuidString.prefix(8))").path
        _ = FileManager.default.createFile(atPath: pidFile, contents: Data("\(machine.pid)\n".utf8))
        let watchdog = try #require(QEMUDriver.startWatchdog(
            workerPID: worker.pid, vmPID: machine.pid, pidFile: pidFile, logger: Logger(label: "test")))
        // While the worker lives, the machine does.
        try await Task.sleep(for: .milliseconds(1500))
        #expect(machine.exitStatus == nil && kill(machine.pid, 0) == 0)

        worker.signalGroup(SIGKILL)
        _ = try await worker.wait()
        #expect(try await machine.wait() == .signalled(SIGKILL))
        #expect(try await watchdog.wait() == .exited(0))
        #expect(!FileManager.default.fileExists(atPath: pidFile))
    }
}
