/// Why a Redis call failed. Messages never contain a password.
public enum RedisError: Error, Sendable, Equatable, CustomStringConvertible {
    /// The server could not be reached, refused the handshake, or the connection broke.
    /// A command that fails this way may or may not have run on the server.
    case connection(String)
    /// The server answered with an error reply, e.g. `NOSCRIPT …`, `WRONGTYPE …`, `NOAUTH …`.
    case server(String)
    /// The reply could not be parsed.
    case `protocol`(String)
    /// No reply within the socket timeout; the connection is dropped.
    case timeout
    /// The connection, client or subscriber was closed.
    case closed
    /// The awaiting task was cancelled (a blocking call is interrupted).
    case cancelled
    /// A Redis address or setting is malformed.
    case configuration(String)

    public var description: String {
        switch self {
        case .connection(let message): return "redis: \(message)"
        case .server(let message): return "redis: \(message)"
        case .protocol(let message): return "redis: protocol error: \(message)"
        case .timeout: return "redis: timed out waiting for a reply"
        case .closed: return "redis: connection closed"
        case .cancelled: return "redis: cancelled"
        case .configuration(let message): return "redis: \(message)"
        }
    }

    /// The first word of a server error reply (`NOSCRIPT`, `WRONGTYPE`, `ERR` …), if this is one.
    public var serverErrorCode: String? {
        guard case .server(let message) = self else { return nil }
        return message.split(separator: " ", maxSplits: 1).first.map(String.init)
    }
}
