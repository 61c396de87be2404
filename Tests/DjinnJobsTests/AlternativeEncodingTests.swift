import Testing

@testable import DjinnJobs

/// Streams a Go encoder could have written differently from the fixtures (other type ids,
/// other field order, extra fields and types), written by hand.
@Suite struct GobAlternativeEncodingTests {
    /// A Payload struct with id 106, BuildID before Host, and unknown fields of every kind.
    static func richPayloadStream(host: String, buildID: Int64) -> [UInt8] {
        var stream: [UInt8] = []
        // An unused type first, then the others in no particular order.
        stream += Gob.message(Gob.structDefinition(id: 120, name: "Unused", fields: [("X", 2)]))
        stream += Gob.message(
            Gob.structDefinition(
                id: 106, name: "BuildPayloadV2",
                fields: [
                    ("Extra", 6), ("BuildID", 2), ("List", 101), ("Map", 102), ("Inner", 103), ("Array", 104),
                    ("Enc", 105), ("Flag", 1), ("F", 4), ("C", 7), ("U", 3), ("B", 5), ("I", 8), ("I2", 8),
                    ("Host", 6), ("Later", 2),
                ]))
        stream += Gob.message(Gob.sliceDefinition(id: 101, element: 6))
        stream += Gob.message(Gob.mapDefinition(id: 102, key: 6, element: 2))
        stream += Gob.message(Gob.structDefinition(id: 103, name: "Inner", fields: [("A", 2), ("B", 101)]))
        stream += Gob.message(Gob.arrayDefinition(id: 104, element: 2, length: 2))
        stream += Gob.message(Gob.externalDefinition(id: 105, name: "Thing", kind: 5))

        var value = Gob.int(106)
        value += [0x01] + Gob.string("extra text")  // Extra (field 0)
        value += [0x01] + Gob.int(buildID)  // BuildID (1)
        value += [0x01] + Gob.uint(2) + Gob.string("a") + Gob.string("bc")  // List (2)
        value += [0x01] + Gob.uint(1) + Gob.string("k") + Gob.int(-9)  // Map (3)
        value += [0x01] + [0x01] + Gob.int(5) + [0x01] + Gob.uint(1) + Gob.string("z") + [0x00]  // Inner (4)
        value += [0x01] + Gob.uint(2) + Gob.int(1) + Gob.int(2)  // Array (5)
        value += [0x01] + Gob.bytes([9, 9, 9])  // Enc (6)
        value += [0x01] + Gob.uint(1)  // Flag (7)
        value += [0x01] + hexBytes("fe f03f")  // F = 1.0 (8)
        value += [0x01] + hexBytes("fe f03f") + hexBytes("00")  // C (9)
        value += [0x01] + Gob.uint(300)  // U (10)
        value += [0x01] + Gob.bytes([1, 2])  // B (11)
        value += [0x01] + [0x00]  // I = nil (12)
        // I2 (13): name "x", concrete type int, byte count, singleton delta 0 and the int.
        value += [0x01] + Gob.string("x") + Gob.int(2) + Gob.uint(2) + [0x00] + Gob.int(42)
        if !host.isEmpty { value += [0x01] + Gob.string(host) }  // Host (14)
        value += [0x00]  // Later (15) left out
        stream += Gob.message(value)
        return stream
    }

    @Test func payloadWithOtherTypeIDsFieldOrderAndExtraFieldsDecodes() throws {
        let stream = Self.richPayloadStream(host: "https://ci.example", buildID: -77)
        #expect(try BuildPayload(gob: stream) == BuildPayload(host: "https://ci.example", buildID: -77))
        let noHost = Self.richPayloadStream(host: "", buildID: 3)
        #expect(try BuildPayload(gob: noHost) == BuildPayload(host: "", buildID: 3))
    }

    @Test func minimalPayloadWithAnotherTypeIDDecodes() throws {
        // Type 300, fields Host and BuildID swapped, an empty type name.
        let stream =
            Gob.message(Gob.structDefinition(id: 300, name: "", fields: [("BuildID", 2), ("Host", 6)]))
            + Gob.message(Gob.int(300) + [0x01] + Gob.int(9) + [0x01] + Gob.string("h") + [0x00])
        #expect(try BuildPayload(gob: stream) == BuildPayload(host: "h", buildID: 9))
    }

    @Test func payloadWithOnlyOneKnownFieldDecodes() throws {
        let stream =
            Gob.message(Gob.structDefinition(id: 65, name: "Payload", fields: [("BuildID", 2)]))
            + Gob.message(Gob.int(65) + [0x01] + Gob.int(4) + [0x00])
        #expect(try BuildPayload(gob: stream) == BuildPayload(host: "", buildID: 4))
    }

    /// DownloadJob with other ids (80 job, 81 DownloadURL, 95 URL), fields reordered, an extra one.
    static func downloadJobStream(
        id: Int64, imageID: Int64, source: String, name: String = DownloadJob.registeredName,
        countAfterDefinition: Bool = false, splitName: Bool = false
    ) -> [UInt8] {
        var nested = Gob.message(Gob.externalDefinition(id: 95, name: "URL", kind: 6))
        nested += Gob.message(Gob.int(95) + [0x00] + Gob.string(source))

        let jobDefinition = Gob.structDefinition(
            id: 80, name: "DownloadJob", fields: [("Source", 81), ("Junk", 6), ("ImageID", 2), ("ID", 2)])
        var stream: [UInt8] = []
        let head = Gob.int(8) + [0x00] + Gob.string(name)
        if splitName {
            stream += Gob.message(head) + Gob.message(jobDefinition)
        } else {
            stream += Gob.message(head + jobDefinition + (countAfterDefinition ? [0x07] : []))
        }
        stream += Gob.message(Gob.externalDefinition(id: 81, name: "DownloadURL", kind: 5))

        var value = [0x01] + Gob.bytes(nested)  // Source
        value += [0x01] + Gob.string("ignored")  // Junk
        value += [0x01] + Gob.int(imageID) + [0x01] + Gob.int(id) + [0x00]
        stream += Gob.message(Gob.int(80) + Gob.bytes(value))
        return stream
    }

    @Test func downloadJobWithOtherTypeIDsDecodes() throws {
        let stream = Self.downloadJobStream(id: 11, imageID: 22, source: "sftp://u:p@h:22/x.qcow2")
        #expect(try DownloadJob(gob: stream) == DownloadJob(id: 11, imageID: 22, source: "sftp://u:p@h:22/x.qcow2"))
    }

    /// Go's decoder skips a byte count left after a definition inside an interface value.
    @Test func downloadJobWithCountAfterDefinitionDecodes() throws {
        let stream = Self.downloadJobStream(id: 1, imageID: 2, source: "s", countAfterDefinition: true)
        #expect(try DownloadJob(gob: stream) == DownloadJob(id: 1, imageID: 2, source: "s"))
    }

    /// The interface name and the definitions may arrive in separate messages.
    @Test func downloadJobWithDefinitionsInTheirOwnMessagesDecodes() throws {
        let stream = Self.downloadJobStream(id: 1, imageID: 2, source: "s", splitName: true)
        #expect(try DownloadJob(gob: stream) == DownloadJob(id: 1, imageID: 2, source: "s"))
    }

    @Test func downloadJobWithoutSourceDecodesToEmptySource() throws {
        var stream = Array(DownloadJob.streamPrefix)
        stream += Gob.message(Gob.int(66) + Gob.bytes([0x01, 0x02, 0x01, 0x04, 0x00]))
        #expect(try DownloadJob(gob: stream) == DownloadJob(id: 1, imageID: 2, source: ""))
    }
}
