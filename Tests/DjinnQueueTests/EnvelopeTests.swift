import Testing

@testable import DjinnQueue

private func hex(_ text: String) -> [UInt8] {
    let digits = text.filter { !$0.isWhitespace }
    var result: [UInt8] = []
    var index = digits.startIndex
    while index < digits.endIndex {
        let next = digits.index(index, offsetBy: 2)
        result.append(UInt8(digits[index..<next], radix: 16)!)
        index = next
    }
    return result
}

private let exampleID = "6ba7b810-9dad-11d1-80b4-00c04fd430c8"

/// The spec's example (djinn-behaviour.md §3.2).
private let example: [UInt8] =
    hex("83 a2 4944 d9 24") + Array(exampleID.utf8)
    + hex("a4 44617461 c4 03 010203 a7 417474656d7074 d3 0000000000000001")

private let idKey = hex("a2 4944")
private let dataKey = hex("a4 44617461")
private let attemptKey = hex("a7 417474656d7074")

/// Decoding must fail with an error whose message contains `fragment`.
private func expectRejected(
    _ bytes: [UInt8], _ fragment: String, sourceLocation: SourceLocation = #_sourceLocation
) {
    do {
        let envelope = try Envelope(decoding: bytes)
        Issue.record("decoded \(envelope) instead of failing with \"\(fragment)\"", sourceLocation: sourceLocation)
    } catch {
        #expect(error.message.hasPrefix("envelope: "), sourceLocation: sourceLocation)
        #expect(error.message.contains(fragment), "\(error.message)", sourceLocation: sourceLocation)
    }
}

@Suite struct EnvelopeTests {
    // MARK: The spec example

    @Test func exampleEncodesByteForByte() {
        let envelope = Envelope(id: exampleID, data: [1, 2, 3], attempt: 1)
        #expect(envelope.encoded() == example)
    }

    @Test func exampleDecodes() throws {
        let envelope = try Envelope(decoding: example)
        #expect(envelope == Envelope(id: exampleID, data: [1, 2, 3], attempt: 1))
        #expect(envelope.encoded() == example)
    }

    // MARK: Writing

    @Test(arguments: [
        (0, [0xa0] as [UInt8]), (1, [0xa1]), (31, [0xbf]), (32, [0xd9, 0x20]), (255, [0xd9, 0xff]),
        (256, [0xda, 0x01, 0x00]), (65535, [0xda, 0xff, 0xff]), (65536, [0xdb, 0x00, 0x01, 0x00, 0x00]),
    ])
    func idHeaderFollowsGoRules(length: Int, header: [UInt8]) throws {
        let envelope = Envelope(id: String(repeating: "x", count: length), data: [], attempt: 0)
        let bytes = envelope.encoded()
        #expect(Array(bytes[4..<4 + header.count]) == header)
        #expect(try Envelope(decoding: bytes) == envelope)
    }

    @Test(arguments: [
        (0, [0xc4, 0x00] as [UInt8]), (255, [0xc4, 0xff]), (256, [0xc5, 0x01, 0x00]),
        (65535, [0xc5, 0xff, 0xff]), (65536, [0xc6, 0x00, 0x01, 0x00, 0x00]),
    ])
    func dataHeaderFollowsGoRules(length: Int, header: [UInt8]) throws {
        let envelope = Envelope(id: "id", data: [UInt8](repeating: 7, count: length), attempt: 0)
        let bytes = envelope.encoded()
        let offset = 1 + 3 + 3 + 5
        #expect(Array(bytes[offset..<offset + header.count]) == header)
        #expect(bytes.count == offset + header.count + length + 8 + 9)
        #expect(try Envelope(decoding: bytes) == envelope)
    }

    @Test func attemptIsAlwaysInt64() {
        for attempt: Int64 in [0, 1, -1, 127, Int64.max, Int64.min] {
            let bytes = Envelope(id: "a", data: [], attempt: attempt).encoded()
            #expect(bytes[bytes.count - 9] == 0xd3)
            var value: UInt64 = 0
            for byte in bytes.suffix(8) { value = value << 8 | UInt64(byte) }
            #expect(Int64(bitPattern: value) == attempt)
        }
    }

