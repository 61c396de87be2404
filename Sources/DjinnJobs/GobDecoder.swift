/// Reads one gob stream held in memory (Go's encoding/gob wire format).
///
/// A stream is a sequence of messages (gob-uint length, then body). Before a value come the
/// definitions of the types it uses; the decoder keeps them by id so that values of any
/// defined type can be read or skipped. Every length or count taken from the input is checked
/// against the bytes that remain before it is used, so no claim can cause a large allocation
/// or a long loop, and nesting is bounded by `maxDepth`.
struct GobDecoder {
    /// Deepest nesting of values (and so of recursion) accepted while skipping.
    static let maxDepth = 64

    private let bytes: [UInt8]
    /// Where the stream starts in `bytes` (error offsets are relative to it).
    private let base: Int
    private let streamEnd: Int
    private(set) var position: Int
    /// End of the message being read.
    private var messageEnd: Int
    /// End of what may be read now: the message end, or the end of a delimited value in it.
    private var limit: Int
    private var types: [Int: GobWireType] = [:]

    /// A decoder for `bytes[range]` (the whole array by default); sharing `bytes` copies nothing.
    init(_ bytes: [UInt8], range: Range<Int>? = nil) {
        let range = range ?? bytes.startIndex..<bytes.endIndex
        self.bytes = bytes
        base = range.lowerBound
        streamEnd = range.upperBound
        position = range.lowerBound
        messageEnd = range.lowerBound
        limit = range.lowerBound
    }

    /// Offset of the read position from the start of the stream, for error messages.
    var offset: Int { position - base }

    func wireType(_ id: Int) -> GobWireType? { types[id] }

    // MARK: Primitives

    private func truncated(_ what: String) -> GobError {
        GobError("truncated at byte \(offset) reading \(what)")
    }

    mutating func readUInt(_ what: @autoclosure () -> String) throws -> UInt64 {
        try readUInt(what(), bound: limit)
    }

    private mutating func readUInt(_ what: @autoclosure () -> String, bound: Int) throws -> UInt64 {
        guard position < bound else { throw truncated(what()) }
        let first = bytes[position]
        if first < 0x80 {
            position += 1
            return UInt64(first)
        }
        // The first byte is the negated count of big-endian bytes that follow.
        let count = 256 - Int(first)
        guard count <= 8 else {
            throw GobError("invalid unsigned integer at byte \(offset) reading \(what()): claims \(count) bytes, at most 8")
        }
        guard bound - position - 1 >= count else { throw truncated(what()) }
        var value: UInt64 = 0
        for index in position + 1...position + count {
            value = value << 8 | UInt64(bytes[index])
        }
        position += 1 + count
        return value
    }

    mutating func readInt(_ what: @autoclosure () -> String) throws -> Int64 {
        let folded = try readUInt(what())
        let magnitude = Int64(bitPattern: folded >> 1)
        return folded & 1 == 0 ? magnitude : ~magnitude
    }

    /// A type id: a gob-int that Go keeps in an int32.
    mutating func readTypeID(_ what: @autoclosure () -> String) throws -> Int {
        let start = offset
        let value = try readInt(what())
        guard let id = Int32(exactly: value) else {
            throw GobError("\(what()) \(value) at byte \(start) is out of range")
        }
        return Int(id)
    }

    /// A count of things that each take at least `unitSize` bytes, checked against what remains.
    mutating func readCount(_ what: @autoclosure () -> String, unitSize: Int = 1) throws -> Int {
        let start = offset
        let claimed = try readUInt(what())
        let remaining = limit - position
        guard claimed <= UInt64(remaining / unitSize) else {
            throw GobError("\(what()) at byte \(start) claims \(claimed) but only \(remaining) bytes remain")
        }
        return Int(claimed)
    }

    /// A byte string (gob-uint length, bytes): returns where its bytes are, and steps over them.
    mutating func readByteRange(_ what: @autoclosure () -> String) throws -> Range<Int> {
        let count = try readCount("length of \(what())")
        let range = position..<position + count
        position += count
        return range
    }

