#if canImport(Glibc)
import Glibc
#endif
import DjinnQEMU
import DjinnRunner
import DjinnTesting
@testable import DjinnWorker
import Foundation
import Logging
import Testing

/// The KVM probe's decisions, with stand-in qemu programs (a device file that opens stands in
/// for /dev/kvm), and the probe machine itself on the real qemu when it is installed.
@Suite struct KVMCheckTests {
    /// A scratch directory with a fake device and a `qemu-system-x86_64` running `body`,
    /// which counts its runs in `runs`.
    struct Scratch {
        let directory: String
        var device: String { directory + "/kvm" }
        var executable: String { directory + "/qemu-system-x86_64" }
        var runs: Int {
            ((try? String(contentsOfFile: directory + "/runs", encoding: .utf8)) ?? "").split(separator: "\n").count
        }

        init(_ body: String) throws {
            directory = FileManager.default.temporaryDirectory.appendingPathComponent("kvm-check-\(UUID().uuidString.prefix(8))").path
            try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
            _ = FileManager.default.createFile(atPath: device, contents: Data())
            try writeExecutable(executable, "#!/bin/sh\necho run >> \"\(directory)/runs\"\n\(body)\n")
        }

        func remove() { try? FileManager.default.removeItem(atPath: directory) }
    }

    let logger = Logger(label: "test")

    @Test func aMachineThatRunsMeansKVMAndTheVerdictIsShared() async throws {
        let scratch = try Scratch("exit 3")
        defer { scratch.remove() }
        let check = KVMCheck(timeout: .seconds(30))
        for _ in 0..<3 {
            #expect(try await check.verdict(device: scratch.device, executable: scratch.executable, arch: "x86_64", logger: logger) == .usable)
        }
        #expect(scratch.runs == 1)
    }

    @Test func aMachineThatHangsIsKilledAndMeansNoKVM() async throws {
        let scratch = try Scratch("echo $$ > \"$(dirname \"$0\")/pid\"\nexec sleep 600")
        defer { scratch.remove() }
        let check = KVMCheck(timeout: .milliseconds(500))
        let started = ContinuousClock.now
        let verdict = try await check.verdict(device: scratch.device, executable: scratch.executable, arch: "x86_64", logger: logger)
        #expect(ContinuousClock.now - started < .seconds(10))
        #expect(verdict == .unusable("\(scratch.device) opens but a machine under KVM ran nothing within 0.5 seconds"))
        // The probe's qemu was killed and reaped.
        let pid = try #require(pid_t((try String(contentsOfFile: scratch.directory + "/pid", encoding: .utf8))
            .trimmingCharacters(in: .whitespacesAndNewlines)))
        #expect(kill(pid, 0) != 0)
    }

    @Test func kvmStoppingTheMachineEndsTheProbeAtOnce() async throws {
        let scratch = try Scratch("printf 'KVM internal error. Suberror: 1\\nextra data[0]: 0x1\\nemulation failure\\n' >&2\nexec sleep 600")
        defer { scratch.remove() }
        let started = ContinuousClock.now
        let verdict = try await KVMCheck(timeout: .seconds(60)).verdict(
            device: scratch.device, executable: scratch.executable, arch: "x86_64", logger: logger)
        #expect(ContinuousClock.now - started < .seconds(20))
        #expect(verdict == .unusable("\(scratch.device) opens but KVM stops the machine (KVM internal error. Suberror: 1, emulation failure)"))
    }

    @Test func qemusErrorIsTheReason() async throws {
        let scratch = try Scratch("echo 'qemu-system-x86_64: warning: host lacks pni' >&2\necho 'qemu-system-x86_64: failed to initialize kvm: Permission denied' >&2\nexit 1")
        defer { scratch.remove() }
        let verdict = try await KVMCheck().verdict(device: scratch.device, executable: scratch.executable, arch: "x86_64", logger: logger)
        #expect(verdict == .unusable(
            "\(scratch.device) opens but qemu cannot use it (exit status 1: qemu-system-x86_64: failed to initialize kvm: Permission denied)"))
    }

    @Test func aDeviceThatDoesNotOpenIsNeverProbed() async throws {
        let scratch = try Scratch("exit 3")
        defer { scratch.remove() }
        let verdict = try await KVMCheck().verdict(
            device: scratch.directory + "/missing", executable: scratch.executable, arch: "x86_64", logger: logger)
        #expect(verdict == .unusable("\(scratch.directory)/missing is not usable"))
        #expect(scratch.runs == 0)
    }

    @Test func otherArchsOnlyNeedTheDevice() async throws {
        let scratch = try Scratch("exit 1")
        defer { scratch.remove() }
        #expect(try await KVMCheck().verdict(device: scratch.device, executable: scratch.executable, arch: "aarch64", logger: logger) == .usable)
        #expect(scratch.runs == 0)
    }

    @Test func aCancelledBuildStopsWaitingForTheProbe() async throws {
        let scratch = try Scratch("exec sleep 600")
        defer { scratch.remove() }
        let check = KVMCheck(timeout: .seconds(5))
        let waiting = Task { try await check.verdict(device: scratch.device, executable: scratch.executable, arch: "x86_64", logger: logger) }
        try await Task.sleep(for: .milliseconds(300))
        let cancelled = ContinuousClock.now
        waiting.cancel()
        await #expect(throws: CancellationError.self) { try await waiting.value }
        #expect(ContinuousClock.now - cancelled < .seconds(2))
    }

    /// The probe machine on the real qemu, emulated: the boot sector runs from the virtio disk
    /// and qemu exits with 3. Where /dev/kvm opens, the verdict for it is printed.
    @Test func theProbeMachineRunsOnTheRealQEMU() async throws {
        guard let qemu = QEMUDriver.find("qemu-system-x86_64", path: ProcessInfo.processInfo.environment["PATH"]) else {
            print("KVMCheckTests.theProbeMachineRunsOnTheRealQEMU skipped: qemu-system-x86_64 is not installed")
            return
        }
        let disk = FileManager.default.temporaryDirectory.appendingPathComponent("kvm-probe-\(UUID().uuidString.prefix(8))").path
        let image = KVMProbe.bootSector + [UInt8](repeating: 0, count: KVMProbe.diskSize - KVMProbe.bootSector.count)
        _ = FileManager.default.createFile(atPath: disk, contents: Data(image))
        defer { try? FileManager.default.removeItem(atPath: disk) }
        let process = try ChildProcess.spawn(ChildProcess.Configuration(
            executable: qemu, arguments: KVMProbe.arguments(diskPath: disk, accelerator: "tcg"), workingDirectory: "/",
            environment: ["PATH=/usr/bin:/bin"]))
        async let printed = QEMUDriver.collect(process)
        let guardTime = Task {
            try await Task.sleep(for: .seconds(60))
            process.signalGroup(SIGKILL)
        }
        let status = try await process.wait()
        guardTime.cancel()
        process.endOutputWhenDrained()
        let output = String(decoding: await printed, as: UTF8.self)
        #expect(status == .exited(KVMProbe.exitStatusWhenRun), "\(output)")
        let verdict = try await KVMCheck().verdict(device: "/dev/kvm", executable: qemu, arch: "x86_64", logger: logger)
        print("KVMCheckTests: this host's /dev/kvm: \(verdict)")
    }
}
