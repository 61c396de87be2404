import Testing

@testable import DjinnJobs

private func expectPayloadRejected(
    _ bytes: [UInt8], _ fragment: String, sourceLocation: SourceLocation = #_sourceLocation
) {
    do {
        let payload = try BuildPayload(gob: bytes)
        Issue.record("decoded \(payload) instead of failing with \"\(fragment)\"", sourceLocation: sourceLocation)
    } catch let error as GobError {
        #expect(error.message.hasPrefix("gob: "), sourceLocation: sourceLocation)
        #expect(error.message.contains(fragment), "\(error.message)", sourceLocation: sourceLocation)
    } catch {
        Issue.record("unexpected error type \(error)", sourceLocation: sourceLocation)
    }
}

private func expectJobRejected(
    _ bytes: [UInt8], _ fragment: String, sourceLocation: SourceLocation = #_sourceLocation
) {
    do {
        let job = try DownloadJob(gob: bytes)
        Issue.record("decoded \(job) instead of failing with \"\(fragment)\"", sourceLocation: sourceLocation)
    } catch let error as GobError {
        #expect(error.message.hasPrefix("gob: "), sourceLocation: sourceLocation)
        #expect(error.message.contains(fragment), "\(error.message)", sourceLocation: sourceLocation)
    } catch {
        Issue.record("unexpected error type \(error)", sourceLocation: sourceLocation)
    }
}

/// The fixture's Payload definition message.
private let payloadDefinition = BuildPayload.typeDefinitionMessage

/// A Payload stream whose value message has this body after the type id 65.
private func payloadValue(_ fields: [UInt8]) -> [UInt8] {
    payloadDefinition + Gob.message(Gob.int(65) + fields)
}

@Suite struct GobMalformedInputTests {
    // MARK: Framing

    @Test func rejectsEmptyInput() {
        expectPayloadRejected([], "unexpected end of stream at byte 0")
        expectJobRejected([], "unexpected end of stream at byte 0")
    }

    @Test func rejectsEveryTruncationOfTheFixtures() {
        for length in 0..<GobFixtures.payload.count {
            expectPayloadRejected(Array(GobFixtures.payload.prefix(length)), "")
        }
        for length in 0..<GobFixtures.downloadJob.count {
            expectJobRejected(Array(GobFixtures.downloadJob.prefix(length)), "")
        }
        // Some representative messages.
        expectPayloadRejected(Array(GobFixtures.payload.prefix(43)), "unexpected end of stream at byte 43")
        expectPayloadRejected(Array(GobFixtures.payload.prefix(50)), "message at byte 43 claims 27 bytes but only 6 remain")
        expectPayloadRejected(Array(GobFixtures.payload.prefix(20)), "message at byte 0 claims 42 bytes but only 19 remain")
    }

    @Test func rejectsTrailingBytes() {
        expectPayloadRejected(GobFixtures.payload + [0x00], "1 unexpected bytes after the value at byte 71")
        expectPayloadRejected(GobFixtures.payload + GobFixtures.schedulerValueMessage, "unexpected bytes after the value")
        expectJobRejected(GobFixtures.downloadJob + [0x01, 0x00], "2 unexpected bytes after the value at byte 211")
    }

    @Test func rejectsEmptyMessages() {
        expectPayloadRejected([0x00], "empty message at byte 0")
        expectPayloadRejected(payloadDefinition + [0x00], "empty message at byte 43")
    }

    @Test func rejectsOverlongUnsignedIntegers() {
        expectPayloadRejected([0xf7] + [UInt8](repeating: 0, count: 9), "claims 9 bytes, at most 8")
        expectPayloadRejected([0x80], "claims 128 bytes, at most 8")
        expectPayloadRejected(payloadValue([0x01, 0xf0]), "claims 16 bytes, at most 8")
        // A full 8-byte length is fine as a number but far more than the input holds.
        expectPayloadRejected(hexBytes("f8 ffffffffffffffff 00"), "claims 18446744073709551615 bytes but only 1 remain")
    }

