/// A queue job message as curlyq v0.4.0 stores it in `Q:data` (djinn-behaviour.md §3.2): a
/// MessagePack map `{"ID": str, "Data": bin, "Attempt": int}`, written in that order with the
/// forms Go's vmihailenco/msgpack v4 uses (shortest str header, bin8/16/32 by length, Attempt
/// always as int64 `0xd3`). Reading accepts whatever a MessagePack writer may produce for
/// those fields. This sits on the queue's hot path, so both directions work on raw buffers.
public struct Envelope: Sendable, Equatable {
    /// The job id (a UUID v4 text for jobs curlyq creates); also the key in `Q:data`.
    public var id: String
    /// The payload (a gob stream for Djinn's queues).
    public var data: [UInt8]
    /// How many times the job has already been retried or killed (starts at 0).
    public var attempt: Int64

    public init(id: String, data: [UInt8], attempt: Int64) {
        self.id = id
        self.data = data
        self.attempt = attempt
    }

    /// The MessagePack bytes Go's curlyq writes for this job. An empty `data` is written as an
    /// empty bin (Go writes nil for a nil slice; readers treat both as empty). Strings and data
    /// longer than 4 GiB cannot be represented (Redis values are at most 512 MiB).
    public func encoded() -> [UInt8] {
        var id = self.id
        id.makeContiguousUTF8()
        let idCount = id.utf8.count
        let dataCount = data.count
        precondition(UInt64(idCount) <= UInt64(UInt32.max) && UInt64(dataCount) <= UInt64(UInt32.max),
                     "envelope field longer than 4 GiB")
        let size = 1 + 3 + Self.stringHeaderSize(idCount) + idCount + 5 + Self.binaryHeaderSize(dataCount)
            + dataCount + 8 + 9

        var out: [UInt8] = []
        out.reserveCapacity(size)
        out.append(0x83)  // fixmap, 3 entries
        out.append(0xa2)  // "ID"
        out.append(0x49)
        out.append(0x44)
        Self.appendStringHeader(idCount, to: &out)
        out.append(contentsOf: id.utf8)
        out.append(0xa4)  // "Data"
        out.append(0x44)
        out.append(0x61)
        out.append(0x74)
        out.append(0x61)
        Self.appendBinaryHeader(dataCount, to: &out)
        out.append(contentsOf: data)
        out.append(0xa7)  // "Attempt"
        out.append(0x41)
        out.append(0x74)
        out.append(0x74)
        out.append(0x65)
        out.append(0x6d)
        out.append(0x70)
        out.append(0x74)
        out.append(0xd3)  // int64, big-endian
        Self.appendBigEndian(UInt64(bitPattern: attempt), byteCount: 8, to: &out)
        return out
    }

    /// Decodes a job message. Accepted: keys in any order and as str or bin, unknown keys with
    /// values of any type (skipped), ID as str/bin/nil, Data as bin/str/nil, Attempt as nil or
    /// any integer form; a repeated key keeps its last value (as Go does). Rejected with an
    /// `EnvelopeError`: anything else, a missing field, trailing bytes, an invalid UTF-8 ID.
    public init(decoding bytes: [UInt8]) throws(EnvelopeError) {
        self = try bytes.withUnsafeBufferPointer { (buffer) throws(EnvelopeError) -> Envelope in
            var reader = MessagePackReader(buffer)
            return try reader.readEnvelope()
        }
    }

    // MARK: Writing helpers (Go msgpack v4 rules)

    static func stringHeaderSize(_ count: Int) -> Int {
        count < 32 ? 1 : count < 256 ? 2 : count < 65536 ? 3 : 5
    }

    static func binaryHeaderSize(_ count: Int) -> Int {
        count < 256 ? 2 : count < 65536 ? 3 : 5
    }

    static func appendStringHeader(_ count: Int, to out: inout [UInt8]) {
        if count < 32 {
            out.append(0xa0 | UInt8(count))
        } else if count < 256 {
            out.append(0xd9)
            out.append(UInt8(count))
        } else if count < 65536 {
            out.append(0xda)
            appendBigEndian(UInt64(count), byteCount: 2, to: &out)
        } else {
            out.append(0xdb)
            appendBigEndian(UInt64(count), byteCount: 4, to: &out)
        }
    }

