/// Makes a byte stream storable as PostgreSQL text (spec §4.5): each NUL byte becomes the
/// three letters `NUL`, each byte that is not part of a well-formed UTF-8 sequence becomes
/// U+FFFD (one per byte, as Go's rune loop does). Overlong forms, surrogates and code points
/// above U+10FFFF are ill-formed.
///
/// A sequence split across chunks is kept whole: an incomplete but so far valid sequence at
/// the end of a chunk (at most 3 bytes) is held back until the next chunk or `finish()`.
/// The output is always valid UTF-8 made of whole characters.
public struct OutputSanitizer: Sendable {
    public static let nulReplacement: [UInt8] = Array("NUL".utf8)
    public static let invalidReplacement: [UInt8] = [0xEF, 0xBF, 0xBD]  // U+FFFD

    private var pending: [UInt8] = []

    public init() {}

    /// Bytes currently held back.
    public var heldBackCount: Int { pending.count }

    public mutating func process(_ chunk: [UInt8]) -> [UInt8] {
        var output: [UInt8] = []
        output.reserveCapacity(chunk.count + pending.count)
        if pending.isEmpty {
            let consumed = Self.sanitize(chunk, final: false, into: &output)
            pending = Array(chunk[consumed...])
        } else {
            var input = pending
            input.append(contentsOf: chunk)
            let consumed = Self.sanitize(input, final: false, into: &output)
            pending = Array(input[consumed...])
        }
        return output
    }

    /// Emits what was held back (each byte of an unfinished sequence becomes U+FFFD).
    public mutating func finish() -> [UInt8] {
        guard !pending.isEmpty else { return [] }
        var output: [UInt8] = []
        _ = Self.sanitize(pending, final: true, into: &output)
        pending = []
        return output
    }

    /// Sanitises a complete byte string in one go.
    public static func sanitize(_ bytes: [UInt8]) -> [UInt8] {
        var output: [UInt8] = []
        output.reserveCapacity(bytes.count)
        _ = sanitize(bytes, final: true, into: &output)
        return output
    }

    /// Sanitises a complete byte string into a `String`.
    public static func string(from bytes: [UInt8]) -> String {
        String(decoding: sanitize(bytes), as: UTF8.self)
    }

    /// Returns how many bytes were consumed: all of them when `final`, otherwise all but an
    /// incomplete sequence at the end.
    private static func sanitize(_ input: [UInt8], final: Bool, into output: inout [UInt8]) -> Int {
        input.withUnsafeBufferPointer { bytes in
            let count = bytes.count
            var position = 0
            var literalStart = 0
            while position < count {
                let lead = bytes[position]
                if lead != 0 && lead < 0x80 {
                    position += 1
                    continue
                }
                let length = wellFormedLength(bytes, at: position)
                if length > 0 {
                    position += length
                    continue
                }
                output.append(contentsOf: bytes[literalStart..<position])
                if length == incomplete && !final {
                    return position
                }
                output.append(contentsOf: lead == 0 ? nulReplacement : invalidReplacement)
                position += 1
                literalStart = position
            }
            output.append(contentsOf: bytes[literalStart..<position])
            return position
        }
    }

    private static let incomplete = -1

    /// The length of the well-formed multi-byte sequence at `position`; 0 when the lead byte
    /// is ill-formed (or NUL); `incomplete` when the input ends inside a valid prefix.
    private static func wellFormedLength(_ bytes: UnsafeBufferPointer<UInt8>, at position: Int) -> Int {
        let lead = bytes[position]
        let length: Int
        var secondLow: UInt8 = 0x80
        var secondHigh: UInt8 = 0xBF
        switch lead {
        case 0xC2...0xDF: length = 2
        case 0xE0: length = 3; secondLow = 0xA0
        case 0xE1...0xEC, 0xEE...0xEF: length = 3
        case 0xED: length = 3; secondHigh = 0x9F  // no surrogates
        case 0xF0: length = 4; secondLow = 0x90
        case 0xF1...0xF3: length = 4
        case 0xF4: length = 4; secondHigh = 0x8F  // nothing above U+10FFFF
        default: return 0
        }
        for offset in 1..<length {
            guard position + offset < bytes.count else { return incomplete }
            let byte = bytes[position + offset]
            let low = offset == 1 ? secondLow : 0x80
            let high = offset == 1 ? secondHigh : 0xBF
            if byte < low || byte > high { return 0 }
        }
        return length
    }
}