    // MARK: Type definitions

    @Test func rejectsTypeIDsOutOfRange() {
        expectPayloadRejected(Gob.message(Gob.int(Int64.min)), "type id -9223372036854775808 at byte 1 is out of range")
        expectPayloadRejected(Gob.message(Gob.int(1 << 31)), "is out of range")
        expectPayloadRejected(Gob.message([0x00]), "invalid type id 0 at byte 1")
    }

    @Test func rejectsDuplicateAndReservedDefinitions() {
        expectPayloadRejected(payloadDefinition + payloadDefinition, "duplicate definition of type 65 at byte 44")
        expectPayloadRejected(
            Gob.message(Gob.structDefinition(id: 10, name: "X", fields: [])), "definition of reserved type id 10")
        expectPayloadRejected(
            Gob.message(Gob.structDefinition(id: 63, name: "X", fields: [])), "definition of reserved type id 63")
    }

    @Test func rejectsMalformedWireTypes() {
        expectPayloadRejected(Gob.message(Gob.int(-65) + [0x00]), "definition of type 65 is empty")
        expectPayloadRejected(
            Gob.message(Gob.int(-65) + [0x02, 0x01, 0x02, 0x0c, 0x00, 0x00, 0x01, 0x00, 0x00]),
            "definition of type 65 sets more than one kind")
        expectPayloadRejected(Gob.message(Gob.int(-65) + [0x08]), "field number out of range at byte 3 in definition of type 65")
        expectPayloadRejected(Gob.message(Gob.int(-65) + [0x03, 0x03]), "field number out of range at byte 4 in structType")
        expectPayloadRejected(Gob.message(Gob.int(-65) + [0x03, 0x01, 0x03]), "in CommonType")
        expectPayloadRejected(Gob.message(Gob.int(-65) + [0x03, 0x02, 0x01, 0x03]), "in fieldType")
        expectPayloadRejected(Gob.message(Gob.int(-65) + [0x05, 0x02]), "in gobEncoderType")
        expectPayloadRejected(Gob.message(Gob.int(-65) + [0x01, 0x04]), "in arrayType")
        expectPayloadRejected(Gob.message(Gob.int(-65) + [0x04, 0x04]), "in mapType")
        expectPayloadRejected(Gob.message(Gob.int(-65) + [0x02, 0x03]), "in sliceType")
        expectPayloadRejected(
            Gob.message(Gob.arrayDefinition(id: 65, element: 2, length: -1)), "has invalid length -1")
        // A field count larger than the bytes left.
        expectPayloadRejected(
            Gob.message(Gob.int(-65) + [0x03, 0x02] + Gob.uint(1 << 40)),
            "field count of struct \"\" at byte 5 claims 1099511627776 but only 0 bytes remain")
        // A CommonType.Id beyond int32.
        expectPayloadRejected(
            Gob.message(Gob.int(-65) + [0x03, 0x01, 0x02] + Gob.int(1 << 40) + [0x00, 0x00, 0x00]),
            "CommonType.Id 1099511627776 at byte 6 is out of range")
        // A truncated definition inside its message.
        expectPayloadRejected(Gob.message(Gob.int(-65) + [0x03, 0x01, 0x01, 0x05, 0x41]), "length of type name at byte 6 claims 5 but only 1 bytes remain")
    }

    @Test func rejectsExtraBytesAfterATopLevelDefinition() {
        let definition = Gob.structDefinition(id: 65, name: "Payload", fields: [("Host", 6)])
        expectPayloadRejected(Gob.message(definition + [0x07]), "1 unexpected bytes after the definition of type 65")
    }

    // MARK: Values