    static func appendBinaryHeader(_ count: Int, to out: inout [UInt8]) {
        if count < 256 {
            out.append(0xc4)
            out.append(UInt8(count))
        } else if count < 65536 {
            out.append(0xc5)
            appendBigEndian(UInt64(count), byteCount: 2, to: &out)
        } else {
            out.append(0xc6)
            appendBigEndian(UInt64(count), byteCount: 4, to: &out)
        }
    }

    @inline(__always)
    static func appendBigEndian(_ value: UInt64, byteCount: Int, to out: inout [UInt8]) {
        var shift = (byteCount - 1) * 8
        while shift >= 0 {
            out.append(UInt8(truncatingIfNeeded: value >> UInt64(shift)))
            shift -= 8
        }
    }
}

/// A job message that is not a valid curlyq envelope. Messages start with `envelope:` and say
/// where in the input the problem is.
public struct EnvelopeError: Error, Sendable, Equatable, CustomStringConvertible {
    public let message: String

    public init(_ message: String) {
        self.message = "envelope: " + message
    }

    public var description: String { message }
}

/// A cursor over MessagePack bytes, with exactly what the envelope needs.
private struct MessagePackReader {
    /// Deepest nesting of arrays/maps accepted inside skipped values.
    static let maxDepth = 64

    let buffer: UnsafeBufferPointer<UInt8>
    var position = 0

    init(_ buffer: UnsafeBufferPointer<UInt8>) {
        self.buffer = buffer
    }

    private enum Field {
        case id, data, attempt
    }

    mutating func readEnvelope() throws(EnvelopeError) -> Envelope {
        let entries = try readMapHeader()
        var id: String?
        var data: [UInt8]?
        var attempt: Int64?
        for _ in 0..<entries {
            switch try readKey() {
            case .id?: id = try readIDValue()
            case .data?: data = try readDataValue()
            case .attempt?: attempt = try readAttemptValue()
            case nil: try skipValue(depth: 1)
            }
        }
        guard position == buffer.count else {
            throw EnvelopeError("\(buffer.count - position) trailing bytes after the map at byte \(position)")
        }
        guard let id else { throw EnvelopeError("ID is missing") }
        guard let data else { throw EnvelopeError("Data is missing") }
        guard let attempt else { throw EnvelopeError("Attempt is missing") }
        return Envelope(id: id, data: data, attempt: attempt)
    }

    // MARK: Bytes

    private func truncated(_ what: String, needing count: Int) -> EnvelopeError {
        EnvelopeError(
            "truncated at byte \(position): \(what) needs \(count) bytes, \(buffer.count - position) remain")
    }

    @inline(__always)
    private mutating func readByte(_ what: @autoclosure () -> String) throws(EnvelopeError) -> UInt8 {
        guard position < buffer.count else { throw truncated(what(), needing: 1) }
        let byte = buffer[position]
        position += 1
        return byte
    }

    @inline(__always)
    private mutating func readBigEndian(_ byteCount: Int, _ what: @autoclosure () -> String) throws(EnvelopeError)
        -> UInt64
    {
        guard buffer.count - position >= byteCount else { throw truncated(what(), needing: byteCount) }
        var value: UInt64 = 0
        for index in position..<position + byteCount {
            value = value << 8 | UInt64(buffer[index])
        }
        position += byteCount
        return value
    }

    /// Steps over `count` bytes and returns where they are.
    @inline(__always)
    private mutating func take(_ count: Int, _ what: @autoclosure () -> String) throws(EnvelopeError) -> Range<Int> {
        guard buffer.count - position >= count else { throw truncated(what(), needing: count) }
        let range = position..<position + count
        position += count
        return range
    }

    // MARK: Structure

    private mutating func readMapHeader() throws(EnvelopeError) -> Int {
        let start = position
        let code = try readByte("the map header")
        let count: Int
        switch code {
        case 0x80...0x8f: count = Int(code & 0x0f)
        case 0xde: count = Int(try readBigEndian(2, "the map16 length"))
        case 0xdf: count = Int(try readBigEndian(4, "the map32 length"))
        default:
            throw EnvelopeError("expected a map at byte \(start), found \(Self.describe(code))")
        }
        // Every entry takes at least two bytes.
        guard count <= (buffer.count - position) / 2 else {
            throw EnvelopeError(
                "truncated at byte \(position): map at byte \(start) claims \(count) entries, \(buffer.count - position) bytes remain"
            )
        }
        return count
    }

