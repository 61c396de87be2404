import Testing

@testable import DjinnQEMU

@Suite struct QEMUMachineTests {
    @Test func argumentsAreGosWithKVMOnlyWhenUsable() {
        var machine = QEMUMachine(
            arch: "x86_64", cpus: 2, memory: 2048, imagePath: "/var/lib/djinn/images/_base/qemu/x86_64/debian/12",
            pidFile: "/tmp/djinn-qemu-abc", hostPort: 2223, kvm: true)
        #expect(machine.program == "qemu-system-x86_64")
        #expect(machine.arguments == [
            "-enable-kvm", "-daemonize", "-display", "none", "-pidfile", "/tmp/djinn-qemu-abc", "-smp", "2", "-m", "2048",
            "-net", "nic,model=virtio", "-net", "user,hostfwd=tcp:127.0.0.1:2223-:22",
            "-drive", "file=/var/lib/djinn/images/_base/qemu/x86_64/debian/12,media=disk,snapshot=on,if=virtio",
        ])
        machine.kvm = false
        #expect(machine.arguments.first == "-daemonize")
        #expect(!machine.arguments.contains("-enable-kvm"))
        // qemu's option syntax: a comma in a value is written twice.
        machine.imagePath = "/images/a,b"
        #expect(machine.arguments.last == "file=/images/a,,b,media=disk,snapshot=on,if=virtio")
    }

    @Test func missingSettingsAreNamed() {
        #expect(QEMUMachine.problems(arch: "x86_64", cpus: 1, memory: 1024, disks: "/d", image: "debian/12").isEmpty)
        let problems = QEMUMachine.problems(arch: "x86/64", cpus: 0, memory: 0, disks: "", image: "")
        #expect(problems.count == 5, "\(problems)")
        #expect(problems.contains { $0.contains("disks") })
        #expect(problems.contains { $0.contains("image") })
    }

    @Test func bootFailuresAreClassified() {
        #expect(QEMUBootFailure(stderr: "qemu-system-x86_64: Could not set up host forwarding rule 'tcp:127.0.0.1:2222-:22'\n") == .portInUse)
        #expect(QEMUBootFailure(stderr: "could not open disk image /x: Could not open '/x': No such file or directory") == .missingImage)
        #expect(QEMUBootFailure(stderr: "Failed to get \"write\" lock\nIs another process using the image [/x]?") == .imageLocked)
        #expect(QEMUBootFailure(stderr: " weird failure \n") == .other("weird failure"))
        #expect(QEMUBootFailure.missingImage.lines(image: "debian/12") == [
            "couldn't find image debian/12", "make sure your image exists in the namespace the build is being run from",
        ])
        #expect(QEMUBootFailure.imageLocked.lines(image: "x") == ["image is currently being modified"])
    }
}

@Suite struct QEMUImagePathTests {
    @Test func baseImagesLiveUnderTheArch() throws {
        #expect(try QEMUImages.basePath(disks: "/var/lib/djinn/images", arch: "x86_64", name: "debian/12")
            == "/var/lib/djinn/images/_base/qemu/x86_64/debian/12")
        #expect(try QEMUImages.basePath(disks: "/images/", arch: "x86_64", name: "/alpine//./3.19")
            == "/images/_base/qemu/x86_64/alpine/3.19")
        #expect(try QEMUImages.basePath(disks: "/", arch: "x86_64", name: "a") == "/_base/qemu/x86_64/a")
    }

    @Test func parentReferencesAreRejected() {
        #expect(throws: QEMUImages.PathError.parentReference("../../etc/shadow")) {
            try QEMUImages.basePath(disks: "/images", arch: "x86_64", name: "../../etc/shadow")
        }
        #expect(throws: QEMUImages.PathError.parentReference("debian/../../x")) {
            try QEMUImages.basePath(disks: "/images", arch: "x86_64", name: "debian/../../x")
        }
        #expect(throws: QEMUImages.PathError.empty) { try QEMUImages.basePath(disks: "/images", arch: "x86_64", name: "/./") }
        #expect(throws: QEMUImages.PathError.parentReference("..")) { try QEMUImages.basePath(disks: "/images", arch: "..", name: "a") }
    }

    @Test func userImagesAreByOwnerAndHash() throws {
        #expect(try QEMUImages.userPath(disks: "/images", userID: 7, hash: "abc123") == "/images/7/qemu/abc123")
        #expect(throws: QEMUImages.PathError.invalidHash("../x")) { try QEMUImages.userPath(disks: "/images", userID: 7, hash: "../x") }
    }
}

