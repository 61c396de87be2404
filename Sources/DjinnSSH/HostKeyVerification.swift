#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif
import CLibSSH2

/// A server host key's type, as an OpenSSH known_hosts line names it.
public enum SSHHostKeyType: String, Sendable, CaseIterable {
    case ed25519 = "ssh-ed25519"
    case ecdsa256 = "ecdsa-sha2-nistp256"
    case ecdsa384 = "ecdsa-sha2-nistp384"
    case ecdsa521 = "ecdsa-sha2-nistp521"
    case rsa = "ssh-rsa"
    case dss = "ssh-dss"

    /// The known_hosts name (`ssh-ed25519`).
    public var name: String { rawValue }

    /// From `libssh2_session_hostkey`'s type.
    init?(libssh2HostKeyType type: Int32) {
        switch type {
        case LIBSSH2_HOSTKEY_TYPE_ED25519: self = .ed25519
        case LIBSSH2_HOSTKEY_TYPE_ECDSA_256: self = .ecdsa256
        case LIBSSH2_HOSTKEY_TYPE_ECDSA_384: self = .ecdsa384
        case LIBSSH2_HOSTKEY_TYPE_ECDSA_521: self = .ecdsa521
        case LIBSSH2_HOSTKEY_TYPE_RSA: self = .rsa
        case LIBSSH2_HOSTKEY_TYPE_DSS: self = .dss
        default: return nil
        }
    }

    /// The type a host key algorithm of the key exchange produces: RSA keys sign under three
    /// names; certificate algorithms have no plain known_hosts entry.
    public init?(algorithm: String) {
        switch algorithm {
        case "rsa-sha2-512", "rsa-sha2-256", "ssh-rsa": self = .rsa
        default:
            guard let type = SSHHostKeyType(rawValue: algorithm) else { return nil }
            self = type
        }
    }

    /// The `LIBSSH2_KNOWNHOST_KEY_*` bits.
    var knownHostKeyBits: Int32 {
        switch self {
        case .ed25519: return LIBSSH2_KNOWNHOST_KEY_ED25519
        case .ecdsa256: return LIBSSH2_KNOWNHOST_KEY_ECDSA_256
        case .ecdsa384: return LIBSSH2_KNOWNHOST_KEY_ECDSA_384
        case .ecdsa521: return LIBSSH2_KNOWNHOST_KEY_ECDSA_521
        case .rsa: return LIBSSH2_KNOWNHOST_KEY_SSHRSA
        case .dss: return LIBSSH2_KNOWNHOST_KEY_SSHDSS
        }
    }
}

/// The pure rules of host key verification (OpenSSH's): which name the host has in a
/// known_hosts file, which algorithms to ask the server for, how a key is shown.
public enum HostKeyVerification {
    /// How known_hosts names the address: `host` on port 22, `[host]:port` otherwise (what
    /// `ssh-keyscan -p PORT host` and OpenSSH's `ssh` write). Only this name is looked up:
    /// libssh2's own port handling would also accept a plain `host` entry for another port.
    public static func knownHostsName(_ address: SSHAddress) -> String {
        address.port == 22 ? address.host : "[\(address.host)]:\(address.port)"
    }

    /// The host key algorithms to offer, best first: those whose key type the known_hosts
    /// file has for the host (so a server with several host keys shows the one on file —
    /// libssh2 prefers ECDSA where OpenSSH prefers Ed25519), then the rest in libssh2's order.
    /// Nil when the file knows no type for the host: libssh2's default order then.
    public static func preferredAlgorithms(supported: [String], known: Set<SSHHostKeyType>) -> [String]? {
        let first = supported.filter { SSHHostKeyType(algorithm: $0).map(known.contains) ?? false }
        guard !first.isEmpty else { return nil }
        return first + supported.filter { !first.contains($0) }
    }

    /// `SHA256:` and the unpadded base64 of the key's SHA-256, as `ssh-keygen -lf` shows it.
    public static func fingerprint(sha256 digest: [UInt8]) -> String {
        "SHA256:" + base64(digest, padded: false)
    }

    static func base64(_ bytes: [UInt8], padded: Bool) -> String {
        let alphabet = Array("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/".utf8)
        var output: [UInt8] = []
        var index = 0
        while index < bytes.count {
            let chunk = bytes[index..<min(index + 3, bytes.count)]
            var value = 0
            for (offset, byte) in chunk.enumerated() { value |= Int(byte) << (16 - 8 * offset) }
            for position in 0..<(chunk.count + 1) { output.append(alphabet[(value >> (18 - 6 * position)) & 63]) }
            if padded { output += Array(repeating: UInt8(ascii: "="), count: 3 - chunk.count) }
            index += 3
        }
        return String(decoding: output, as: UTF8.self)
    }
}

/// A known_hosts file read into libssh2 for one session (on the session's thread).
final class KnownHosts {
    private let hosts: OpaquePointer
    let path: String

    private init(hosts: OpaquePointer, path: String) {
        self.hosts = hosts
        self.path = path
    }