    @Test func rejectsValuesOfTheWrongType() {
        expectPayloadRejected(Gob.message(Gob.int(2) + [0x00, 0x54]), "cannot decode int into Payload: want a struct")
        expectPayloadRejected(
            Gob.message(Gob.int(8) + [0x00, 0x00]), "cannot decode interface into Payload: want a struct")
        expectPayloadRejected(Gob.message(Gob.int(99) + [0x00]), "value of undefined type 99 for Payload")
        expectPayloadRejected(Gob.message(Gob.int(16) + [0x00]), "cannot decode type 16 into Payload")
        expectPayloadRejected(
            Gob.message(Gob.sliceDefinition(id: 65, element: 6)) + Gob.message(Gob.int(65) + [0x00]),
            "cannot decode slice \"\" (type 65) into Payload: want a struct")
    }

    @Test func rejectsFieldsOfTheWrongType() {
        let hostAsInt =
            Gob.message(Gob.structDefinition(id: 65, name: "Payload", fields: [("Host", 2), ("BuildID", 2)]))
            + Gob.message(Gob.int(65) + [0x00])
        expectPayloadRejected(hostAsInt, "wrong type (int) for received field Payload.Host, want string")
        let buildIDAsString =
            Gob.message(Gob.structDefinition(id: 65, name: "Payload", fields: [("BuildID", 6)]))
            + Gob.message(Gob.int(65) + [0x00])
        expectPayloadRejected(buildIDAsString, "wrong type (string) for received field Payload.BuildID, want int")
        let buildIDAsUint =
            Gob.message(Gob.structDefinition(id: 65, name: "Payload", fields: [("BuildID", 3)]))
            + Gob.message(Gob.int(65) + [0x00])
        expectPayloadRejected(buildIDAsUint, "wrong type (uint)")
        let noKnownFields =
            Gob.message(Gob.structDefinition(id: 65, name: "Other", fields: [("X", 2)]))
            + Gob.message(Gob.int(65) + [0x00])
        expectPayloadRejected(noKnownFields, "type mismatch: struct \"Other\" has no field Host or BuildID")
    }

    @Test func rejectsBadFieldNumbersInValues() {
        expectPayloadRejected(payloadValue([0x03, 0x00]), "field number out of range at byte 46 in struct \"Payload\"")
        expectPayloadRejected(payloadValue([0x02, 0x02, 0x01, 0x02]), "delta 1 after field 1, 2 fields")
        expectPayloadRejected(payloadValue(Gob.uint(UInt64.max)), "field number out of range")
    }

    @Test func rejectsMissingStructTerminator() {
        expectPayloadRejected(payloadValue([0x01, 0x01, 0x61]), "truncated at byte 49 reading field delta in struct \"Payload\"")
    }

    @Test func rejectsInvalidUTF8Host() {
        expectPayloadRejected(payloadValue([0x01, 0x02, 0xc3, 0x28, 0x00]), "Payload.Host at byte 47 is not valid UTF-8")
    }

    @Test func rejectsHugeLengthClaims() {
        expectPayloadRejected(
            payloadValue([0x01] + Gob.uint(UInt64.max) + [0x00]),
            "length of Payload.Host at byte 47 claims 18446744073709551615 but only 1 bytes remain")
        // Unknown slice/map/string fields with huge counts.
        let definitions =
            Gob.message(Gob.structDefinition(id: 65, name: "P", fields: [("Host", 6), ("S", 66), ("M", 67), ("T", 6)]))
            + Gob.message(Gob.sliceDefinition(id: 66, element: 6))
            + Gob.message(Gob.mapDefinition(id: 67, key: 6, element: 6))
        expectPayloadRejected(
            definitions + Gob.message(Gob.int(65) + [0x02] + Gob.uint(1 << 62) + [0x00]),
            "slice length at byte")
        expectPayloadRejected(
            definitions + Gob.message(Gob.int(65) + [0x03] + Gob.uint(2) + [0x00, 0x00, 0x00]),
            "map length at byte 77 claims 2 but only 3 bytes remain")
        expectPayloadRejected(
            definitions + Gob.message(Gob.int(65) + [0x04] + Gob.uint(1 << 33) + [0x00]),
            "length of string at byte 77 claims 8589934592")
    }