    @Test func keysAreWrittenInGoOrder() {
        let bytes = Envelope(id: "abc", data: [9], attempt: 2).encoded()
        #expect(bytes == [0x83] + idKey + hex("a3 616263") + dataKey + hex("c4 01 09") + attemptKey
                + hex("d3 0000000000000002"))
    }

    // MARK: Round trips

    @Test func roundTripsManyValues() throws {
        let ids = [
            "", "a", exampleID, String(repeating: "é", count: 20), "日本語のジョブ", "🚀 job",
            String(repeating: "k", count: 300), String(repeating: "z", count: 70_000),
        ]
        let datas: [[UInt8]] = [
            [], [0], [0xff, 0x00, 0xc1], Array(0...255), [UInt8](repeating: 0xab, count: 256),
            [UInt8](repeating: 1, count: 65_535), [UInt8](repeating: 2, count: 65_536),
            [UInt8](repeating: 3, count: 200_000),
        ]
        let attempts: [Int64] = [0, 1, 5, -1, -32, -33, 127, 128, 255, 256, 65_536, Int64.max, Int64.min]
        for id in ids {
            for data in datas {
                for attempt in attempts {
                    let envelope = Envelope(id: id, data: data, attempt: attempt)
                    #expect(try Envelope(decoding: envelope.encoded()) == envelope)
                }
            }
        }
    }

    // MARK: Lenient reading

    @Test(arguments: [
        ("05", 5 as Int64), ("7f", 127), ("ff", -1), ("e0", -32), ("cc c8", 200), ("cd 1234", 0x1234),
        ("ce 89abcdef", 0x89ab_cdef), ("cf 0000000000000003", 3), ("cf 7fffffffffffffff", Int64.max),
        ("d0 9c", -100), ("d0 7f", 127), ("d1 8000", -32768), ("d2 80000000", -2_147_483_648),
        ("d3 8000000000000000", Int64.min), ("d3 ffffffffffffffff", -1), ("c0", 0),
    ])
    func attemptAcceptsAnyIntegerWidth(encoding: String, value: Int64) throws {
        let bytes = [0x83] + idKey + hex("a1 78") + dataKey + hex("c4 00") + attemptKey + hex(encoding)
        #expect(try Envelope(decoding: bytes) == Envelope(id: "x", data: [], attempt: value))
    }

    @Test(arguments: [
        ("a3 010203", [1, 2, 3] as [UInt8]), ("d9 03 010203", [1, 2, 3]), ("da 0003 010203", [1, 2, 3]),
        ("db 00000003 010203", [1, 2, 3]), ("c5 0003 010203", [1, 2, 3]), ("c6 00000003 010203", [1, 2, 3]),
        ("c0", []), ("a0", []),
    ])
    func dataAcceptsBinStrAndNil(encoding: String, value: [UInt8]) throws {
        let bytes = [0x83] + idKey + hex("a1 78") + dataKey + hex(encoding) + attemptKey + hex("00")
        #expect(try Envelope(decoding: bytes).data == value)
    }

    @Test(arguments: [
        ("a2 6964", "id"), ("d9 02 6964", "id"), ("da 0002 6964", "id"), ("db 00000002 6964", "id"),
        ("c4 02 6964", "id"), ("c0", ""),
    ])
    func idAcceptsAnyStringForm(encoding: String, value: String) throws {
        let bytes = [0x83] + idKey + hex(encoding) + dataKey + hex("c4 00") + attemptKey + hex("00")
        #expect(try Envelope(decoding: bytes).id == value)
    }

    @Test func keysInAnyOrder() throws {
        let entries: [[UInt8]] = [idKey + hex("a1 71"), dataKey + hex("c4 01 05"), attemptKey + hex("03")]
        let orders = [[0, 1, 2], [0, 2, 1], [1, 0, 2], [1, 2, 0], [2, 0, 1], [2, 1, 0]]
        for order in orders {
            var bytes: [UInt8] = [0x83]
            for index in order { bytes += entries[index] }
            #expect(try Envelope(decoding: bytes) == Envelope(id: "q", data: [5], attempt: 3))
        }
    }

    @Test func keysMayBeBin() throws {
        let bytes = hex("83 c4 02 4944 a1 71 c4 04 44617461 c4 00 c4 07 417474656d7074 01")
        #expect(try Envelope(decoding: bytes) == Envelope(id: "q", data: [], attempt: 1))
    }

    @Test func mapHeadersOfAnyWidth() throws {
        let body = idKey + hex("a1 71") + dataKey + hex("c4 00") + attemptKey + hex("01")
        let expected = Envelope(id: "q", data: [], attempt: 1)
        #expect(try Envelope(decoding: hex("de 0003") + body) == expected)
        #expect(try Envelope(decoding: hex("df 00000003") + body) == expected)
    }

    @Test func unknownKeysOfEveryTypeAreSkipped() throws {
        let unknownValues = [
            "c0", "c2", "c3", "00", "7f", "e0", "cc 01", "cd 0102", "ce 01020304", "cf 0102030405060708",
            "d0 ff", "d1 ffff", "d2 ffffffff", "d3 ffffffffffffffff", "ca 3fc00000", "cb 3ff8000000000000",
            "a3 616263", "d9 01 61", "da 0001 61", "db 00000001 61", "c4 01 00", "c5 0001 00",
            "c6 00000001 00", "d4 01 02", "d5 01 0203", "d6 01 02030405", "d7 01 0102030405060708",
            "d8 01 0102030405060708090a0b0c0d0e0f10", "c7 02 05 0102", "c8 0001 05 01", "c9 00000001 05 01",
            "90", "93 01 a1 61 c0", "dc 0002 c2 c3", "dd 00000001 90", "80", "82 a1 61 01 a1 62 92 01 81 a1 63 c0",
            "de 0001 01 02", "df 00000001 c0 c0", "91 91 91 81 a1 78 cb 4009000000000000",
        ]
        for value in unknownValues {
            // Unknown string key, and an unknown non-string key, both before and after known keys.
            let bytes = [0x85] + hex("a5 4578747261 \(value)") + idKey + hex("a1 71") + hex("\(value) \(value)")
                + dataKey + hex("c4 01 02") + attemptKey + hex("04")
            #expect(try Envelope(decoding: bytes) == Envelope(id: "q", data: [2], attempt: 4), "value \(value)")
        }
    }

    @Test func keysDifferingOnlyInCaseAreUnknown() throws {
        let bytes = [0x84] + hex("a2 6964 a1 7a") + idKey + hex("a1 71") + dataKey + hex("c4 00") + attemptKey
            + hex("00")
        #expect(try Envelope(decoding: bytes).id == "q")
    }

    @Test func repeatedKeyKeepsTheLastValue() throws {
        let bytes = [0x84] + idKey + hex("a1 61") + dataKey + hex("c4 00") + attemptKey + hex("00") + idKey
            + hex("a1 62")
        #expect(try Envelope(decoding: bytes).id == "b")
    }

    // MARK: Rejection

    @Test func rejectsEmptyInput() {
        expectRejected([], "truncated at byte 0")
    }

    @Test(arguments: ["90", "c0", "01", "a1 61", "c4 00", "dc 0000", "c1"])
    func rejectsNonMaps(encoding: String) {
        expectRejected(hex(encoding), "expected a map at byte 0")
    }

    @Test func rejectsEveryTruncationOfTheExample() {
        for length in 0..<example.count {
            expectRejected(Array(example.prefix(length)), "truncated at byte")
        }
    }

    @Test func rejectsTrailingBytes() {
        expectRejected(example + [0x00], "1 trailing bytes after the map at byte \(example.count)")
        expectRejected(example + example, "trailing bytes")
    }

    @Test func rejectsMissingFields() {
        expectRejected([0x80], "ID is missing")
        expectRejected([0x82] + idKey + hex("a1 71") + attemptKey + hex("00"), "envelope: Data is missing")
        expectRejected([0x82] + idKey + hex("a1 71") + dataKey + hex("c4 00"), "envelope: Attempt is missing")
        expectRejected([0x82] + dataKey + hex("c4 00") + attemptKey + hex("00"), "envelope: ID is missing")
    }

    @Test(arguments: ["01", "c2", "90", "80", "cb 3ff0000000000000", "d4 01 02"])
    func rejectsIDOfWrongType(encoding: String) {
        let bytes = [0x83] + idKey + hex(encoding) + dataKey + hex("c4 00") + attemptKey + hex("00")
        expectRejected(bytes, "ID must be a string, found")
    }

    @Test(arguments: ["01", "c3", "91 01", "81 01 01", "ca 00000000"])
    func rejectsDataOfWrongType(encoding: String) {
        let bytes = [0x83] + idKey + hex("a1 71") + dataKey + hex(encoding) + attemptKey + hex("00")
        expectRejected(bytes, "Data must be bin or str, found")
    }

    @Test(arguments: ["a1 31", "c4 01 01", "c2", "cb 3ff0000000000000", "ca 3f800000", "90", "80", "d4 00 01"])
    func rejectsAttemptOfWrongType(encoding: String) {
        let bytes = [0x83] + idKey + hex("a1 71") + dataKey + hex("c4 00") + attemptKey + hex(encoding)
        expectRejected(bytes, "Attempt must be an integer, found")
    }

    @Test func rejectsAttemptOverflow() {
        let bytes = [0x83] + idKey + hex("a1 71") + dataKey + hex("c4 00") + attemptKey + hex("cf 8000000000000000")
        expectRejected(bytes, "Attempt 9223372036854775808 at byte")
        expectRejected(bytes, "overflows Int64")
    }

    @Test func rejectsInvalidUTF8ID() {
        let bytes = [0x83] + idKey + hex("a2 c328") + dataKey + hex("c4 00") + attemptKey + hex("00")
        expectRejected(bytes, "ID at byte 4 is not valid UTF-8")
    }

    @Test func rejectsHugeLengthClaims() {
        let tail = dataKey + hex("c4 00") + attemptKey + hex("00")
        expectRejected([0x83] + idKey + hex("db ffffffff 61") + tail, "truncated at byte 9: ID needs 4294967295 bytes")
        expectRejected([0x83] + idKey + hex("a1 71") + dataKey + hex("c6 ffffffff 00"), "Data needs 4294967295 bytes")
        expectRejected(hex("df ffffffff") + idKey, "map at byte 0 claims 4294967295 entries")
        expectRejected(hex("de ffff") + idKey, "claims 65535 entries")
        expectRejected(hex("81 a1 78 dd ffffffff 01"), "claims 4294967295 elements")
        expectRejected(hex("81 a1 78 df ffffffff 01 01"), "claims 8589934590 elements")
        expectRejected(hex("81 a1 78 c9 ffffffff 01"), "ext32 needs 4294967296 bytes")
        expectRejected(hex("81 a1 78 db fffffff0 01"), "str32 (0xdb) needs 4294967280 bytes")
    }

    @Test func rejectsTheUnusedCode() {
        expectRejected(hex("81 a1 78 c1"), "invalid MessagePack code 0xc1 at byte 3")
        expectRejected(hex("81 c1 00"), "invalid MessagePack code 0xc1 at byte 1")
    }

    @Test func rejectsNestingBombs() {
        let depth = 10_000
        let arrays = [0x81] + hex("a1 78") + [UInt8](repeating: 0x91, count: depth) + [0x00]
        expectRejected(arrays, "nested deeper than 64 levels")
        // Maps whose key 0 maps to the next map, 10,000 deep.
        var maps: [UInt8] = [0x81, 0xa1, 0x78]
        for _ in 0..<depth { maps += [0x81, 0x00] }
        maps.append(0x00)
        expectRejected(maps, "nested deeper than 64 levels")
    }

    @Test func acceptsNestingUpToTheLimit() throws {
        // The unknown value sits at depth 1; 62 more arrays and a leaf stay within 64.
        let nested = [UInt8](repeating: 0x91, count: 63) + [0x00]
        let bytes = [0x84] + hex("a1 78") + nested + idKey + hex("a1 71") + dataKey + hex("c4 00") + attemptKey
            + hex("00")
        #expect(try Envelope(decoding: bytes).id == "q")
        let deeper = [0x84] + hex("a1 78") + [0x91] + nested + idKey + hex("a1 71") + dataKey + hex("c4 00")
            + attemptKey + hex("00")
        expectRejected(deeper, "nested deeper than 64 levels")
    }

    /// Random corruptions of valid messages must throw or decode, never crash or hang.
    @Test func survivesRandomCorruption() {
        var seed: UInt64 = 0x5EED
        func next() -> UInt64 {
            seed &+= 0x9E37_79B9_7F4A_7C15
            var z = seed
            z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
            z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
            return z ^ (z >> 31)
        }
        var mixed: [UInt8] = hex("85 a5 4578747261 82 a1 61 01 a1 62 92 01 81 a1 63 c0")
        mixed += idKey + hex("a1 71 c7 02 05 0102 c0")
        mixed += dataKey + hex("c4 01 02") + attemptKey + hex("04")
        let samples: [[UInt8]] = [example, Envelope(id: "", data: Array(0...255), attempt: -5).encoded(), mixed]
        for round in 0..<30_000 {
            var bytes = samples[round % samples.count]
            let edits = 1 + Int(next() % 4)
            for _ in 0..<edits {
                let position = Int(next() % UInt64(bytes.count))
                switch next() % 4 {
                case 0: bytes[position] = UInt8(truncatingIfNeeded: next())
                case 1: bytes.remove(at: position)
                case 2: bytes.insert(UInt8(truncatingIfNeeded: next()), at: position)
                default: bytes = Array(bytes.prefix(position))
                }
                if bytes.isEmpty { bytes = [0x80] }
            }
            _ = try? Envelope(decoding: bytes)
        }
    }

    @Test func errorsDescribeThemselves() {
        let error = EnvelopeError("Data is missing")
        #expect(error.description == "envelope: Data is missing")
        #expect("\(error)" == "envelope: Data is missing")
    }
}
