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
        let driver = QEMUDriver(configuration: .success(configuration), ports: ports, searchPath: fake.directory, logger: quietLogger) { _ in nil }
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
        let own = QEMUDriver(configuration: .success(configuration), ports: ports, searchPath: fake.directory, logger: quietLogger) { name in
            name == "debian/12" ? QEMUDriver.UserImage(userID: 7, hash: "h4sh") : nil
        }
        _ = await create(own)
        #expect(fake.calls.last?.contains("file=/var/lib/djinn/images/7/qemu/h4sh,") == true, "\(fake.calls)")

        var escaping = configuration
        escaping.image = "../../../etc/shadow"
        let driver = QEMUDriver(configuration: .success(escaping), ports: ports, searchPath: fake.directory, logger: quietLogger) { _ in nil }
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
    /// an empty password (DJINN_TEST_QEMU_IMAGE, a qcow2 path). Otherwise it says why and
    /// passes.
    @Test func aRealMachineBootsAndRunsAJob() async throws {
        let environment = ProcessInfo.processInfo.environment
        guard let qemu = QEMUDriver.find("qemu-system-x86_64", path: environment["PATH"]) else {
            print("QEMUDriverTests.aRealMachineBootsAndRunsAJob skipped: qemu-system-x86_64 is not installed")
            return
        }
        guard let image = environment["DJINN_TEST_QEMU_IMAGE"], FileManager.default.fileExists(atPath: image) else {
            print("QEMUDriverTests.aRealMachineBootsAndRunsAJob skipped: set DJINN_TEST_QEMU_IMAGE to a qcow2 image (root, empty password, sshd)")
            return
        }
        let disks = FileManager.default.temporaryDirectory.appendingPathComponent("qemu-disks-\(UUID().uuidString.prefix(8))").path
        try FileManager.default.createDirectory(atPath: disks + "/_base/qemu/x86_64", withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(atPath: disks) }
        try FileManager.default.createSymbolicLink(atPath: disks + "/_base/qemu/x86_64/test", withDestinationPath: image)
        let driver = QEMUDriver(
            configuration: .success(.init(arch: "x86_64", cpus: 1, memory: 512, disks: disks, image: "test")),
            searchPath: (qemu as NSString).deletingLastPathComponent, logger: quietLogger) { _ in nil }
        let sink = OutputSink(masks: [])
        sink.open(.job(1))
        try await driver.create(DriverSetup(environment: ["GREETING=hi"], keys: [], objects: []), output: DriverOutput(sink: sink, stream: .job(1)))
        sink.close(.job(1))
        sink.open(.job(2))
        let outcome = try await driver.execute(DriverJob(id: 2, name: "job", commands: ["echo \"$GREETING\" from $(id -un)"]), output: DriverOutput(sink: sink, stream: .job(2)))
        sink.close(.job(2))
        await driver.destroy()
        #expect(outcome == .passed)
        let printed = sink.takeJobUpdate(2, final: true)?.suffix ?? ""
        #expect(printed.contains("hi from root"), "\(printed)")
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