    /// The length of a str or bin value whose code was just read, or nil for other codes.
    @inline(__always)
    private mutating func rawLength(_ code: UInt8, _ what: @autoclosure () -> String) throws(EnvelopeError) -> Int? {
        switch code {
        case 0xa0...0xbf: return Int(code & 0x1f)
        case 0xd9, 0xc4: return Int(try readBigEndian(1, "the length of \(what())"))
        case 0xda, 0xc5: return Int(try readBigEndian(2, "the length of \(what())"))
        case 0xdb, 0xc6: return Int(try readBigEndian(4, "the length of \(what())"))
        default: return nil
        }
    }

    /// The field a key names, or nil for any other key (whose value the caller skips).
    private mutating func readKey() throws(EnvelopeError) -> Field? {
        let start = position
        let code = try readByte("a map key")
        guard let length = try rawLength(code, "a map key") else {
            position = start
            try skipValue(depth: 1)
            return nil
        }
        let key = try take(length, "a map key")
        if matches(key, "ID") { return .id }
        if matches(key, "Data") { return .data }
        if matches(key, "Attempt") { return .attempt }
        return nil
    }

    @inline(__always)
    private func matches(_ range: Range<Int>, _ literal: StaticString) -> Bool {
        guard range.count == literal.utf8CodeUnitCount else { return false }
        let expected = literal.utf8Start
        for offset in 0..<range.count where buffer[range.lowerBound + offset] != expected[offset] {
            return false
        }
        return true
    }

    // MARK: Field values

    private mutating func readIDValue() throws(EnvelopeError) -> String {
        let start = position
        let code = try readByte("ID")
        if code == 0xc0 { return "" }
        guard let length = try rawLength(code, "ID") else {
            throw EnvelopeError("ID must be a string, found \(Self.describe(code)) at byte \(start)")
        }
        let range = try take(length, "ID")
        guard let id = String(validating: UnsafeBufferPointer(rebasing: buffer[range]), as: UTF8.self) else {
            throw EnvelopeError("ID at byte \(start) is not valid UTF-8")
        }
        return id
    }

    private mutating func readDataValue() throws(EnvelopeError) -> [UInt8] {
        let start = position
        let code = try readByte("Data")
        if code == 0xc0 { return [] }
        guard let length = try rawLength(code, "Data") else {
            throw EnvelopeError("Data must be bin or str, found \(Self.describe(code)) at byte \(start)")
        }
        let range = try take(length, "Data")
        return Array(UnsafeBufferPointer(rebasing: buffer[range]))
    }

    private mutating func readAttemptValue() throws(EnvelopeError) -> Int64 {
        let start = position
        let code = try readByte("Attempt")
        switch code {
        case 0x00...0x7f: return Int64(code)
        case 0xe0...0xff: return Int64(Int8(bitPattern: code))
        case 0xc0: return 0
        case 0xcc: return Int64(try readBigEndian(1, "Attempt"))
        case 0xcd: return Int64(try readBigEndian(2, "Attempt"))
        case 0xce: return Int64(try readBigEndian(4, "Attempt"))
        case 0xcf:
            let value = try readBigEndian(8, "Attempt")
            guard let attempt = Int64(exactly: value) else {
                throw EnvelopeError("Attempt \(value) at byte \(start) overflows Int64")
            }
            return attempt
        case 0xd0: return Int64(Int8(truncatingIfNeeded: try readBigEndian(1, "Attempt")))
        case 0xd1: return Int64(Int16(truncatingIfNeeded: try readBigEndian(2, "Attempt")))
        case 0xd2: return Int64(Int32(truncatingIfNeeded: try readBigEndian(4, "Attempt")))
        case 0xd3: return Int64(bitPattern: try readBigEndian(8, "Attempt"))
        default:
            throw EnvelopeError("Attempt must be an integer, found \(Self.describe(code)) at byte \(start)")
        }
    }

    // MARK: Skipping