    func slice(_ range: Range<Int>) -> ArraySlice<UInt8> { bytes[range] }

    /// A string that must be valid UTF-8 (the values we hand out must round-trip exactly).
    mutating func readString(_ what: @autoclosure () -> String) throws -> String {
        let start = offset
        let range = try readByteRange(what())
        guard let string = String(validating: bytes[range], as: UTF8.self) else {
            throw GobError("\(what()) at byte \(start) is not valid UTF-8")
        }
        return string
    }

    /// A name from a type definition; only compared and printed, so invalid UTF-8 is repaired.
    private mutating func readName(_ what: @autoclosure () -> String) throws -> String {
        let range = try readByteRange(what())
        return String(decoding: bytes[range], as: UTF8.self)
    }

    // MARK: Messages and type definitions

    /// Moves to the next message; only valid once the current one is used up.
    private mutating func nextMessage() throws {
        guard position < streamEnd else {
            throw GobError("unexpected end of stream at byte \(offset): expected another message")
        }
        let start = offset
        let length = try readUInt("message length", bound: streamEnd)
        guard length > 0 else { throw GobError("empty message at byte \(start)") }
        let remaining = streamEnd - position
        guard length <= UInt64(remaining) else {
            throw GobError("message at byte \(start) claims \(length) bytes but only \(remaining) remain")
        }
        messageEnd = position + Int(length)
        limit = messageEnd
    }

    /// Reads type definitions until a type id ≥ 0 announces a value, and returns that id
    /// (Go's decodeTypeSequence). A new message is read whenever the current one is used up,
    /// which is how an interface value continues after the definitions of its concrete type.
    mutating func readTypeSequence(forInterface: Bool) throws -> Int {
        while true {
            if position == limit {
                guard limit == messageEnd else { throw truncated("a type id") }
                try nextMessage()
            }
            let start = offset
            let id = try readTypeID("type id")
            if id > 0 { return id }
            guard id < 0 else { throw GobError("invalid type id 0 at byte \(start)") }
            try readTypeDefinition(id: -id, at: start)
            if position < limit {
                guard forInterface else {
                    throw GobError("\(limit - position) unexpected bytes after the definition of type \(-id)")
                }
                // Inside an interface value Go's decoder skips a byte count here.
                _ = try readUInt("byte count after the definition of type \(-id)")
            }
        }
    }

    private mutating func readTypeDefinition(id: Int, at start: Int) throws {
        guard id >= GobTypeID.firstUserID else {
            throw GobError("definition of reserved type id \(id) at byte \(start)")
        }
        guard types[id] == nil else {
            throw GobError("duplicate definition of type \(id) at byte \(start)")
        }
        types[id] = try readWireType(id: id)
    }

    /// Field numbers on the wire are deltas from the previous field (starting at -1), ending with 0.
    mutating func nextFieldIndex(
        _ field: inout Int, fieldCount: Int, in what: @autoclosure () -> String
    ) throws -> Int? {
        let start = offset
        let delta = try readUInt("field delta in \(what())")
        if delta == 0 { return nil }
        guard delta <= UInt64(fieldCount - 1 - field) else {
            throw GobError(
                "field number out of range at byte \(start) in \(what()): delta \(delta) after field \(field), \(fieldCount) fields"
            )
        }
        field += Int(delta)
        return field
    }

    /// Go's `wireType`: a struct of seven optional kinds, exactly one of which is set.
    private mutating func readWireType(id: Int) throws -> GobWireType {
        let what = "definition of type \(id)"
        var field = -1
        var result: GobWireType?
        while let index = try nextFieldIndex(&field, fieldCount: 7, in: what) {
            let kind: GobWireType
            switch index {
            case 0: kind = try readArrayType()
            case 1: kind = try readSliceType()
            case 2: kind = .structure(try readStructType())
            case 3: kind = try readMapType()
            case 4: kind = .external(name: try readGobEncoderType(), kind: .gobEncoder)
            case 5: kind = .external(name: try readGobEncoderType(), kind: .binaryMarshaler)
            default: kind = .external(name: try readGobEncoderType(), kind: .textMarshaler)
            }
            guard result == nil else { throw GobError("\(what) sets more than one kind") }
            result = kind
        }
        guard let result else { throw GobError("\(what) is empty") }
        return result
    }

