/// Where and how to reach one Redis server.
///
/// Built from a `redis { addr … password … }` block (spec §1.10) with `init(addr:password:)`,
/// or member-wise. `description` names the endpoint and database but never the password.
public struct RedisConfiguration: Sendable, Equatable, CustomStringConvertible {
    public enum Endpoint: Sendable, Equatable, CustomStringConvertible {
        case tcp(host: String, port: Int)
        case unixSocket(path: String)

        public var description: String {
            switch self {
            case .tcp(let host, let port):
                return host.contains(":") ? "[\(host)]:\(port)" : "\(host):\(port)"
            case .unixSocket(let path):
                return path
            }
        }
    }

    public static let defaultPort = 6379

    public var endpoint: Endpoint
    /// Sent with AUTH after connecting when non-empty.
    public var password: String
    /// Selected after connecting when non-zero.
    public var database: Int
    /// Limit for establishing the TCP/unix connection.
    public var connectTimeout: Duration
    /// Socket read/write timeout of an ordinary command. A blocking command gets its own
    /// block time on top of this (see `RedisConnection.command(_:timeout:)`).
    public var commandTimeout: Duration
    /// Connection attempts one call makes before it reports the server unreachable.
    public var reconnectAttempts: Int
    /// First pause between connection attempts; doubles up to `maximumReconnectDelay`.
    public var reconnectDelay: Duration
    public var maximumReconnectDelay: Duration

    public init(
        endpoint: Endpoint,
        password: String = "",
        database: Int = 0,
        connectTimeout: Duration = .seconds(5),
        commandTimeout: Duration = .seconds(5),
        reconnectAttempts: Int = 6,
        reconnectDelay: Duration = .milliseconds(50),
        maximumReconnectDelay: Duration = .seconds(2)
    ) {
        self.endpoint = endpoint
        self.password = password
        self.database = database
        self.connectTimeout = connectTimeout
        self.commandTimeout = commandTimeout
        self.reconnectAttempts = max(1, reconnectAttempts)
        self.reconnectDelay = reconnectDelay
        self.maximumReconnectDelay = maximumReconnectDelay
    }

    public init(host: String, port: Int = RedisConfiguration.defaultPort, password: String = "", database: Int = 0) {
        self.init(endpoint: .tcp(host: host, port: port), password: password, database: database)
    }

    /// Parses an `addr` as Djinn's config gives it: `host:port`, `[v6]:port`, `host`
    /// (port 6379), a bare IPv6 literal (port 6379) or an absolute path to a unix socket.
    /// An empty address means `localhost:6379`, as in Go's Redis client.
    public init(addr: String, password: String = "") throws {
        self.init(endpoint: try Self.parseEndpoint(addr), password: password)
    }

    /// The TCP host, or nil for a unix socket.
    public var host: String? {
        if case .tcp(let host, _) = endpoint { return host }
        return nil
    }

    /// The TCP port, or nil for a unix socket.
    public var port: Int? {
        if case .tcp(_, let port) = endpoint { return port }
        return nil
    }

    public var description: String {
        var text = "redis \(endpoint)"
        if database != 0 { text += " db \(database)" }
        if !password.isEmpty { text += " (with password)" }
        return text
    }

    /// The pause before connection attempt number `attempt` (0 = first, no pause).
    func reconnectPause(beforeAttempt attempt: Int) -> Duration {
        Backoff(initial: reconnectDelay, maximum: maximumReconnectDelay).delay(beforeAttempt: attempt)
    }

    static func parseEndpoint(_ raw: String) throws -> Endpoint {
        let addr = raw.trimmingWhitespace()
        if addr.isEmpty { return .tcp(host: "localhost", port: defaultPort) }
        if addr.hasPrefix("/") { return .unixSocket(path: addr) }
        if addr.contains("/") {
            throw RedisError.configuration("redis address \"\(raw)\" must be host:port or a socket path, not a URL")
        }

        func port(_ text: Substring) throws -> Int {
            guard let value = Int(text), (1...65535).contains(value) else {
                throw RedisError.configuration("invalid port in redis address \"\(raw)\"")
            }
            return value
        }

        if addr.hasPrefix("[") {
            guard let close = addr.firstIndex(of: "]") else {
                throw RedisError.configuration("missing ] in redis address \"\(raw)\"")
            }
            let host = String(addr[addr.index(after: addr.startIndex)..<close])
            guard !host.isEmpty else { throw RedisError.configuration("empty host in redis address \"\(raw)\"") }
            let rest = addr[addr.index(after: close)...]
            if rest.isEmpty { return .tcp(host: host, port: defaultPort) }
            guard rest.hasPrefix(":") else {
                throw RedisError.configuration("unexpected text after ] in redis address \"\(raw)\"")
            }
            return .tcp(host: host, port: try port(rest.dropFirst()))
        }

        switch addr.filter({ $0 == ":" }).count {
        case 0:
            return .tcp(host: addr, port: defaultPort)
        case 1:
            let colon = addr.firstIndex(of: ":")!
            let host = addr[..<colon]
            return .tcp(host: host.isEmpty ? "localhost" : String(host), port: try port(addr[addr.index(after: colon)...]))
        default:
            // A bare IPv6 literal such as ::1 (with a port it must be written [::1]:6379).
            guard addr.allSatisfy({ $0.isHexDigit || $0 == ":" || $0 == "." }) else {
                throw RedisError.configuration("invalid redis address \"\(raw)\" (write IPv6 as [address]:port)")
            }
            return .tcp(host: addr, port: defaultPort)
        }
    }
}

/// Pauses between reconnection attempts: none before the first, then `initial`, doubling
/// up to `maximum`.
struct Backoff: Sendable, Equatable {
    var initial: Duration
    var maximum: Duration

    func delay(beforeAttempt attempt: Int) -> Duration {
        if attempt <= 0 { return .zero }
        var delay = initial
        for _ in 1..<attempt {
            delay *= 2
            if delay >= maximum { return maximum }
        }
        return min(delay, maximum)
    }
}

extension String {
    func trimmingWhitespace() -> String {
        var scalars = Substring(self)
        while let first = scalars.first, first.isWhitespace { scalars.removeFirst() }
        while let last = scalars.last, last.isWhitespace { scalars.removeLast() }
        return String(scalars)
    }
}
