/// One reply (or element of a reply) in the Redis protocol. Bulk strings are raw bytes, so
/// binary values round-trip unchanged.
public enum RESPValue: Sendable, Hashable, CustomStringConvertible {
    /// Nil bulk string or nil array (`GET` of a missing key, a blocking pop that timed out).
    case null
    /// Status reply such as `OK` or `PONG`.
    case simpleString(String)
    /// Error reply text such as `WRONGTYPE Operation against a key …`.
    case error(String)
    case integer(Int64)
    case bulk([UInt8])
    case array([RESPValue])

    /// A bulk string holding the UTF-8 bytes of `text`.
    public static func bulk(string text: String) -> RESPValue { .bulk(Array(text.utf8)) }

    public var isNull: Bool { self == .null }

    /// Text of a bulk or status reply; nil for other kinds and for bytes that are not UTF-8.
    public var string: String? {
        switch self {
        case .simpleString(let text): return text
        case .bulk(let bytes): return String(validatingUTF8Bytes: bytes)
        default: return nil
        }
    }

    /// Bytes of a bulk or status reply.
    public var bytes: [UInt8]? {
        switch self {
        case .bulk(let bytes): return bytes
        case .simpleString(let text): return Array(text.utf8)
        default: return nil
        }
    }

    /// An integer reply, or a bulk/status reply holding a decimal integer (`HGET` of a counter).
    public var int64: Int64? {
        switch self {
        case .integer(let value): return value
        case .bulk, .simpleString: return string.flatMap { Int64($0) }
        default: return nil
        }
    }

    public var int: Int? { int64.flatMap { Int(exactly: $0) } }

    /// A bulk/status reply holding a number (`ZSCORE`), or an integer reply.
    public var double: Double? {
        switch self {
        case .integer(let value): return Double(value)
        case .bulk, .simpleString:
            guard let text = string else { return nil }
            switch text {
            case "inf", "+inf": return .infinity
            case "-inf": return -.infinity
            default: return Double(text)
            }
        default: return nil
        }
    }

    public var array: [RESPValue]? {
        if case .array(let values) = self { return values }
        return nil
    }

    /// The elements of an array reply as strings (nil elements and non-text elements are nil).
    public var strings: [String?]? { array?.map(\.string) }

    /// The text of an error reply.
    public var errorMessage: String? {
        if case .error(let message) = self { return message }
        return nil
    }

    public var description: String {
        switch self {
        case .null: return "(nil)"
        case .simpleString(let text): return text
        case .error(let message): return "(error) \(message)"
        case .integer(let value): return "(integer) \(value)"
        case .bulk(let bytes):
            if let text = String(validatingUTF8Bytes: bytes) { return "\"\(text)\"" }
            return "<\(bytes.count) bytes>"
        case .array(let values): return "[" + values.map(\.description).joined(separator: ", ") + "]"
        }
    }
}

extension String {
    /// Strict UTF-8 decoding: nil when the bytes are not valid UTF-8.
    init?(validatingUTF8Bytes bytes: [UInt8]) {
        var decoded = ""
        var iterator = bytes.makeIterator()
        var decoder = UTF8()
        loop: while true {
            switch decoder.decode(&iterator) {
            case .scalarValue(let scalar): decoded.unicodeScalars.append(scalar)
            case .emptyInput: break loop
            case .error: return nil
            }
        }
        self = decoded
    }
}