    /// Steps over one value of any type (values of keys we do not know).
    private mutating func skipValue(depth: Int) throws(EnvelopeError) {
        guard depth <= Self.maxDepth else {
            throw EnvelopeError("values nested deeper than \(Self.maxDepth) levels at byte \(position)")
        }
        let start = position
        let code = try readByte("a value")
        switch code {
        case 0x00...0x7f, 0xe0...0xff, 0xc0, 0xc2, 0xc3:
            return
        case 0x80...0x8f: try skipElements(Int(code & 0x0f) * 2, depth: depth, at: start)
        case 0x90...0x9f: try skipElements(Int(code & 0x0f), depth: depth, at: start)
        case 0xa0...0xbf: _ = try take(Int(code & 0x1f), "a str")
        case 0xc4, 0xd9: _ = try take(Int(try readBigEndian(1, "a length")), Self.describe(code))
        case 0xc5, 0xda: _ = try take(Int(try readBigEndian(2, "a length")), Self.describe(code))
        case 0xc6, 0xdb: _ = try take(Int(try readBigEndian(4, "a length")), Self.describe(code))
        // ext: length, then a type byte and the data
        case 0xc7: _ = try take(1 + Int(try readBigEndian(1, "an ext8 length")), "ext8")
        case 0xc8: _ = try take(1 + Int(try readBigEndian(2, "an ext16 length")), "ext16")
        case 0xc9: _ = try take(1 + Int(try readBigEndian(4, "an ext32 length")), "ext32")
        case 0xcc, 0xd0: _ = try take(1, Self.describe(code))
        case 0xcd, 0xd1: _ = try take(2, Self.describe(code))
        case 0xca, 0xce, 0xd2: _ = try take(4, Self.describe(code))
        case 0xcb, 0xcf, 0xd3: _ = try take(8, Self.describe(code))
        case 0xd4: _ = try take(2, "fixext1")
        case 0xd5: _ = try take(3, "fixext2")
        case 0xd6: _ = try take(5, "fixext4")
        case 0xd7: _ = try take(9, "fixext8")
        case 0xd8: _ = try take(17, "fixext16")
        case 0xdc: try skipElements(Int(try readBigEndian(2, "an array16 length")), depth: depth, at: start)
        case 0xdd: try skipElements(Int(try readBigEndian(4, "an array32 length")), depth: depth, at: start)
        case 0xde: try skipElements(Int(try readBigEndian(2, "a map16 length")) * 2, depth: depth, at: start)
        case 0xdf: try skipElements(Int(try readBigEndian(4, "a map32 length")) * 2, depth: depth, at: start)
        default:  // 0xc1 is never used
            throw EnvelopeError("invalid MessagePack code 0xc1 at byte \(start)")
        }
    }

    private mutating func skipElements(_ count: Int, depth: Int, at start: Int) throws(EnvelopeError) {
        // Every element takes at least one byte, so a larger claim is truncated input.
        guard count <= buffer.count - position else {
            throw EnvelopeError(
                "truncated at byte \(position): container at byte \(start) claims \(count) elements, \(buffer.count - position) bytes remain"
            )
        }
        for _ in 0..<count {
            try skipValue(depth: depth + 1)
        }
    }

    /// A readable name for a MessagePack type code, for error messages.
    static func describe(_ code: UInt8) -> String {
        let name: String
        switch code {
        case 0x00...0x7f: name = "positive fixint"
        case 0x80...0x8f: name = "fixmap"
        case 0x90...0x9f: name = "fixarray"
        case 0xa0...0xbf: name = "fixstr"
        case 0xc0: name = "nil"
        case 0xc1: name = "unused code"
        case 0xc2, 0xc3: name = "bool"
        case 0xc4: name = "bin8"
        case 0xc5: name = "bin16"
        case 0xc6: name = "bin32"
        case 0xc7: name = "ext8"
        case 0xc8: name = "ext16"
        case 0xc9: name = "ext32"
        case 0xca: name = "float32"
        case 0xcb: name = "float64"
        case 0xcc: name = "uint8"
        case 0xcd: name = "uint16"
        case 0xce: name = "uint32"
        case 0xcf: name = "uint64"
        case 0xd0: name = "int8"
        case 0xd1: name = "int16"
        case 0xd2: name = "int32"
        case 0xd3: name = "int64"
        case 0xd4...0xd8: name = "fixext"
        case 0xd9: name = "str8"
        case 0xda: name = "str16"
        case 0xdb: name = "str32"
        case 0xdc: name = "array16"
        case 0xdd: name = "array32"
        case 0xde: name = "map16"
        case 0xdf: name = "map32"
        default: name = "negative fixint"
        }
        let hex = String(code, radix: 16)
        return "\(name) (0x\(hex.count == 1 ? "0" + hex : hex))"
    }
}
