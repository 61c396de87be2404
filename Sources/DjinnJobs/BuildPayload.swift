/// The payload of a build queue job (`builds_<driver>`): Go Djinn's `build.Payload{Host string,
/// BuildID int64}` in gob encoding.
public struct BuildPayload: Sendable, Equatable {
    /// Base URL of the submitting server, or `djinn-scheduler` for cron builds.
    public var host: String
    /// `builds.id`
    public var buildID: Int64

    public init(host: String, buildID: Int64) {
        self.host = host
        self.buildID = buildID
    }

    /// The first message of every stream Go writes for a Payload: the definition of type 65 as
    /// struct Payload{Host string; BuildID int}. Each enqueue uses a fresh encoder, so it is constant.
    static let typeDefinitionMessage: [UInt8] = [
        0x2a, 0xff, 0x81, 0x03, 0x01, 0x01, 0x07,
        0x50, 0x61, 0x79, 0x6c, 0x6f, 0x61, 0x64,  // "Payload"
        0x01, 0xff, 0x82, 0x00, 0x01, 0x02, 0x01, 0x04,
        0x48, 0x6f, 0x73, 0x74,  // "Host"
        0x01, 0x0c, 0x00, 0x01, 0x07,
        0x42, 0x75, 0x69, 0x6c, 0x64, 0x49, 0x44,  // "BuildID"
        0x01, 0x04, 0x00, 0x00, 0x00,
    ]
    static let typeID: Int64 = 65

    /// The bytes Go's `gob.NewEncoder(&buf).Encode(Payload{...})` writes.
    public func gobEncoded() -> [UInt8] {
        // The value message: type id, then the non-zero fields as (delta, value), then 0.
        var body: [UInt8] = []
        body.reserveCapacity(host.utf8.count + 24)
        GobWriter.appendInt(Self.typeID, to: &body)
        var delta: UInt64 = 1
        if !host.isEmpty {
            GobWriter.appendUInt(delta, to: &body)
            GobWriter.appendString(host, to: &body)
            delta = 0
        }
        delta += 1
        if buildID != 0 {
            GobWriter.appendUInt(delta, to: &body)
            GobWriter.appendInt(buildID, to: &body)
        }
        body.append(0)

        var stream = Self.typeDefinitionMessage
        stream.reserveCapacity(stream.count + GobWriter.uintSize(UInt64(body.count)) + body.count)
        GobWriter.appendMessage(body, to: &stream)
        return stream
    }

    /// Decodes a Payload the way Go's decoder would: any type ids, fields matched by name
    /// (unknown ones skipped, missing ones zero), field types checked.
    public init(gob bytes: [UInt8]) throws {
        var decoder = GobDecoder(bytes)
        let typeID = try decoder.readTypeSequence(forInterface: false)
        let type = try decoder.structType(typeID, decoding: "Payload")
        try Self.checkFields(of: type)

        var host = ""
        var buildID: Int64 = 0
        var field = -1
        while let fieldType = try decoder.nextField(of: type, after: &field) {
            switch fieldType.name {
            case "Host": host = try decoder.readString("Payload.Host")
            case "BuildID": buildID = try decoder.readInt("Payload.BuildID")
            default: try decoder.skipValue(of: fieldType.typeID, depth: 1)
            }
        }
        try decoder.finish()
        self.init(host: host, buildID: buildID)
    }

    /// Like Go, reject a struct whose known fields have other types, or that shares no field.
    private static func checkFields(of type: GobStructType) throws {
        var matched = false
        for field in type.fields {
            let expected: Int
            switch field.name {
            case "Host": expected = GobTypeID.string
            case "BuildID": expected = GobTypeID.int
            default: continue
            }
            guard field.typeID == expected else {
                throw GobError(
                    "wrong type (\(GobTypeID.name(of: field.typeID))) for received field Payload.\(field.name), want \(GobTypeID.name(of: expected))"
                )
            }
            matched = true
        }
        guard matched else {
            throw GobError("type mismatch: struct \(GobError.quoted(type.name)) has no field Host or BuildID")
        }
    }
}
