import Testing
@testable import DjinnJobs

@Suite struct GobFixtureTests {
    @Test func payloadFixtureEncodesByteForByte() {
        let encoded = BuildPayload(host: "https://djinn-ci.com", buildID: 42).gobEncoded()
        #expect(encoded == GobFixtures.payload)
        #expect(encoded.count == 43 + 28)
    }

    @Test func payloadFixtureDecodes() throws {
        let payload = try BuildPayload(gob: GobFixtures.payload)
        #expect(payload == BuildPayload(host: "https://djinn-ci.com", buildID: 42))
        #expect(payload.gobEncoded() == GobFixtures.payload)
    }

    @Test func schedulerPayloadMatchesSpec() throws {
        let encoded = BuildPayload(host: "djinn-scheduler", buildID: 1).gobEncoded()
        #expect(Array(encoded.prefix(43)) == BuildPayload.typeDefinitionMessage)
        #expect(Array(encoded.dropFirst(43)) == GobFixtures.schedulerValueMessage)
        #expect(try BuildPayload(gob: encoded) == BuildPayload(host: "djinn-scheduler", buildID: 1))
    }

    @Test func payloadTypeDefinitionIsTheFixturesFirstMessage() {
        #expect(BuildPayload.typeDefinitionMessage == Array(GobFixtures.payload.prefix(43)))
    }

    @Test func downloadJobFixtureEncodesByteForByte() {
        let job = DownloadJob(id: 7, imageID: 3, source: "https://example.com/img.qcow2")
        #expect(job.gobEncoded() == GobFixtures.downloadJob)
    }

    @Test func downloadJobFixtureDecodes() throws {
        let job = try DownloadJob(gob: GobFixtures.downloadJob)
        #expect(job == DownloadJob(id: 7, imageID: 3, source: "https://example.com/img.qcow2"))
        #expect(job.gobEncoded() == GobFixtures.downloadJob)
    }

    /// The parser sees the fixture's type definitions as the spec describes them.
    @Test func downloadJobFixtureTypeDefinitions() throws {
        var decoder = GobDecoder(GobFixtures.downloadJob)
        #expect(try decoder.readTypeSequence(forInterface: false) == GobTypeID.interface)
        try decoder.readSingletonDelta()
        let name = decoder.slice(try decoder.readByteRange("name"))
        #expect(String(decoding: name, as: UTF8.self) == "*image.DownloadJob")
        #expect(try decoder.readTypeSequence(forInterface: true) == 66)
        #expect(
            decoder.wireType(66)
                == .structure(
                    GobStructType(
                        name: "DownloadJob",
                        fields: [
                            GobFieldType(name: "ID", typeID: 2), GobFieldType(name: "ImageID", typeID: 2),
                            GobFieldType(name: "Source", typeID: 67),
                        ])))
        #expect(decoder.wireType(67) == .external(name: "DownloadURL", kind: .gobEncoder))
        #expect(decoder.wireType(68) == .external(name: "", kind: .binaryMarshaler))
        #expect(decoder.wireType(70) == .structure(GobStructType(name: "Userinfo", fields: [])))
        #expect(try decoder.readCount("length") == 73)
    }

    @Test func payloadFixtureTypeDefinition() throws {
        var decoder = GobDecoder(GobFixtures.payload)
        #expect(try decoder.readTypeSequence(forInterface: false) == 65)
        #expect(
            decoder.wireType(65)
                == .structure(
                    GobStructType(
                        name: "Payload",
                        fields: [GobFieldType(name: "Host", typeID: 6), GobFieldType(name: "BuildID", typeID: 2)])))
    }

    @Test func urlStreamOfTheFixture() {
        let stream = DownloadJob.encodedURLStream("https://example.com/img.qcow2")
        #expect(stream.count == 66)
        let start = GobFixtures.downloadJob.count - 1 - 66
        #expect(stream == Array(GobFixtures.downloadJob[start..<start + 66]))
    }
}
