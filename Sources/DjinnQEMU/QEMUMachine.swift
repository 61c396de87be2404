
/// One qemu invocation as Djinn's qemu driver runs it (spec §5.4).
public struct QEMUMachine: Sendable, Equatable {
    public var arch: String
    public var cpus: Int
    /// MiB (qemu's `-m`).
    public var memory: Int
    public var imagePath: String
    public var pidFile: String
    /// The host port forwarded to the guest's port 22, on 127.0.0.1 only.
    public var hostPort: Int
    /// `-enable-kvm` only when /dev/kvm can be used; otherwise qemu emulates (slow, but it
    /// boots, where Go's unconditional `-enable-kvm` makes qemu fail).
    public var kvm: Bool

    public init(arch: String, cpus: Int, memory: Int, imagePath: String, pidFile: String, hostPort: Int, kvm: Bool) {
        self.arch = arch
        self.cpus = cpus
        self.memory = memory
        self.imagePath = imagePath
        self.pidFile = pidFile
        self.hostPort = hostPort
        self.kvm = kvm
    }

    /// `qemu-system-<arch>`.
    public var program: String { "qemu-system-" + arch }

    /// The arguments, in Go's order. qemu splits `-drive` options at commas: a comma in the
    /// image path is doubled, as qemu's option syntax requires.
    public var arguments: [String] {
        var arguments: [String] = []
        if kvm { arguments.append("-enable-kvm") }
        arguments += [
            "-daemonize",
            "-display", "none",
            "-pidfile", pidFile,
            "-smp", String(cpus),
            "-m", String(memory),
            "-net", "nic,model=virtio",
            "-net", "user,hostfwd=tcp:127.0.0.1:\(hostPort)-:22",
            "-drive", "file=\(imagePath.split(separator: ",", omittingEmptySubsequences: false).joined(separator: ",,")),media=disk,snapshot=on,if=virtio",
        ]
        return arguments
    }

    /// Settings a machine needs that are missing or invalid, as build failure text.
    public static func problems(arch: String, cpus: Int, memory: Int, disks: String, image: String) -> [String] {
        var problems: [String] = []
        if disks.isEmpty { problems.append("the qemu driver has no disks directory (driver qemu { disks … } in driver.conf)") }
        if image.isEmpty { problems.append("the build names no image (driver: image in the manifest)") }
        if arch.isEmpty || !arch.allSatisfy({ $0.isASCII && ($0.isLetter || $0.isNumber || $0 == "_") }) {
            problems.append("invalid qemu arch \"\(arch)\"")
        }
        if cpus < 1 { problems.append("the qemu driver needs cpus of at least 1 (driver qemu { cpus … })") }
        if memory < 1 { problems.append("the qemu driver needs memory in MiB (driver qemu { memory … })") }
        return problems
    }
}

/// Why qemu did not start, from what it printed (spec §5.4).
public enum QEMUBootFailure: Sendable, Equatable {
    /// The host port is taken: try the next one.
    case portInUse
    case missingImage
    case imageLocked
    case other(String)

    public init(stderr: String) {
        if stderr.contains("Could not set up host forwarding rule") {
            self = .portInUse
        } else if stderr.contains("No such file or directory") {
            self = .missingImage
        } else if stderr.contains("Failed to get \"write\" lock") {
            self = .imageLocked
        } else {
            self = .other(stderr.trimmingCharacters(in: " \n\t\r"))
        }
    }

    /// The lines the build output shows (after `failed to boot machine`).
    public func lines(image: String) -> [String] {
        switch self {
        case .portInUse: return ["no free host port for the machine's ssh"]
        case .missingImage:
            return ["couldn't find image \(image)", "make sure your image exists in the namespace the build is being run from"]
        case .imageLocked: return ["image is currently being modified"]
        case .other(let text): return [text.isEmpty ? "qemu exited without saying why" : text]
        }
    }
}

extension String {
    func trimmingCharacters(in set: String) -> String {
        var text = Substring(self)
        while let first = text.first, set.contains(first) { text = text.dropFirst() }
        while let last = text.last, set.contains(last) { text = text.dropLast() }
        return String(text)
    }
}