    @Test func rejectsArrayLengthMismatch() {
        let stream =
            Gob.message(Gob.structDefinition(id: 65, name: "P", fields: [("Host", 6), ("A", 66)]))
            + Gob.message(Gob.arrayDefinition(id: 66, element: 2, length: 2))
            + Gob.message(Gob.int(65) + [0x02] + Gob.uint(3) + [0x02, 0x02, 0x02, 0x00])
        expectPayloadRejected(stream, "array length 3 at byte 51 does not match its type's length 2")
    }

    @Test func rejectsUnknownFieldOfAnUndefinedType() {
        let stream =
            Gob.message(Gob.structDefinition(id: 65, name: "P", fields: [("Host", 6), ("X", 77)]))
            + Gob.message(Gob.int(65) + [0x02, 0x00, 0x00])
        expectPayloadRejected(stream, "value of undefined type 77 at byte 3")
    }

    // MARK: Recursion bombs

    @Test func rejectsSelfNestingStructs() throws {
        // struct Node{Host string; Next Node}: every value level costs one byte.
        let definition = Gob.message(Gob.structDefinition(id: 65, name: "Node", fields: [("Host", 6), ("Next", 65)]))
        let bomb = definition + Gob.message(Gob.int(65) + [UInt8](repeating: 0x02, count: 100_000))
        expectPayloadRejected(bomb, "values nested deeper than 64 levels")
        // Within the limit it decodes.
        let shallow = definition + Gob.message(
            Gob.int(65) + [UInt8](repeating: 0x02, count: 10) + [UInt8](repeating: 0x00, count: 11))
        #expect(try BuildPayload(gob: shallow) == BuildPayload(host: "", buildID: 0))
    }

    @Test func rejectsSelfNestingSlicesArraysAndMaps() {
        let base = Gob.message(Gob.structDefinition(id: 65, name: "P", fields: [("Host", 6), ("X", 66)]))
        let slices = base + Gob.message(Gob.sliceDefinition(id: 66, element: 66))
            + Gob.message(Gob.int(65) + [0x02] + [UInt8](repeating: 0x01, count: 5000) + [0x00, 0x00])
        expectPayloadRejected(slices, "values nested deeper than 64 levels")
        let arrays = base + Gob.message(Gob.arrayDefinition(id: 66, element: 66, length: 1))
            + Gob.message(Gob.int(65) + [0x02] + [UInt8](repeating: 0x01, count: 5000) + [0x00, 0x00])
        expectPayloadRejected(arrays, "values nested deeper than 64 levels")
        let maps = base + Gob.message(Gob.mapDefinition(id: 66, key: 2, element: 66))
            + Gob.message(Gob.int(65) + [0x02] + [UInt8](repeating: 0x01, count: 5000) + [0x00, 0x00])
        expectPayloadRejected(maps, "values nested deeper than 64 levels")
    }

    @Test func manyElementsOfEmptyStructsAreBoundedByInput() {
        // A slice claiming more empty structs than bytes remain fails before looping.
        let stream =
            Gob.message(Gob.structDefinition(id: 65, name: "P", fields: [("Host", 6), ("X", 66)]))
            + Gob.message(Gob.sliceDefinition(id: 66, element: 67))
            + Gob.message(Gob.structDefinition(id: 67, name: "E", fields: []))
            + Gob.message(Gob.int(65) + [0x02] + Gob.uint(1_000_000_000) + [UInt8](repeating: 0, count: 10))
        expectPayloadRejected(stream, "slice length at byte 64 claims 1000000000 but only 10 bytes remain")
    }

    // MARK: DownloadJob specifics

    @Test func rejectsNonInterfaceTopLevelValue() {
        expectJobRejected(
            GobFixtures.payload, "expected an interface value holding *image.DownloadJob, found struct \"Payload\"")
        expectJobRejected(Gob.message(Gob.int(6) + [0x00, 0x00]), "found string")
    }