    /// Each line goes to libssh2 on its own, so a bad line is named by number (libssh2's
    /// `readfile` only says the file failed, and cuts lines at 4 KiB).
    static func read(session: OpaquePointer, path: String) throws(SSHError) -> KnownHosts {
        guard let file = fopen(path, "r") else {
            throw SSHError(.hostKey, "cannot read \(path): \(String(cString: strerror(errno)))")
        }
        defer { fclose(file) }
        guard let hosts = libssh2_knownhost_init(session) else {
            throw SSHError(.hostKey, "cannot read \(path): libssh2 could not allocate a known-hosts list")
        }
        // Owns `hosts` from here: freed when it goes, thrown or not.
        let knownHosts = KnownHosts(hosts: hosts, path: path)
        var line: UnsafeMutablePointer<CChar>?
        var capacity = 0
        defer { free(line) }
        var number = 0
        while true {
            let count = getline(&line, &capacity, file)
            guard count >= 0, let text = line else { break }
            number += 1
            if libssh2_knownhost_readline(hosts, text, count, LIBSSH2_KNOWNHOST_FILE_OPENSSH) != 0 {
                throw SSHError(.hostKey, "cannot read \(path) line \(number): \(SSHSession.lastError(session))")
            }
        }
        if ferror(file) != 0 {
            throw SSHError(.hostKey, "cannot read \(path): \(String(cString: strerror(errno)))")
        }
        return knownHosts
    }

    deinit { libssh2_knownhost_free(hosts) }

    /// The key types the file has for `name`. Asked as libssh2 asks it, with a key no entry
    /// holds: "mismatch" means an entry of that type exists (plain or hashed name alike).
    func keyTypes(for name: String) -> Set<SSHHostKeyType> {
        let probe = "AAAA"
        var types = Set<SSHHostKeyType>()
        for type in SSHHostKeyType.allCases {
            let mask = LIBSSH2_KNOWNHOST_TYPE_PLAIN | LIBSSH2_KNOWNHOST_KEYENC_BASE64 | type.knownHostKeyBits
            if libssh2_knownhost_checkp(hosts, name, -1, probe, probe.utf8.count, mask, nil) == LIBSSH2_KNOWNHOST_CHECK_MISMATCH {
                types.insert(type)
            }
        }
        return types
    }

    enum Verdict {
        case match, mismatch, notFound
        case failure(String)
    }

    func check(name: String, key: UnsafePointer<CChar>, length: Int, type: SSHHostKeyType, session: OpaquePointer) -> Verdict {
        let mask = LIBSSH2_KNOWNHOST_TYPE_PLAIN | LIBSSH2_KNOWNHOST_KEYENC_RAW | type.knownHostKeyBits
        switch libssh2_knownhost_checkp(hosts, name, -1, key, length, mask, nil) {
        case LIBSSH2_KNOWNHOST_CHECK_MATCH: return .match
        case LIBSSH2_KNOWNHOST_CHECK_MISMATCH: return .mismatch
        case LIBSSH2_KNOWNHOST_CHECK_NOTFOUND: return .notFound
        default: return .failure(SSHSession.lastError(session))
        }
    }
}

extension SSHSession {
    /// Before the handshake: reads the file (a problem fails the connection) and asks the
    /// server for the host key types on file for it.
    static func prepareHostKeyCheck(_ session: OpaquePointer, address: SSHAddress, path: String) throws(SSHError) -> KnownHosts {
        let knownHosts: KnownHosts
        do {
            knownHosts = try KnownHosts.read(session: session, path: path)
        } catch {
            throw SSHError(.hostKey, "host key verification failed for \(address): \(error.description)")
        }
        let known = knownHosts.keyTypes(for: HostKeyVerification.knownHostsName(address))
        if let preferred = HostKeyVerification.preferredAlgorithms(supported: supportedHostKeyAlgorithms(session), known: known) {
            // A refused preference only loses the ordering; the check below still decides.
            _ = libssh2_session_method_pref(session, LIBSSH2_METHOD_HOSTKEY, preferred.joined(separator: ","))
        }
        return knownHosts
    }

    private static func supportedHostKeyAlgorithms(_ session: OpaquePointer) -> [String] {
        var list: UnsafeMutablePointer<UnsafePointer<CChar>?>?
        let count = libssh2_session_supported_algs(session, LIBSSH2_METHOD_HOSTKEY, &list)
        guard count > 0, let list else { return [] }
        defer { libssh2_free(session, list) }
        return (0..<Int(count)).compactMap { list[$0].map { String(cString: $0) } }
    }

    /// After the handshake, before any authentication: the server's key must be the file's
    /// for the host.
    static func verifyHostKey(_ session: OpaquePointer, address: SSHAddress, knownHosts: KnownHosts) throws(SSHError) {
        var length = 0
        var rawType: Int32 = 0
        guard let key = libssh2_session_hostkey(session, &length, &rawType) else {
            throw SSHError(.hostKey, "host key verification failed for \(address): the server sent no host key")
        }
        guard let type = SSHHostKeyType(libssh2HostKeyType: rawType) else {
            throw SSHError(.hostKey, "host key verification failed for \(address): unknown host key type \(rawType)")
        }
        let failure = "host key verification failed for \(address) (\(type.name))"
        var shown = ""
        if let hash = libssh2_hostkey_hash(session, LIBSSH2_HOSTKEY_HASH_SHA256) {
            let digest = (0..<32).map { UInt8(bitPattern: hash[$0]) }
            shown = "; the server's key is \(HostKeyVerification.fingerprint(sha256: digest))"
        }
        switch knownHosts.check(name: HostKeyVerification.knownHostsName(address), key: key, length: length, type: type, session: session) {
        case .match:
            return
        case .notFound:
            throw SSHError(.hostKey, "\(failure): not in \(knownHosts.path)\(shown)")
        case .mismatch:
            throw SSHError(.hostKey, "\(failure): does not match the key in \(knownHosts.path)\(shown)")
        case .failure(let reason):
            throw SSHError(.hostKey, "\(failure): checking \(knownHosts.path): \(reason)")
        }
    }
}
