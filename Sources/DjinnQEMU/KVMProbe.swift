/// A machine that proves KVM can run the driver's VMs on this host, before a build relies on it.
///
/// `/dev/kvm` opening is not enough. On some nested hosts it opens, simple guest code runs,
/// and then the first `iret` in protected mode — which every bootloader and kernel executes —
/// stops the VM with `KVM internal error … emulation failure`; a build would wait out its
/// whole login limit. The probe boots the driver's device set (virtio NIC and disk) from a
/// one-sector program that enters protected mode, executes an `iret` and writes to qemu's
/// `isa-debug-exit` port, so qemu exits with status 3 when all of it ran; anything else (an
/// error, the internal error, a hang) means no KVM.
public enum KVMProbe {
    /// The `isa-debug-exit` port: qemu exits with `(value << 1) | 1` on a write to it.
    public static let exitPort = 0xf4
    /// What qemu exits with when the program ran to its end (it writes 1).
    public static let exitStatusWhenRun: Int32 = 3
    /// What qemu prints when KVM cannot go on with the guest.
    public static let internalErrorMarker = "KVM internal error"
    /// SeaBIOS does not boot a virtio disk of a single sector; 1 MiB it does.
    public static let diskSize = 1 << 20

    /// The archs the probe's guest code runs on (x86).
    public static func canProbe(arch: String) -> Bool {
        arch == "x86_64" || arch == "i386"
    }

    /// The MBR, loaded by the BIOS at 0x7c00:
    ///
    ///     00  cli; xor ax,ax; mov ds,ax; lgdt [0x7c50]      (16-bit)
    ///     0a  mov eax,cr0; or al,1; mov cr0,eax; jmp 0x08:0x7c17
    ///     17  mov ax,0x10; mov ds,ax; mov ss,ax; mov esp,0x7c00   (32-bit from here)
    ///     24  pushf; push cs; push 0x7c2c; iret             (returns to the next line)
    ///     2c  mov al,1; out 0xf4,al; hlt
    ///     38  GDT: null, flat code (0x08), flat data (0x10)
    ///     50  GDT descriptor: limit 0x17, base 0x7c38
    public static let bootSector: [UInt8] = {
        let code: [UInt8] = [
            0xFA, 0x31, 0xC0, 0x8E, 0xD8, 0x0F, 0x01, 0x16, 0x50, 0x7C,
            0x0F, 0x20, 0xC0, 0x0C, 0x01, 0x0F, 0x22, 0xC0, 0xEA, 0x17, 0x7C, 0x08, 0x00,
            0x66, 0xB8, 0x10, 0x00, 0x8E, 0xD8, 0x8E, 0xD0, 0xBC, 0x00, 0x7C, 0x00, 0x00,
            0x9C, 0x0E, 0x68, 0x2C, 0x7C, 0x00, 0x00, 0xCF,
            0xB0, 0x01, 0xE6, UInt8(exitPort), 0xF4,
        ]
        let gdt: [UInt8] = [
            0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00,
            0xFF, 0xFF, 0x00, 0x00, 0x00, 0x9A, 0xCF, 0x00,
            0xFF, 0xFF, 0x00, 0x00, 0x00, 0x92, 0xCF, 0x00,
        ]
        let descriptor: [UInt8] = [0x17, 0x00, 0x38, 0x7C, 0x00, 0x00]
        var sector = code + [UInt8](repeating: 0, count: 0x38 - code.count) + gdt + descriptor
        sector += [UInt8](repeating: 0, count: 510 - sector.count)
        return sector + [0x55, 0xAA]
    }()

    /// The probe's qemu arguments: the machine's devices (spec §5.4) with the exit port, not
    /// daemonised, nothing forwarded, `accelerator` `kvm` (tests also run it with `tcg`).
    public static func arguments(diskPath: String, accelerator: String = "kvm") -> [String] {
        [
            "-machine", "accel=\(accelerator)",
            "-display", "none",
            "-no-reboot",
            "-m", "32",
            "-device", "isa-debug-exit,iobase=0x\(String(exitPort, radix: 16)),iosize=0x04",
            "-net", "nic,model=virtio",
            "-net", "user",
            "-drive", "file=\(diskPath.split(separator: ",", omittingEmptySubsequences: false).joined(separator: ",,")),format=raw,media=disk,snapshot=on,if=virtio",
        ]
    }
}
