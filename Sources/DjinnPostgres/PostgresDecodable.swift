import Foundation

/// A Swift type a result value (text format) can be decoded into.
public protocol PostgresDecodable: Sendable {
    /// Decodes a non-NULL value.
    static func decode(from cell: PostgresCell) throws(PostgresError) -> Self
    /// Decodes NULL: an error, except for `Optional` (nil).
    static func decodeNull(from cell: PostgresCell) throws(PostgresError) -> Self
}

extension PostgresDecodable {
    public static func decodeNull(from cell: PostgresCell) throws(PostgresError) -> Self {
        throw PostgresError(
            kind: .decode,
            message: "column \"\(cell.columnName)\" of type \(cell.type) is NULL; decode it as \(Self.self)? instead")
    }
}

extension Optional: PostgresDecodable where Wrapped: PostgresDecodable {
    public static func decode(from cell: PostgresCell) throws(PostgresError) -> Wrapped? {
        try Wrapped.decode(from: cell)
    }

    public static func decodeNull(from cell: PostgresCell) throws(PostgresError) -> Wrapped? { nil }
}

// MARK: Integers

/// Parses an optionally signed ASCII decimal integer.
func parseInt64(_ bytes: UnsafeRawBufferPointer) -> Int64? {
    var iterator = bytes.makeIterator()
    guard var byte = iterator.next() else { return nil }
    let negative = byte == UInt8(ascii: "-")
    if negative || byte == UInt8(ascii: "+") {
        guard let next = iterator.next() else { return nil }
        byte = next
    }
    var value: Int64 = 0
    while true {
        guard byte >= UInt8(ascii: "0"), byte <= UInt8(ascii: "9") else { return nil }
        let digit = Int64(byte - UInt8(ascii: "0"))
        // Accumulate negatively so Int64.min parses too.
        let (shifted, overflow1) = value.multipliedReportingOverflow(by: 10)
        let (next, overflow2) = shifted.subtractingReportingOverflow(digit)
        if overflow1 || overflow2 { return nil }
        value = next
        guard let following = iterator.next() else { break }
        byte = following
    }
    if negative { return value }
    return value == Int64.min ? nil : -value
}

extension PostgresDecodable where Self: FixedWidthInteger {
    /// Decodes int2/int4/int8/oid, checking the value fits `Self`.
    public static func decode(from cell: PostgresCell) throws(PostgresError) -> Self {
        guard cell.type.isInteger else { throw cell.typeMismatch(Self.self) }
        guard let wide = cell.withUnsafeBytes({ parseInt64($0) }) else {
            throw cell.invalidValue(Self.self, "not an integer")
        }
        guard let value = Self(exactly: wide) else { throw cell.invalidValue(Self.self, "\(wide) is out of range") }
        return value
    }
}

extension Int: PostgresDecodable {}
extension Int64: PostgresDecodable {}
extension Int32: PostgresDecodable {}
extension Int16: PostgresDecodable {}

// MARK: Text, booleans, floats

extension String: PostgresDecodable {
    /// Decodes character types, json/jsonb, uuid and user-defined types such as enums.
    public static func decode(from cell: PostgresCell) throws(PostgresError) -> String {
        guard cell.type.isTextual else { throw cell.typeMismatch(String.self) }
        return cell.text
    }
}

extension Bool: PostgresDecodable {
    public static func decode(from cell: PostgresCell) throws(PostgresError) -> Bool {
        guard cell.type == .bool else { throw cell.typeMismatch(Bool.self) }
        switch cell.text {
        case "t": return true
        case "f": return false
        default: throw cell.invalidValue(Bool.self, "expected t or f")
        }
    }
}

extension Double: PostgresDecodable {
    /// Decodes float4/float8/numeric (numeric may lose precision) and integers.
    public static func decode(from cell: PostgresCell) throws(PostgresError) -> Double {
        guard cell.type == .float8 || cell.type == .float4 || cell.type == .numeric || cell.type.isInteger else {
            throw cell.typeMismatch(Double.self)
        }
        let text = cell.text
        switch text {
        case "Infinity": return .infinity
        case "-Infinity": return -.infinity
        case "NaN": return .nan
        default:
            guard let value = Double(text) else { throw cell.invalidValue(Double.self, "not a number") }
            return value
        }
    }
}

// MARK: Timestamps

extension Date: PostgresDecodable {
    /// Decodes timestamp (read as UTC), timestamptz and date (midnight UTC).
    public static func decode(from cell: PostgresCell) throws(PostgresError) -> Date {
        guard cell.type == .timestamp || cell.type == .timestamptz || cell.type == .date else {
            throw cell.typeMismatch(Date.self)
        }
        guard let date = cell.withUnsafeBytes({ PostgresTimestamp.parse($0) }) else {
            throw cell.invalidValue(Date.self, "unsupported timestamp \"\(cell.text)\"")
        }
        return date
    }
}

// MARK: Binary

/// Decodes bytea's hex text form (`\x0aff…`).
func decodeByteaHex(_ bytes: UnsafeRawBufferPointer) -> [UInt8]? {
    guard bytes.count >= 2, bytes[0] == UInt8(ascii: "\\"), bytes[1] == UInt8(ascii: "x"),
        bytes.count % 2 == 0
    else { return nil }
    func nibble(_ byte: UInt8) -> UInt8? {
        switch byte {
        case UInt8(ascii: "0")...UInt8(ascii: "9"): return byte - UInt8(ascii: "0")
        case UInt8(ascii: "a")...UInt8(ascii: "f"): return byte - UInt8(ascii: "a") + 10
        case UInt8(ascii: "A")...UInt8(ascii: "F"): return byte - UInt8(ascii: "A") + 10
        default: return nil
        }
    }
    let count = (bytes.count - 2) / 2
    var failed = false
    let decoded = [UInt8](unsafeUninitializedCapacity: count) { buffer, initialized in
        var index = 2
        for position in 0..<count {
            guard let high = nibble(bytes[index]), let low = nibble(bytes[index + 1]) else {
                failed = true
                break
            }
            buffer[position] = high << 4 | low
            index += 2
        }
        initialized = failed ? 0 : count
    }
    return failed ? nil : decoded
}

extension Array: PostgresDecodable where Element == UInt8 {
    /// Decodes bytea.
    public static func decode(from cell: PostgresCell) throws(PostgresError) -> [UInt8] {
        guard cell.type == .bytea else { throw cell.typeMismatch([UInt8].self) }
        guard let bytes = cell.withUnsafeBytes({ decodeByteaHex($0) }) else {
            throw cell.invalidValue([UInt8].self, "not bytea hex output")
        }
        return bytes
    }
}

extension Data: PostgresDecodable {
    /// Decodes bytea; from json/jsonb, the JSON text's UTF-8 bytes (ready for `JSONDecoder`).
    public static func decode(from cell: PostgresCell) throws(PostgresError) -> Data {
        if cell.type == .json || cell.type == .jsonb {
            return cell.withUnsafeBytes { Data($0) }
        }
        guard cell.type == .bytea else { throw cell.typeMismatch(Data.self) }
        guard let bytes = cell.withUnsafeBytes({ decodeByteaHex($0) }) else {
            throw cell.invalidValue(Data.self, "not bytea hex output")
        }
        return Data(bytes)
    }
}
