import Foundation

/// A value that can be sent as one argument of a Redis command. Arguments are byte strings,
/// so binary data passes unchanged.
public protocol RedisArgumentConvertible: Sendable {
    var redisArgumentBytes: [UInt8] { get }
}

/// A ready-made argument; handy for building argument lists of mixed types.
public struct RedisArgument: RedisArgumentConvertible, Hashable, ExpressibleByStringLiteral, ExpressibleByIntegerLiteral {
    public var redisArgumentBytes: [UInt8]

    public init(_ value: some RedisArgumentConvertible) { redisArgumentBytes = value.redisArgumentBytes }
    public init(bytes: [UInt8]) { redisArgumentBytes = bytes }
    public init(stringLiteral value: String) { redisArgumentBytes = Array(value.utf8) }
    public init(integerLiteral value: Int) { redisArgumentBytes = Array(String(value).utf8) }
}

extension String: RedisArgumentConvertible {
    public var redisArgumentBytes: [UInt8] { Array(utf8) }
}

extension Substring: RedisArgumentConvertible {
    public var redisArgumentBytes: [UInt8] { Array(utf8) }
}

extension Array: RedisArgumentConvertible where Element == UInt8 {
    public var redisArgumentBytes: [UInt8] { self }
}

extension ArraySlice: RedisArgumentConvertible where Element == UInt8 {
    public var redisArgumentBytes: [UInt8] { Array(self) }
}

extension Data: RedisArgumentConvertible {
    public var redisArgumentBytes: [UInt8] { Array(self) }
}

extension Int: RedisArgumentConvertible {
    public var redisArgumentBytes: [UInt8] { Array(String(self).utf8) }
}

extension Int64: RedisArgumentConvertible {
    public var redisArgumentBytes: [UInt8] { Array(String(self).utf8) }
}

extension Int32: RedisArgumentConvertible {
    public var redisArgumentBytes: [UInt8] { Array(String(self).utf8) }
}

extension UInt64: RedisArgumentConvertible {
    public var redisArgumentBytes: [UInt8] { Array(String(self).utf8) }
}

extension Double: RedisArgumentConvertible {
    /// Redis parses scores and timeouts with `strtod`: `inf`, `-inf` and Swift's shortest
    /// round-trip form (`0.1`, `1e+20`) are all accepted.
    public var redisArgumentBytes: [UInt8] {
        if self == .infinity { return Array("+inf".utf8) }
        if self == -.infinity { return Array("-inf".utf8) }
        return Array(description.utf8)
    }
}

extension Duration {
    /// Seconds with millisecond precision, as blocking commands (`BLPOP`, `BLMOVE`) take them.
    var redisSecondsArgument: String {
        let (seconds, attoseconds) = components
        let millis = seconds * 1000 + attoseconds / 1_000_000_000_000_000
        if millis % 1000 == 0 { return String(millis / 1000) }
        let whole = millis / 1000, fraction = millis % 1000
        let digits = String(fraction)
        return "\(whole)." + String(repeating: "0", count: 3 - digits.count) + digits
    }

    var timeInterval: Double {
        let (seconds, attoseconds) = components
        return Double(seconds) + Double(attoseconds) / 1e18
    }
}
