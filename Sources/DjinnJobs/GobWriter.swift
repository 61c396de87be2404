/// Appends gob primitives to a byte buffer (Go's encoding/gob wire format).
enum GobWriter {
    /// gob-uint: values below 128 are one byte; larger ones are the negated byte count
    /// followed by the big-endian bytes without leading zeros.
    static func appendUInt(_ value: UInt64, to buffer: inout [UInt8]) {
        if value < 0x80 {
            buffer.append(UInt8(value))
            return
        }
        let byteCount = (64 - value.leadingZeroBitCount + 7) / 8
        buffer.append(UInt8(truncatingIfNeeded: -byteCount))
        var shift = (byteCount - 1) * 8
        while shift >= 0 {
            buffer.append(UInt8(truncatingIfNeeded: value >> UInt64(shift)))
            shift -= 8
        }
    }

    /// gob-int: zig-zag style, the sign in the low bit (`2n` or `2(-n-1)+1`), then gob-uint.
    static func appendInt(_ value: Int64, to buffer: inout [UInt8]) {
        let folded: UInt64 =
            value < 0
            ? (UInt64(bitPattern: ~value) << 1) | 1
            : UInt64(bitPattern: value) << 1
        appendUInt(folded, to: &buffer)
    }

    /// Byte strings and strings: gob-uint length then the bytes.
    static func appendBytes<Bytes: Collection<UInt8>>(_ bytes: Bytes, to buffer: inout [UInt8]) {
        appendUInt(UInt64(bytes.count), to: &buffer)
        buffer.append(contentsOf: bytes)
    }

    static func appendString(_ string: String, to buffer: inout [UInt8]) {
        appendBytes(string.utf8, to: &buffer)
    }

    /// Frames a message body: gob-uint length then the body.
    static func appendMessage(_ body: [UInt8], to buffer: inout [UInt8]) {
        appendBytes(body, to: &buffer)
    }

    /// Number of bytes `appendUInt` writes for `value`.
    static func uintSize(_ value: UInt64) -> Int {
        value < 0x80 ? 1 : 1 + (64 - value.leadingZeroBitCount + 7) / 8
    }
}
