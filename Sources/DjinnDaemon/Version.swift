#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// What `-version` prints: `NAME VERSION OS/ARCH`, with Go's names for OS and arch so
/// scripts written against the Go daemons keep working.
public enum DjinnVersion {
    public static let current = "v0.1.0"

    public static func line(program: String) -> String {
        "\(program) \(current) \(os)/\(arch)"
    }

    static var os: String {
        #if os(Linux)
        return "linux"
        #elseif os(macOS)
        return "darwin"
        #else
        return "unknown"
        #endif
    }

    /// uname's machine name mapped to GOARCH spelling.
    static var arch: String { goArch(machine: machine) }

    static func goArch(machine: String) -> String {
        switch machine {
        case "x86_64", "amd64": return "amd64"
        case "aarch64", "arm64": return "arm64"
        case "i386", "i686": return "386"
        case "armv7l", "armv6l": return "arm"
        case "ppc64le": return "ppc64le"
        case "s390x": return "s390x"
        case "riscv64": return "riscv64"
        default: return machine
        }
    }

    /// The host machine name as uname reports it (`x86_64`, `aarch64` …).
    public static var machine: String {
        var info = utsname()
        guard uname(&info) == 0 else { return "unknown" }
        return withUnsafeBytes(of: &info.machine) { raw in
            String(decoding: raw.prefix { $0 != 0 }, as: UTF8.self)
        }
    }
}
