/// The payload of a `jobs` queue entry: Go Djinn's `*image.DownloadJob{ID, ImageID int64;
/// Source DownloadURL}`, gob-encoded as an interface value (the consumer decodes into its
/// `queue.Job` interface, so the concrete type travels by its registered name).
public struct DownloadJob: Sendable, Equatable {
    /// `image_downloads.id`
    public var id: Int64
    /// `images.id`
    public var imageID: Int64
    /// The original download URL, userinfo and password included.
    public var source: String

    public init(id: Int64, imageID: Int64, source: String) {
        self.id = id
        self.imageID = imageID
        self.source = source
    }

    /// The name Go Djinn registers the concrete type under (`gob.Register(&image.DownloadJob{})`).
    public static let registeredName = "*image.DownloadJob"

    // What Go writes before the value, constant because each enqueue uses a fresh encoder and
    // Go's type ids are process-wide (66 DownloadJob, 67 DownloadURL, 68 url.URL, 70 Userinfo).
    static let streamPrefix: [UInt8] =
        // Message 1: interface type id 8, singleton delta 0, the registered name, then the
        // definition of type 66 = struct DownloadJob{ID int; ImageID int; Source 67}.
        [
            0x4d, 0x10, 0x00, 0x12,
            0x2a, 0x69, 0x6d, 0x61, 0x67, 0x65, 0x2e, 0x44, 0x6f, 0x77, 0x6e, 0x6c, 0x6f, 0x61,
            0x64, 0x4a, 0x6f, 0x62,  // "*image.DownloadJob"
            0xff, 0x83, 0x03, 0x01, 0x01, 0x0b,
            0x44, 0x6f, 0x77, 0x6e, 0x6c, 0x6f, 0x61, 0x64, 0x4a, 0x6f, 0x62,  // "DownloadJob"
            0x01, 0xff, 0x84, 0x00, 0x01, 0x03,
            0x01, 0x02, 0x49, 0x44, 0x01, 0x04, 0x00,  // ID int
            0x01, 0x07, 0x49, 0x6d, 0x61, 0x67, 0x65, 0x49, 0x44, 0x01, 0x04, 0x00,  // ImageID int
            0x01, 0x06, 0x53, 0x6f, 0x75, 0x72, 0x63, 0x65, 0x01, 0xff, 0x86, 0x00,  // Source 67
            0x00, 0x00,
        ]
        // Message 2: type 67 = GobEncoder "DownloadURL".
        + [
            0x17, 0xff, 0x85, 0x05, 0x01, 0x01, 0x0b,
            0x44, 0x6f, 0x77, 0x6e, 0x6c, 0x6f, 0x61, 0x64, 0x55, 0x52, 0x4c,  // "DownloadURL"
            0x01, 0xff, 0x86, 0x00, 0x00, 0x00,
        ]
        // Messages 3 and 4: the url.URL types, sent because DownloadURL embeds *url.URL.
        + urlTypeDefinitions

    /// Type 68 = BinaryMarshaler url.URL (unnamed, common id 69) and type 70 = struct Userinfo{}.
    /// They open both the outer stream's tail and every nested URL stream.
    static let urlTypeDefinitions: [UInt8] = [
        0x0a, 0xff, 0x87, 0x06, 0x01, 0x02, 0xff, 0x8a, 0x00, 0x00, 0x00,
        0x14, 0xff, 0x8b, 0x03, 0x01, 0x01, 0x08,
        0x55, 0x73, 0x65, 0x72, 0x69, 0x6e, 0x66, 0x6f,  // "Userinfo"
        0x01, 0xff, 0x8c, 0x00, 0x00, 0x00,
    ]
    static let jobTypeID: Int64 = 66
    static let urlTypeID: Int64 = 68

    /// The bytes Go's `gob.NewEncoder(&buf).Encode(&job)` writes for a `queue.Job` holding this
    /// job. An empty `source` is left out, as Go leaves out a zero DownloadURL.
    public func gobEncoded() -> [UInt8] {
        // The struct value: non-zero fields as (delta, value), then 0.
        var value: [UInt8] = []
        value.reserveCapacity(source.utf8.count + Self.urlTypeDefinitions.count + 40)
        var delta: UInt64 = 1
        if id != 0 {
            GobWriter.appendUInt(delta, to: &value)
            GobWriter.appendInt(id, to: &value)
            delta = 0
        }
        delta += 1
        if imageID != 0 {
            GobWriter.appendUInt(delta, to: &value)
            GobWriter.appendInt(imageID, to: &value)
            delta = 0
        }
        delta += 1
        if !source.isEmpty {
            GobWriter.appendUInt(delta, to: &value)
            GobWriter.appendBytes(Self.encodedURLStream(source), to: &value)
        }
        value.append(0)

        // The last message: concrete type id, the value's byte count, the value.
        var body: [UInt8] = []
        body.reserveCapacity(value.count + 12)
        GobWriter.appendInt(Self.jobTypeID, to: &body)
        GobWriter.appendBytes(value, to: &body)

        var stream = Self.streamPrefix
        stream.reserveCapacity(stream.count + GobWriter.uintSize(UInt64(body.count)) + body.count)
        GobWriter.appendMessage(body, to: &stream)
        return stream
    }

