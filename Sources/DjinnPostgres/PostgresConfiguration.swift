import Foundation

/// Where and how to connect to PostgreSQL: Djinn's `database { … }` block as a value.
///
/// Connections are opened with libpq's keyword/value interface (`PQconnectdbParams`),
/// never a `key=value` string, so a password with spaces, quotes or backslashes needs
/// no escaping (Go Djinn's unquoted DSN breaks on them, spec §1.10). `description`
/// omits the password.
public struct PostgresConfiguration: Sendable, Equatable, CustomStringConvertible {
    /// A host name, an IP address (v4 or v6, without brackets) or an absolute directory
    /// holding the server's unix socket (`.s.PGSQL.<port>`).
    public var host: String
    public var port: Int
    public var database: String
    public var user: String
    /// Empty means none is sent (libpq may then consult `PGPASSWORD` or `~/.pgpass`).
    public var password: String
    public var tls: TLS
    /// libpq's `connect_timeout`, whole seconds (libpq treats values below 2 as 2); 0 waits forever.
    public var connectTimeoutSeconds: Int
    public var applicationName: String

    public static let defaultPort = 5432

    public init(
        host: String,
        port: Int = PostgresConfiguration.defaultPort,
        database: String,
        user: String,
        password: String = "",
        tls: TLS = TLS(),
        connectTimeoutSeconds: Int = 10,
        applicationName: String = "djinn"
    ) {
        self.host = host
        self.port = port
        self.database = database
        self.user = user
        self.password = password
        self.tls = tls
        self.connectTimeoutSeconds = connectTimeoutSeconds
        self.applicationName = applicationName
    }

    /// Builds a configuration from Djinn's `database { addr … }` directive.
    ///
    /// `addr` is `host:port`, `[v6]:port`, `host` (port 5432), a bare IPv6 address, or an
    /// absolute unix-socket directory, optionally followed by `:port` (which selects the
    /// socket file `.s.PGSQL.<port>` in it).
    public init(
        addr: String,
        database: String,
        user: String,
        password: String = "",
        tls: TLS = TLS(),
        connectTimeoutSeconds: Int = 10,
        applicationName: String = "djinn"
    ) throws(PostgresError) {
        let (host, port) = try Self.parseAddress(addr)
        self.init(
            host: host, port: port, database: database, user: user, password: password, tls: tls,
            connectTimeoutSeconds: connectTimeoutSeconds, applicationName: applicationName)
    }

    /// True when `host` names a unix-socket directory rather than a network host.
    public var isUnixSocket: Bool { host.hasPrefix("/") }

    public var description: String {
        let shownHost = host.contains(":") ? "[\(host)]" : host
        return "postgres://\(user)@\(shownHost):\(port)/\(database) (sslmode=\(tls.effectiveMode.rawValue))"
    }

    /// Splits Djinn's `addr` into host and port.
    public static func parseAddress(_ addr: String) throws(PostgresError) -> (host: String, port: Int) {
        func invalid(_ why: String) -> PostgresError {
            PostgresError(kind: .configuration, message: "database addr \"\(addr)\": \(why)")
        }
        func port(_ text: Substring) throws(PostgresError) -> Int {
            guard !text.isEmpty, text.allSatisfy(\.isASCII), text.allSatisfy(\.isNumber),
                let value = Int(text), (1...65535).contains(value)
            else { throw invalid("port must be a number from 1 to 65535") }
            return value
        }
        let trimmed = addr.trimmingCharacters(in: .whitespaces)
        guard !trimmed.isEmpty else { throw invalid("empty address") }

        if trimmed.hasPrefix("/") {
            // A socket directory may itself contain ':'; only a trailing ":digits" is a port.
            if let colon = trimmed.lastIndex(of: ":") {
                let tail = trimmed[trimmed.index(after: colon)...]
                if !tail.isEmpty, tail.allSatisfy({ $0.isASCII && $0.isNumber }) {
                    return (String(trimmed[..<colon]), try port(tail))
                }
            }
            return (trimmed, defaultPort)
        }
        if trimmed.hasPrefix("[") {
            guard let close = trimmed.firstIndex(of: "]") else { throw invalid("missing ']'") }
            let host = trimmed[trimmed.index(after: trimmed.startIndex)..<close]
            guard !host.isEmpty else { throw invalid("empty host") }
            let rest = trimmed[trimmed.index(after: close)...]
            if rest.isEmpty { return (String(host), defaultPort) }
            guard rest.hasPrefix(":") else { throw invalid("unexpected text after ']'") }
            return (String(host), try port(rest.dropFirst()))
        }
        let colons = trimmed.filter { $0 == ":" }.count
        if colons == 0 { return (trimmed, defaultPort) }
        if colons > 1 { return (trimmed, defaultPort) }  // a bare IPv6 address
        let colon = trimmed.firstIndex(of: ":")!
        let host = trimmed[..<colon]
        guard !host.isEmpty else { throw invalid("empty host") }
        return (String(host), try port(trimmed[trimmed.index(after: colon)...]))
    }

