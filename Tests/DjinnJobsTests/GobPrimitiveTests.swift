import Testing

@testable import DjinnJobs

@Suite struct GobPrimitiveTests {
    @Test(arguments: [
        (0 as UInt64, "00"), (1, "01"), (127, "7f"), (128, "ff80"), (255, "ffff"), (256, "fe0100"),
        (65_535, "feffff"), (65_536, "fd010000"), (UInt64(UInt32.max), "fcffffffff"),
        (UInt64.max, "f8ffffffffffffffff"),
    ])
    func uintEncoding(value: UInt64, encoding: String) throws {
        #expect(Gob.uint(value) == hexBytes(encoding))
        #expect(GobWriter.uintSize(value) == hexBytes(encoding).count)
        // Read it from a message whose first item (the type id 1) is consumed first.
        var reader = GobDecoder(Gob.message([0x02] + hexBytes(encoding)))
        #expect(try reader.readTypeSequence(forInterface: false) == 1)
        #expect(try reader.readUInt("value") == value)
        try reader.finish()
    }

    @Test(arguments: [
        (0 as Int64, "00"), (1, "02"), (-1, "01"), (42, "54"), (-42, "53"), (63, "7e"), (64, "ff80"), (-64, "7f"),
        (-65, "ff81"), (65, "ff82"), (66, "ff84"), (-66, "ff83"), (Int64.max, "f8fffffffffffffffe"),
        (Int64.min, "f8ffffffffffffffff"),
    ])
    func intEncoding(value: Int64, encoding: String) throws {
        #expect(Gob.int(value) == hexBytes(encoding))
        var reader = GobDecoder(Gob.message([0x02] + hexBytes(encoding)))
        _ = try reader.readTypeSequence(forInterface: false)
        #expect(try reader.readInt("value") == value)
        try reader.finish()
    }

    @Test func intRoundTripsAcrossTheRange() throws {
        var generator = SplitMix64(state: 1)
        var values: [Int64] = [0, 1, -1, Int64.max, Int64.min, Int64.max - 1, Int64.min + 1]
        for shift in 0..<64 {
            values += [Int64(bitPattern: 1 << UInt64(shift)), -Int64(bitPattern: (1 << UInt64(shift)) >> 1)]
        }
        for _ in 0..<2000 { values.append(Int64(bitPattern: generator.next())) }
        var body: [UInt8] = [0x02]
        for value in values { GobWriter.appendInt(value, to: &body) }
        var reader = GobDecoder(Gob.message(body))
        _ = try reader.readTypeSequence(forInterface: false)
        for value in values { #expect(try reader.readInt("value") == value) }
        try reader.finish()
    }

    @Test func stringsAreLengthPrefixed() {
        #expect(Gob.string("") == [0x00])
        #expect(Gob.string("ab") == [0x02, 0x61, 0x62])
        let long = String(repeating: "x", count: 300)
        #expect(Gob.string(long) == hexBytes("fe012c") + Array(long.utf8))
    }

    @Test func errorsDescribeThemselves() {
        let error = GobError("bad thing")
        #expect(error.message == "gob: bad thing")
        #expect(error.description == "gob: bad thing")
        let wrapped = GobError(in: "DownloadJob.Source", wrapping: GobError("inner"))
        #expect(wrapped.message == "gob: DownloadJob.Source: inner")
        #expect(GobError.quoted(String(repeating: "n", count: 200)).count < 80)
    }
}