    /// What DownloadURL.GobEncode returns: a fresh gob stream holding the url.URL as a
    /// BinaryMarshaler, whose bytes are the URL text.
    static func encodedURLStream(_ url: String) -> [UInt8] {
        var body: [UInt8] = []
        body.reserveCapacity(url.utf8.count + 12)
        GobWriter.appendInt(urlTypeID, to: &body)
        body.append(0)  // singleton delta: a top-level value that is not a struct
        GobWriter.appendString(url, to: &body)

        var stream = urlTypeDefinitions
        stream.reserveCapacity(stream.count + GobWriter.uintSize(UInt64(body.count)) + body.count)
        GobWriter.appendMessage(body, to: &stream)
        return stream
    }

    /// Decodes the job the way Go's decoder would: the interface name must be
    /// `*image.DownloadJob`; type ids may differ; fields are matched by name, unknown ones
    /// skipped, missing ones zero. The URL text is not parsed.
    public init(gob bytes: [UInt8]) throws {
        var decoder = GobDecoder(bytes)
        let topID = try decoder.readTypeSequence(forInterface: false)
        guard topID == GobTypeID.interface else {
            let found = decoder.wireType(topID)?.description ?? GobTypeID.name(of: topID)
            throw GobError("expected an interface value holding \(Self.registeredName), found \(found)")
        }
        try decoder.readSingletonDelta()
        let name = String(decoding: decoder.slice(try decoder.readByteRange("interface type name")), as: UTF8.self)
        guard !name.isEmpty else {
            throw GobError("nil interface value, want \(Self.registeredName)")
        }
        guard name == Self.registeredName else {
            throw GobError("interface holds unknown type \(GobError.quoted(name)), want \(Self.registeredName)")
        }
        let concreteID = try decoder.readTypeSequence(forInterface: true)
        let type = try decoder.structType(concreteID, decoding: "DownloadJob")
        try Self.checkFields(of: type, decoder: decoder)

        let length = try decoder.readCount("interface value length")
        let saved = decoder.beginDelimitedValue(length: length)
        var id: Int64 = 0
        var imageID: Int64 = 0
        var sourceStream: Range<Int>?
        var field = -1
        while let fieldType = try decoder.nextField(of: type, after: &field) {
            switch fieldType.name {
            case "ID": id = try decoder.readInt("DownloadJob.ID")
            case "ImageID": imageID = try decoder.readInt("DownloadJob.ImageID")
            case "Source": sourceStream = try decoder.readByteRange("DownloadJob.Source")
            default: try decoder.skipValue(of: fieldType.typeID, depth: 1)
            }
        }
        try decoder.endDelimitedValue(restoring: saved)
        try decoder.finish()

        var source = ""
        if let sourceStream {
            do {
                source = try Self.decodeURLStream(GobDecoder(bytes, range: sourceStream))
            } catch let error as GobError {
                throw GobError(in: "DownloadJob.Source", wrapping: error)
            }
        }
        self.init(id: id, imageID: imageID, source: source)
    }

    /// DownloadURL.GobDecode: the nested stream must hold one url.URL BinaryMarshaler value.
    private static func decodeURLStream(_ stream: GobDecoder) throws -> String {
        var decoder = stream
        let typeID = try decoder.readTypeSequence(forInterface: false)
        guard case .external(_, .binaryMarshaler)? = decoder.wireType(typeID) else {
            let found = decoder.wireType(typeID)?.description ?? GobTypeID.name(of: typeID)
            throw GobError("cannot decode \(found) into url.URL: want a BinaryMarshaler value")
        }
        try decoder.readSingletonDelta()
        let url = try decoder.readString("URL text")
        try decoder.finish()
        return url
    }

    /// Like Go, reject a struct whose known fields have other types, or that shares no field.
    private static func checkFields(of type: GobStructType, decoder: GobDecoder) throws {
        var matched = false
        for field in type.fields {
            switch field.name {
            case "ID", "ImageID":
                guard field.typeID == GobTypeID.int else {
                    throw GobError(
                        "wrong type (\(GobTypeID.name(of: field.typeID))) for received field DownloadJob.\(field.name), want int"
                    )
                }
            case "Source":
                guard case .external(_, .gobEncoder)? = decoder.wireType(field.typeID) else {
                    let found = decoder.wireType(field.typeID)?.description ?? GobTypeID.name(of: field.typeID)
                    throw GobError(
                        "wrong type (\(found)) for received field DownloadJob.Source, want a GobEncoder (DownloadURL)"
                    )
                }
            default:
                continue
            }
            matched = true
        }
        guard matched else {
            throw GobError("type mismatch: struct \(GobError.quoted(type.name)) has no field ID, ImageID or Source")
        }
    }
}
