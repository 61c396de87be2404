import Foundation

/// Log levels, lowest first.
public enum LogLevel: String, Sendable, Comparable, CaseIterable {
    case debug, info, warn, error

    public static func < (lhs: LogLevel, rhs: LogLevel) -> Bool {
        allCases.firstIndex(of: lhs)! < allCases.firstIndex(of: rhs)!
    }
}

/// `log LEVEL "FILE"`. Without any `log` directive: info on standard output.
public struct LogSettings: Sendable, Equatable {
    public var level: LogLevel = .info
    /// `/dev/stdout` means standard output; anything else is a file opened for append.
    public var file: String = "/dev/stdout"

    public init(level: LogLevel = .info, file: String = "/dev/stdout") {
        self.level = level
        self.file = file
    }
}

/// Certificate files for a TLS connection; empty strings are unset.
public struct TLSFiles: Sendable, Equatable {
    public var ca = ""
    public var cert = ""
    public var key = ""

    public init(ca: String = "", cert: String = "", key: String = "") {
        self.ca = ca
        self.cert = cert
        self.key = key
    }
}

/// The `database` block.
public struct DatabaseSettings: Sendable, Equatable {
    /// `host:port`.
    public var addr: String
    public var name: String
    public var username: String
    public var password: String
    /// The `tls` block, each file falling back to the deprecated `ssl` block; nil when
    /// neither is given.
    public var tls: TLSFiles?

    public init(addr: String, name: String = "", username: String = "", password: String = "", tls: TLSFiles? = nil) {
        self.addr = addr
        self.name = name
        self.username = username
        self.password = password
        self.tls = tls
    }

    /// The host part of `addr` (brackets of an IPv6 address removed).
    public var host: String { HostPort.split(addr)?.host ?? addr }
    /// The port part of `addr`.
    public var port: String { HostPort.split(addr)?.port ?? "" }
}

/// The `redis` block.
public struct RedisSettings: Sendable, Equatable {
    /// `host:port`.
    public var addr: String
    public var password: String

    public init(addr: String, password: String = "") {
        self.addr = addr
        self.password = password
    }
}

/// The worker's `smtp` block.
public struct SMTPSettings: Sendable, Equatable {
    /// `host:port`.
    public var addr: String
    /// CA file; when set the connection uses STARTTLS.
    public var ca: String
    public var admin: String
    public var username: String
    public var password: String

    public init(addr: String, ca: String = "", admin: String = "", username: String = "", password: String = "") {
        self.addr = addr
        self.ca = ca
        self.admin = admin
        self.username = username
        self.password = password
    }
}

/// A `store LABEL` block.
public struct StoreSettings: Sendable, Equatable {
    /// Always "file".
    public var type: String
    public var path: String
    /// Largest file in bytes; 0 means no limit.
    public var limit: Int64

    public init(type: String = "file", path: String, limit: Int64 = 0) {
        self.type = type
        self.path = path
        self.limit = limit
    }
}

/// The `crypto` block. `block` and `salt` are secrets.
public struct CryptoSettings: Sendable, Equatable {
    public var block: String
    public var salt: String
    public var hash: String
    public var auth: String

    public init(block: String = "", salt: String = "", hash: String = "", auth: String = "") {
        self.block = block
        self.salt = salt
        self.hash = hash
        self.auth = auth
    }
}

/// A `provider LABEL` block (`github` or `gitlab`).
public struct ProviderSettings: Sendable, Equatable {
    /// The label: "github" or "gitlab".
    public var name: String
    public var secret: String
    /// API endpoint; defaults to `https://api.github.com` or `https://gitlab.com/api/v4`.
    public var endpoint: String
    public var oauth2Endpoint: String
    public var clientID: String
    public var clientSecret: String

    public init(
        name: String, secret: String = "", endpoint: String? = nil, oauth2Endpoint: String = "",
        clientID: String = "", clientSecret: String = ""
    ) {
        self.name = name
        self.secret = secret
        self.endpoint = endpoint ?? Self.defaultEndpoint(for: name)
        self.oauth2Endpoint = oauth2Endpoint
        self.clientID = clientID
        self.clientSecret = clientSecret
    }

    public static let knownNames = ["github", "gitlab"]

    public static func defaultEndpoint(for name: String) -> String {
        switch name {
        case "github": "https://api.github.com"
        case "gitlab": "https://gitlab.com/api/v4"
        default: ""
        }
    }
}

/// The build drivers a worker can run.
public enum DriverKind: String, Sendable, CaseIterable {
    case os, ssh, docker, qemu

    /// Parses a driver name as a worker or scheduler config writes it: `os`, `ssh`,
    /// `docker`, `qemu` or `qemu-<arch>`. The arch is nil for plain `qemu`.
    public static func parse(_ name: String) -> (kind: DriverKind, qemuArch: String?)? {
        if let kind = DriverKind(rawValue: name) { return (kind, nil) }
        guard name.hasPrefix("qemu-") else { return nil }
        let arch = name.dropFirst("qemu-".count)
        let valid = !arch.isEmpty && arch.unicodeScalars.allSatisfy {
            ("a"..."z").contains($0) || ("A"..."Z").contains($0) || ("0"..."9").contains($0) || $0 == "_"
        }
        return valid ? (.qemu, String(arch)) : nil
    }
}

/// Parallelism 0 means "one per CPU".
func resolvedParallelism(_ configured: Int, cpuCount: Int) -> Int {
    configured > 0 ? configured : max(1, cpuCount)
}

enum HostPort {
    /// Splits `host:port` or `[v6]:port`; nil when there is no port.
    static func split(_ address: String) -> (host: String, port: String)? {
        if address.hasPrefix("[") {
            guard let close = address.firstIndex(of: "]") else { return nil }
            let rest = address[address.index(after: close)...]
            guard rest.hasPrefix(":") else { return nil }
            let port = String(rest.dropFirst())
            return port.isEmpty ? nil : (String(address[address.index(after: address.startIndex)..<close]), port)
        }
        guard let colon = address.lastIndex(of: ":") else { return nil }
        let host = address[..<colon]
        let port = address[address.index(after: colon)...]
        guard !port.isEmpty, !host.contains(":") else { return nil }
        return (String(host), String(port))
    }

    /// A validator: nil when `address` is `host:port` with a port in 1…65535, or, where the
    /// client supports it, an absolute unix-socket path (PostgreSQL: the socket directory,
    /// optionally `:port`; Redis: the socket file).
    static func problem(with address: String, setting: String, unixSocket: UnixSocketForm = .none) -> String? {
        if address.hasPrefix("/") && unixSocket != .none {
            if unixSocket == .directoryWithOptionalPort, let colon = address.lastIndex(of: ":") {
                let port = address[address.index(after: colon)...]
                guard let number = Int(port), (1...65535).contains(number) else {
                    return "\(setting) has an invalid port in \"\(address)\""
                }
            }
            return nil
        }
        guard let (_, port) = split(address), let number = Int(port), (1...65535).contains(number) else {
            switch unixSocket {
            case .none: return "\(setting) must be host:port, not \"\(address)\""
            case .directoryWithOptionalPort:
                return "\(setting) must be host:port or a unix-socket directory, not \"\(address)\""
            case .file: return "\(setting) must be host:port or a unix-socket path, not \"\(address)\""
            }
        }
        return nil
    }

    enum UnixSocketForm {
        case none
        case directoryWithOptionalPort
        case file
    }
}