@Suite struct HostPortAllocatorTests {
    @Test func portsAreHandedOutOnceUntilReleased() {
        let allocator = HostPortAllocator(range: 2222...2230)
        let first = allocator.reserve { _ in true }
        let second = allocator.reserve { _ in true }
        #expect(first == 2222 && second == 2223)
        allocator.release(2222)
        #expect(allocator.reserve { _ in true } == 2222)
        #expect(allocator.reservedPorts == [2222, 2223])
    }

    @Test func portsTakenOnTheHostAreSkippedAndNotHeld() {
        let allocator = HostPortAllocator(range: 2222...2230)
        #expect(allocator.reserve { $0 >= 2225 } == 2225)
        #expect(allocator.reservedPorts == [2225])
        // After qemu could not bind 2225, the driver asks from the next one.
        #expect(allocator.reserve(from: 2226) { _ in true } == 2226)
    }

    @Test func exhaustionIsNil() {
        let allocator = HostPortAllocator(range: 2222...2223)
        #expect(allocator.reserve { _ in true } == 2222)
        #expect(allocator.reserve { _ in true } == 2223)
        #expect(allocator.reserve { _ in true } == nil)
        #expect(allocator.reserve { _ in false } == nil)
    }

    @Test func parallelReservationsNeverCollide() async {
        let allocator = HostPortAllocator(range: 2222...3222)
        let ports = await withTaskGroup(of: Int?.self) { group in
            for _ in 0..<200 { group.addTask { allocator.reserve { _ in true } } }
            var all: [Int] = []
            for await port in group { if let port { all.append(port) } }
            return all
        }
        #expect(ports.count == 200)
        #expect(Set(ports).count == 200)
    }
}

@Suite struct KVMProbeTests {
    @Test func theBootSectorIretsInProtectedModeThenWritesOneToTheExitPort() {
        let sector = KVMProbe.bootSector
        #expect(sector.count == 512)
        #expect(Array(sector.suffix(2)) == [0x55, 0xAA])
        // mov cr0, eax (PE set just before), then pushf; push cs; push 0x7c2c; iret at 0x2b,
        // and at 0x2c (where the iret returns): mov al, 1; out 0xf4, al; hlt.
        #expect(Array(sector[0x0f..<0x12]) == [0x0F, 0x22, 0xC0])
        #expect(Array(sector[0x24..<0x2c]) == [0x9C, 0x0E, 0x68, 0x2C, 0x7C, 0x00, 0x00, 0xCF])
        #expect(Array(sector[0x2c..<0x31]) == [0xB0, 0x01, 0xE6, 0xF4, 0xF4])
        // lgdt [0x7c50], whose descriptor points at the GDT at 0x7c38.
        #expect(Array(sector[0x05..<0x0a]) == [0x0F, 0x01, 0x16, 0x50, 0x7C])
        #expect(Array(sector[0x50..<0x54]) == [0x17, 0x00, 0x38, 0x7C])
        #expect(KVMProbe.exitStatusWhenRun == (1 << 1) | 1)
    }

    @Test func theProbeUsesTheMachinesDevicesAndTheExitPort() {
        let arguments = KVMProbe.arguments(diskPath: "/tmp/a,b/probe")
        #expect(arguments.prefix(2) == ["-machine", "accel=kvm"])
        #expect(arguments.contains("isa-debug-exit,iobase=0xf4,iosize=0x04"))
        #expect(arguments.contains("nic,model=virtio"))
        #expect(arguments.contains("file=/tmp/a,,b/probe,format=raw,media=disk,snapshot=on,if=virtio"))
        #expect(!arguments.contains("-daemonize"))
        #expect(KVMProbe.arguments(diskPath: "/d", accelerator: "tcg").prefix(2) == ["-machine", "accel=tcg"])
    }

    @Test func onlyX86IsProbed() {
        #expect(KVMProbe.canProbe(arch: "x86_64") && KVMProbe.canProbe(arch: "i386"))
        #expect(!KVMProbe.canProbe(arch: "aarch64"))
    }
}