    /// The keyword/value pairs handed to `PQconnectdbParams`.
    ///
    /// Session settings ride along in `options` so they hold from the first statement
    /// and after every reconnect: UTC (Djinn's timestamps are UTC `TIMESTAMP without time
    /// zone`), ISO date output and hex bytea output (what the decoders parse).
    var connectionParameters: [(keyword: String, value: String)] {
        var parameters: [(String, String)] = [
            ("host", host),
            ("port", String(port)),
            ("dbname", database),
            ("user", user),
        ]
        if !password.isEmpty { parameters.append(("password", password)) }
        parameters += [
            ("sslmode", tls.effectiveMode.rawValue),
            ("gssencmode", "disable"),
            ("connect_timeout", String(max(0, connectTimeoutSeconds))),
            ("application_name", applicationName),
            ("client_encoding", "UTF8"),
            ("options", "-c TimeZone=UTC -c DateStyle=ISO -c bytea_output=hex"),
        ]
        if tls.effectiveMode != .disable {
            if let ca = tls.ca { parameters.append(("sslrootcert", ca)) }
            if let cert = tls.cert { parameters.append(("sslcert", cert)) }
            if let key = tls.key { parameters.append(("sslkey", key)) }
        }
        if !isUnixSocket {
            // Notice a vanished server host within about a minute instead of hours.
            parameters += [
                ("keepalives", "1"), ("keepalives_idle", "30"),
                ("keepalives_interval", "10"), ("keepalives_count", "3"),
            ]
        }
        return parameters
    }
}

extension PostgresConfiguration {
    /// The `tls { ca cert key }` block (spec §1.10; the deprecated `ssl` block maps here too).
    public struct TLS: Sendable, Equatable {
        /// Root certificate(s) to verify the server with (libpq `sslrootcert`).
        public var ca: String?
        /// Client certificate (libpq `sslcert`).
        public var cert: String?
        /// Client private key (libpq `sslkey`).
        public var key: String?
        /// Overrides the mode Djinn derives from the paths (see `effectiveMode`).
        public var mode: Mode?

        public init(ca: String? = nil, cert: String? = nil, key: String? = nil, mode: Mode? = nil) {
            self.ca = ca.flatMap { $0.isEmpty ? nil : $0 }
            self.cert = cert.flatMap { $0.isEmpty ? nil : $0 }
            self.key = key.flatMap { $0.isEmpty ? nil : $0 }
            self.mode = mode
        }

        /// Djinn's rule: `verify-full` when ca, cert and key are all given, else `disable`;
        /// an explicit `mode` wins.
        public var effectiveMode: Mode {
            if let mode { return mode }
            return ca != nil && cert != nil && key != nil ? .verifyFull : .disable
        }

        /// libpq's `sslmode`, without `allow`/`prefer`: those fall back silently to
        /// plaintext, which is never what a configuration asking for TLS means.
        public enum Mode: String, Sendable, Equatable, CaseIterable {
            case disable
            case require
            case verifyCA = "verify-ca"
            case verifyFull = "verify-full"
        }
    }
}