    /// CommonType{Name string; Id typeId}; the id is not needed (Go itself sends ids here that
    /// differ from the defined id), so only the name is kept.
    private mutating func readCommonType() throws -> String {
        var field = -1
        var name = ""
        while let index = try nextFieldIndex(&field, fieldCount: 2, in: "CommonType") {
            if index == 0 {
                name = try readName("type name")
            } else {
                _ = try readTypeID("CommonType.Id")
            }
        }
        return name
    }

    /// arrayType{CommonType; Elem typeId; Len int}
    private mutating func readArrayType() throws -> GobWireType {
        var field = -1
        var name = ""
        var element = 0
        var length: Int64 = 0
        while let index = try nextFieldIndex(&field, fieldCount: 3, in: "arrayType") {
            switch index {
            case 0: name = try readCommonType()
            case 1: element = try readTypeID("arrayType.Elem")
            default: length = try readInt("arrayType.Len")
            }
        }
        guard length >= 0, let length = Int(exactly: length) else {
            throw GobError("array type \(GobError.quoted(name)) has invalid length \(length)")
        }
        return .array(name: name, element: element, length: length)
    }

    /// sliceType{CommonType; Elem typeId}
    private mutating func readSliceType() throws -> GobWireType {
        var field = -1
        var name = ""
        var element = 0
        while let index = try nextFieldIndex(&field, fieldCount: 2, in: "sliceType") {
            if index == 0 {
                name = try readCommonType()
            } else {
                element = try readTypeID("sliceType.Elem")
            }
        }
        return .slice(name: name, element: element)
    }

    /// structType{CommonType; Field []fieldType} with fieldType{Name string; Id typeId}
    private mutating func readStructType() throws -> GobStructType {
        var field = -1
        var result = GobStructType(name: "", fields: [])
        while let index = try nextFieldIndex(&field, fieldCount: 2, in: "structType") {
            if index == 0 {
                result.name = try readCommonType()
                continue
            }
            // Each fieldType takes at least its terminating byte.
            let count = try readCount("field count of struct \(GobError.quoted(result.name))")
            for _ in 0..<count {
                var fieldTypeField = -1
                var fieldType = GobFieldType(name: "", typeID: 0)
                while let index = try nextFieldIndex(&fieldTypeField, fieldCount: 2, in: "fieldType") {
                    if index == 0 {
                        fieldType.name = try readName("field name")
                    } else {
                        fieldType.typeID = try readTypeID("fieldType.Id")
                    }
                }
                result.fields.append(fieldType)
            }
        }
        return result
    }

    /// mapType{CommonType; Key typeId; Elem typeId}
    private mutating func readMapType() throws -> GobWireType {
        var field = -1
        var name = ""
        var key = 0
        var element = 0
        while let index = try nextFieldIndex(&field, fieldCount: 3, in: "mapType") {
            switch index {
            case 0: name = try readCommonType()
            case 1: key = try readTypeID("mapType.Key")
            default: element = try readTypeID("mapType.Elem")
            }
        }
        return .map(name: name, key: key, element: element)
    }

    /// gobEncoderType{CommonType}
    private mutating func readGobEncoderType() throws -> String {
        var field = -1
        var name = ""
        while try nextFieldIndex(&field, fieldCount: 1, in: "gobEncoderType") != nil {
            name = try readCommonType()
        }
        return name
    }

    // MARK: Values