    @Test func rejectsOtherRegisteredNames() {
        let stream = GobAlternativeEncodingTests.downloadJobStream(
            id: 1, imageID: 2, source: "s", name: "*build.Payload")
        expectJobRejected(stream, "interface holds unknown type \"*build.Payload\", want *image.DownloadJob")
        let unpointered = GobAlternativeEncodingTests.downloadJobStream(
            id: 1, imageID: 2, source: "s", name: "image.DownloadJob")
        expectJobRejected(unpointered, "unknown type \"image.DownloadJob\"")
    }

    @Test func rejectsNilInterface() {
        expectJobRejected(Gob.message(Gob.int(8) + [0x00, 0x00]), "nil interface value, want *image.DownloadJob")
    }

    @Test func rejectsNonZeroSingletonDelta() {
        var bytes = GobFixtures.downloadJob
        bytes[2] = 0x01
        expectJobRejected(bytes, "non-zero delta 1 for a singleton value")
    }

    @Test func rejectsWrongFieldTypes() {
        let sourceAsString =
            Gob.message(
                Gob.int(8) + [0x00] + Gob.string(DownloadJob.registeredName)
                    + Gob.structDefinition(id: 66, name: "DownloadJob", fields: [("ID", 2), ("Source", 6)]))
            + Gob.message(Gob.int(66) + Gob.bytes([0x00]))
        expectJobRejected(sourceAsString, "wrong type (string) for received field DownloadJob.Source, want a GobEncoder")
        let sourceAsBinaryMarshaler =
            Gob.message(
                Gob.int(8) + [0x00] + Gob.string(DownloadJob.registeredName)
                    + Gob.structDefinition(id: 66, name: "DownloadJob", fields: [("Source", 67)]))
            + Gob.message(Gob.externalDefinition(id: 67, name: "U", kind: 6))
            + Gob.message(Gob.int(66) + Gob.bytes([0x00]))
        expectJobRejected(sourceAsBinaryMarshaler, "wrong type (BinaryMarshaler \"U\")")
        let idAsString =
            Gob.message(
                Gob.int(8) + [0x00] + Gob.string(DownloadJob.registeredName)
                    + Gob.structDefinition(id: 66, name: "DownloadJob", fields: [("ID", 6)]))
            + Gob.message(Gob.int(66) + Gob.bytes([0x00]))
        expectJobRejected(idAsString, "wrong type (string) for received field DownloadJob.ID, want int")
        let nothingKnown =
            Gob.message(
                Gob.int(8) + [0x00] + Gob.string(DownloadJob.registeredName)
                    + Gob.structDefinition(id: 66, name: "Job", fields: [("Other", 6)]))
            + Gob.message(Gob.int(66) + Gob.bytes([0x00]))
        expectJobRejected(nothingKnown, "type mismatch: struct \"Job\" has no field ID, ImageID or Source")
        let notAStruct =
            Gob.message(Gob.int(8) + [0x00] + Gob.string(DownloadJob.registeredName))
            + Gob.message(Gob.int(2) + Gob.bytes([0x00, 0x02]))
        expectJobRejected(notAStruct, "cannot decode int into DownloadJob: want a struct")
    }

    @Test func rejectsInterfaceValueLengthMismatch() {
        var short = GobFixtures.downloadJob
        short[137] = 0x48  // value byte count 73 → 72: the terminator falls outside
        expectJobRejected(short, "truncated at byte 210 reading field delta in struct \"DownloadJob\"")
        var long = GobFixtures.downloadJob
        long[137] = 0x4a
        expectJobRejected(long, "interface value length at byte 137 claims 74 but only 73 bytes remain")
        // A count covering one byte more than the value reads.
        let value = hexBytes("01 0e 01 06 00")
        let padded = Array(DownloadJob.streamPrefix) + Gob.message(Gob.int(66) + Gob.uint(6) + value + [0x00])
        expectJobRejected(padded, "1 unread bytes at the end of an interface value")
    }

