#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif
import DjinnQEMU
import DjinnRunner
import Foundation
import Logging
import Synchronization

/// Whether the qemu driver's machines get `-enable-kvm`: decided once per worker process for
/// each qemu program and KVM device, by `KVMProbe` (a VM with the driver's devices that must
/// run guest code), because a `/dev/kvm` that opens may still stop every VM (nested hosts).
public final class KVMCheck: Sendable {
    public enum Verdict: Sendable, Equatable {
        case usable
        /// Why not, as the build's output says it.
        case unusable(String)
    }

    /// The worker's: every qemu build of the process shares the verdict.
    public static let shared = KVMCheck()

    /// How long the probe machine may take to run its first instruction under KVM (a working
    /// host: well under a second to 4 s on a nested one).
    public let timeout: Duration
    private let temporaryDirectory: String
    /// Per device and program: nil while its probe runs, the verdict once it is known.
    private let verdicts = Mutex<[String: Verdict?]>([:])

    public init(timeout: Duration = .seconds(20), temporaryDirectory: String = FileManager.default.temporaryDirectory.path) {
        self.timeout = timeout
        self.temporaryDirectory = temporaryDirectory
    }

    /// The verdict for `executable` (`qemu-system-<arch>`) with `device`; the first caller
    /// runs the probe, later ones share it. Cancellable while waiting (the probe goes on).
    public func verdict(device: String, executable: String, arch: String, logger: Logger) async throws -> Verdict {
        let key = device + "\u{0}" + executable
        let first = verdicts.withLock { verdicts in
            if verdicts.keys.contains(key) { return false }
            verdicts[key] = .some(nil)
            return true
        }
        if first {
            let (timeout, directory) = (self.timeout, temporaryDirectory)
            Task.detached { [self] in
                let verdict = await Self.decide(
                    device: device, executable: executable, arch: arch, timeout: timeout, temporaryDirectory: directory)
                switch verdict {
                case .usable: logger.info("qemu machines use KVM", metadata: ["device": "\(device)"])
                case .unusable(let why): logger.warning("qemu machines run without KVM (slow)", metadata: ["reason": "\(why)"])
                }
                self.verdicts.withLock { $0[key] = verdict }
            }
        }
        // Awaiting the probe itself would outlast a kill of the build; poll instead (once per
        // worker, for at most `timeout`).
        while true {
            if let verdict = verdicts.withLock({ $0[key] ?? nil }) { return verdict }
            try await Task.sleep(for: .milliseconds(20))
        }
    }

    static func decide(device: String, executable: String, arch: String, timeout: Duration, temporaryDirectory: String) async -> Verdict {
        let fd = open(device, O_RDWR | O_CLOEXEC)
        guard fd >= 0 else { return .unusable("\(device) is not usable") }
        close(fd)
        guard KVMProbe.canProbe(arch: arch) else { return .usable }

        var template = Array((temporaryDirectory + "/djinn-kvm-probe-XXXXXX").utf8CString)
        let disk = mkstemp(&template)
        guard disk >= 0 else { return .unusable("cannot write the KVM probe's disk: \(String(cString: strerror(errno)))") }
        let diskPath = SafePaths.string(fromCString: template)
        defer { unlink(diskPath) }
        let written = KVMProbe.bootSector.withUnsafeBytes { write(disk, $0.baseAddress, $0.count) }
        let sized = ftruncate(disk, off_t(KVMProbe.diskSize))
        close(disk)
        guard written == KVMProbe.bootSector.count, sized == 0 else { return .unusable("cannot write the KVM probe's disk") }

        let process: ChildProcess
        do {
            process = try ChildProcess.spawn(ChildProcess.Configuration(
                executable: executable, arguments: KVMProbe.arguments(diskPath: diskPath), workingDirectory: "/",
                environment: ["PATH=\(ProcessInfo.processInfo.environment["PATH"] ?? OSDriver.defaultPath)"]))
        } catch {
            return .unusable("cannot run \(executable) to check \(device): \(error)")
        }
        // qemu reports an internal error and then waits with the guest stopped: end it then.
        async let printed = QEMUDriver.collect(process) { bytes in
            if String(decoding: bytes, as: UTF8.self).contains(KVMProbe.internalErrorMarker) { process.signalGroup(SIGKILL) }
        }
        enum Ending { case exited(ChildProcess.ExitStatus?), timedOut }
        let ending = await withTaskGroup(of: Ending.self) { group in
            group.addTask { .exited(try? await process.wait()) }
            group.addTask {
                do { try await Task.sleep(for: timeout) } catch { return .exited(nil) }
                return .timedOut
            }
            let first = await group.next() ?? .exited(nil)
            if case .timedOut = first { process.signalGroup(SIGKILL) }
            group.cancelAll()
            while await group.next() != nil {}
            return first
        }
        process.endOutputWhenDrained()
        let output = String(decoding: await printed, as: UTF8.self)
        switch ending {
        case .exited(.exited(KVMProbe.exitStatusWhenRun)?):
            return .usable
        case .exited where output.contains(KVMProbe.internalErrorMarker):
            let details = output.split(separator: "\n").filter { $0.contains("Suberror") || $0 == "emulation failure" }
            return .unusable("\(device) opens but KVM stops the machine (\(details.isEmpty ? KVMProbe.internalErrorMarker : details.joined(separator: ", ")))")
        case .timedOut:
            return .unusable("\(device) opens but a machine under KVM ran nothing within \(timeout)")
        case .exited(let status):
            let said = output.split(separator: "\n").last { !$0.contains("warning:") }.map(String.init)
            return .unusable("\(device) opens but qemu cannot use it (\(status.map { "\($0)" } ?? "no exit status")\(said.map { ": \($0)" } ?? ""))")
        }
    }
}
