@testable import DjinnJobs

/// Bytes from a hex string; spaces and newlines are ignored.
func hexBytes(_ hex: String) -> [UInt8] {
    let digits = hex.filter { !$0.isWhitespace }
    precondition(digits.count % 2 == 0, "odd hex digit count")
    var result: [UInt8] = []
    var index = digits.startIndex
    while index < digits.endIndex {
        let next = digits.index(index, offsetBy: 2)
        result.append(UInt8(digits[index..<next], radix: 16)!)
        index = next
    }
    return result
}

/// The spec's fixtures (djinn-behaviour.md §3.6), as Go wrote them.
enum GobFixtures {
    /// Payload{Host:"https://djinn-ci.com", BuildID:42}
    static let payload: [UInt8] =
        hexBytes("2a ff81 03 01 01 07") + Array("Payload".utf8)
        + hexBytes("01 ff82 00 01 02 01 04") + Array("Host".utf8)
        + hexBytes("01 0c 00 01 07") + Array("BuildID".utf8)
        + hexBytes("01 04 00 00 00")
        + hexBytes("1b ff82 01 14") + Array("https://djinn-ci.com".utf8) + hexBytes("01 54 00")

    /// The value message Go writes for Payload{Host:"djinn-scheduler", BuildID:1}.
    static let schedulerValueMessage: [UInt8] =
        hexBytes("16 ff82 01 0f") + Array("djinn-scheduler".utf8) + hexBytes("01 02 00")

    /// DownloadJob{ID:7, ImageID:3, Source:"https://example.com/img.qcow2"} as a queue.Job.
    static let downloadJob: [UInt8] = hexBytes(
        """
        4d1000122a696d6167652e446f776e6c6f61644a6f62ff830301010b446f776e6c6f61644a6f6201ff84
        000103010249440104000107496d61676549440104000106536f7572636501ff8600000017ff85050101
        0b446f776e6c6f616455524c01ff860000000aff87060102ff8a00000014ff8b0301010855736572696e
        666f01ff8c0000004cff8449010e010601420aff87060102ff8a00000014ff8b0301010855736572696e
        666f01ff8c00000021ff88001d68747470733a2f2f6578616d706c652e636f6d2f696d672e71636f7732
        00
        """)
}

/// Builds gob streams by hand, for streams Go could have written differently.
enum Gob {
    static func uint(_ value: UInt64) -> [UInt8] {
        var out: [UInt8] = []
        GobWriter.appendUInt(value, to: &out)
        return out
    }

    static func int(_ value: Int64) -> [UInt8] {
        var out: [UInt8] = []
        GobWriter.appendInt(value, to: &out)
        return out
    }

    static func string(_ value: String) -> [UInt8] {
        var out: [UInt8] = []
        GobWriter.appendString(value, to: &out)
        return out
    }

    static func bytes(_ value: [UInt8]) -> [UInt8] {
        uint(UInt64(value.count)) + value
    }

    /// A length-prefixed message.
    static func message(_ body: [UInt8]) -> [UInt8] {
        uint(UInt64(body.count)) + body
    }

    /// CommonType{Name, Id}; an empty name is omitted like Go does.
    static func commonType(name: String, id: Int64) -> [UInt8] {
        var out: [UInt8] = []
        var delta: UInt64 = 1
        if !name.isEmpty {
            out += uint(delta) + string(name)
            delta = 0
        }
        out += uint(delta + 1) + int(id) + [0]
        return out
    }

    /// A type definition message body for a struct.
    static func structDefinition(id: Int64, name: String, fields: [(String, Int64)]) -> [UInt8] {
        var out = int(-id) + [0x03, 0x01] + commonType(name: name, id: id)
        if !fields.isEmpty {
            out += [0x01] + uint(UInt64(fields.count))
            for (fieldName, fieldID) in fields {
                out += [0x01] + string(fieldName) + [0x01] + int(fieldID) + [0x00]
            }
        }
        return out + [0x00, 0x00]
    }

    static func sliceDefinition(id: Int64, element: Int64) -> [UInt8] {
        int(-id) + [0x02, 0x01] + commonType(name: "", id: id) + [0x01] + int(element) + [0x00, 0x00]
    }

    static func arrayDefinition(id: Int64, element: Int64, length: Int64) -> [UInt8] {
        int(-id) + [0x01, 0x01] + commonType(name: "", id: id) + [0x01] + int(element) + [0x01] + int(length)
            + [0x00, 0x00]
    }

    static func mapDefinition(id: Int64, key: Int64, element: Int64) -> [UInt8] {
        int(-id) + [0x04, 0x01] + commonType(name: "", id: id) + [0x01] + int(key) + [0x01] + int(element)
            + [0x00, 0x00]
    }

    /// kind: 5 GobEncoder, 6 BinaryMarshaler, 7 TextMarshaler.
    static func externalDefinition(id: Int64, name: String, kind: UInt8) -> [UInt8] {
        int(-id) + [kind, 0x01] + commonType(name: name, id: id) + [0x00, 0x00]
    }
}

/// Deterministic pseudo-random numbers (SplitMix64) so mutation tests are reproducible.
struct SplitMix64: RandomNumberGenerator {
    var state: UInt64
    mutating func next() -> UInt64 {
        state &+= 0x9E37_79B9_7F4A_7C15
        var z = state
        z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
        z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
        return z ^ (z >> 31)
    }
}