    @Test func rejectsTruncatedTypeSequenceInsideTheInterfaceValue() {
        // The concrete type id is missing: the stream ends after the definitions.
        expectJobRejected(Array(DownloadJob.streamPrefix), "unexpected end of stream at byte 134")
    }

    private func jobStream(sourceStream: [UInt8]) -> [UInt8] {
        let value = [0x01, 0x0e, 0x01, 0x06, 0x01] + Gob.bytes(sourceStream) + [0x00]
        return Array(DownloadJob.streamPrefix) + Gob.message(Gob.int(66) + Gob.bytes(value))
    }

    @Test func rejectsMalformedNestedURLStreams() throws {
        let good = DownloadJob.encodedURLStream("https://example.com/img.qcow2")
        #expect(try DownloadJob(gob: jobStream(sourceStream: good)).source == "https://example.com/img.qcow2")
        for length in 0..<good.count {
            expectJobRejected(jobStream(sourceStream: Array(good.prefix(length))), "gob: DownloadJob.Source: ")
        }
        expectJobRejected(jobStream(sourceStream: good + [0x00]), "DownloadJob.Source: 1 unexpected bytes after the value")
        let gobEncoderURL =
            Gob.message(Gob.externalDefinition(id: 68, name: "", kind: 5))
            + Gob.message(Gob.int(68) + [0x00] + Gob.string("u"))
        expectJobRejected(
            jobStream(sourceStream: gobEncoderURL),
            "DownloadJob.Source: cannot decode GobEncoder \"\" into url.URL: want a BinaryMarshaler value")
        let stringURL = Gob.message(Gob.int(6) + [0x00] + Gob.string("u"))
        expectJobRejected(jobStream(sourceStream: stringURL), "cannot decode string into url.URL")
        let invalidUTF8 =
            DownloadJob.urlTypeDefinitions + Gob.message(Gob.int(68) + [0x00] + Gob.bytes([0x68, 0xff]))
        expectJobRejected(jobStream(sourceStream: invalidUTF8), "DownloadJob.Source: URL text at byte 36 is not valid UTF-8")
        let nonZeroDelta = DownloadJob.urlTypeDefinitions + Gob.message(Gob.int(68) + [0x01] + Gob.string("u"))
        expectJobRejected(jobStream(sourceStream: nonZeroDelta), "non-zero delta")
    }

    // MARK: Fuzzing

    /// Random corruptions of valid streams must throw a GobError or decode, never crash or hang.
    @Test func survivesRandomCorruption() {
        var generator = SplitMix64(state: 0xD1_771)
        let samples: [[UInt8]] = [
            GobFixtures.payload, GobFixtures.downloadJob,
            GobAlternativeEncodingTests.richPayloadStream(host: "h", buildID: 5),
            GobAlternativeEncodingTests.downloadJobStream(id: 1, imageID: 2, source: "sftp://a:b@c:1/d"),
        ]
        for round in 0..<40_000 {
            var bytes = samples[round % samples.count]
            let edits = 1 + Int(generator.next() % 4)
            for _ in 0..<edits {
                let position = Int(generator.next() % UInt64(bytes.count))
                switch generator.next() % 5 {
                case 0: bytes[position] = UInt8(truncatingIfNeeded: generator.next())
                case 1: bytes.remove(at: position)
                case 2: bytes.insert(UInt8(truncatingIfNeeded: generator.next()), at: position)
                case 3: bytes[position] = [0x00, 0x01, 0x7f, 0x80, 0xf8, 0xff][Int(generator.next() % 6)]
                default: bytes = Array(bytes.prefix(position))
                }
                if bytes.isEmpty { bytes = [0x00] }
            }
            for decode in [{ _ = try BuildPayload(gob: bytes) }, { _ = try DownloadJob(gob: bytes) }] {
                do {
                    try decode()
                } catch is GobError {
                } catch {
                    Issue.record("non-GobError \(error)")
                }
            }
        }
    }
}