    /// The struct definition for a value's type id, or an error saying what it is instead.
    func structType(_ id: Int, decoding what: String) throws -> GobStructType {
        guard let wire = types[id] else {
            if id < GobTypeID.firstUserID {
                throw GobError("cannot decode \(GobTypeID.name(of: id)) into \(what): want a struct")
            }
            throw GobError("value of undefined type \(id) for \(what)")
        }
        guard case let .structure(type) = wire else {
            throw GobError("cannot decode \(wire.description) (type \(id)) into \(what): want a struct")
        }
        return type
    }

    /// The next field present in a struct value, or nil at its end.
    mutating func nextField(of type: GobStructType, after field: inout Int) throws -> GobFieldType? {
        guard let index = try nextFieldIndex(&field, fieldCount: type.fields.count, in: "struct \(GobError.quoted(type.name))")
        else { return nil }
        return type.fields[index]
    }

    /// A top-level value that is not a struct is sent as field 0 of an implicit struct.
    mutating func readSingletonDelta() throws {
        let start = offset
        let delta = try readUInt("singleton field delta")
        guard delta == 0 else {
            throw GobError("corrupted data at byte \(start): non-zero delta \(delta) for a singleton value")
        }
    }

    /// Restricts reading to the next `length` bytes (an interface value); returns what to pass
    /// to `endDelimitedValue`.
    mutating func beginDelimitedValue(length: Int) -> Int {
        let saved = limit
        limit = position + length
        return saved
    }

    /// Checks the delimited value was read exactly, and lifts the restriction.
    mutating func endDelimitedValue(restoring saved: Int) throws {
        guard position == limit else {
            throw GobError("\(limit - position) unread bytes at the end of an interface value at byte \(offset)")
        }
        limit = saved
    }

    /// Checks nothing follows the value (Djinn's payloads hold exactly one value).
    func finish() throws {
        let trailing = streamEnd - position
        guard trailing == 0 else {
            throw GobError("\(trailing) unexpected bytes after the value at byte \(offset)")
        }
    }

    /// Steps over a value of any defined type (for fields we do not know).
    mutating func skipValue(of id: Int, depth: Int = 0) throws {
        guard depth < Self.maxDepth else {
            throw GobError("values nested deeper than \(Self.maxDepth) levels at byte \(offset)")
        }
        switch id {
        case GobTypeID.bool, GobTypeID.int, GobTypeID.uint, GobTypeID.float:
            _ = try readUInt(GobTypeID.name(of: id))
            return
        case GobTypeID.bytes, GobTypeID.string:
            _ = try readByteRange(GobTypeID.name(of: id))
            return
        case GobTypeID.complex:
            _ = try readUInt("complex real part")
            _ = try readUInt("complex imaginary part")
            return
        case GobTypeID.interface:
            try skipInterface()
            return
        default:
            break
        }
        guard let wire = types[id] else {
            throw GobError("value of undefined type \(id) at byte \(offset)")
        }
        switch wire {
        case let .array(_, element, length):
            let start = offset
            let count = try readCount("array length")
            guard count == length else {
                throw GobError("array length \(count) at byte \(start) does not match its type's length \(length)")
            }
            for _ in 0..<count { try skipValue(of: element, depth: depth + 1) }
        case let .slice(_, element):
            let count = try readCount("slice length")
            for _ in 0..<count { try skipValue(of: element, depth: depth + 1) }
        case let .map(_, key, element):
            let count = try readCount("map length", unitSize: 2)
            for _ in 0..<count {
                try skipValue(of: key, depth: depth + 1)
                try skipValue(of: element, depth: depth + 1)
            }
        case let .structure(type):
            var field = -1
            while let fieldType = try nextField(of: type, after: &field) {
                try skipValue(of: fieldType.typeID, depth: depth + 1)
            }
        case .external:
            _ = try readByteRange("encoded \(wire.description)")
        }
    }

    /// An interface value: name (empty for nil), type definitions, concrete id, delimited value.
    private mutating func skipInterface() throws {
        let name = try readByteRange("interface type name")
        if name.isEmpty { return }
        _ = try readTypeSequence(forInterface: true)
        let length = try readCount("interface value length")
        position += length
    }
}
