/// A PostgreSQL type OID as it appears in a result's column description.
public struct PostgresDataType: RawRepresentable, Hashable, Sendable, CustomStringConvertible {
    public var rawValue: UInt32
    public init(rawValue: UInt32) { self.rawValue = rawValue }
    public init(_ rawValue: UInt32) { self.rawValue = rawValue }

    public static let bool = Self(16)
    public static let bytea = Self(17)
    public static let char = Self(18)
    public static let name = Self(19)
    public static let int8 = Self(20)
    public static let int2 = Self(21)
    public static let int4 = Self(23)
    public static let text = Self(25)
    public static let oid = Self(26)
    public static let json = Self(114)
    public static let xml = Self(142)
    public static let float4 = Self(700)
    public static let float8 = Self(701)
    /// The type of an untyped literal or parameter; the server infers the real one.
    public static let unknown = Self(705)
    public static let bpchar = Self(1042)
    public static let varchar = Self(1043)
    public static let date = Self(1082)
    public static let timestamp = Self(1114)
    public static let timestamptz = Self(1184)
    public static let numeric = Self(1700)
    public static let uuid = Self(2950)
    public static let jsonb = Self(3802)

    /// OIDs from here up belong to types created in a database (enums such as Djinn's
    /// `status`, or extension types); built-in types sit below (`FirstNormalObjectId`).
    public static let firstUserDefinedOID: UInt32 = 16384

    public var isUserDefined: Bool { rawValue >= Self.firstUserDefinedOID }

    public var isInteger: Bool { self == .int2 || self == .int4 || self == .int8 || self == .oid }

    /// Types whose text form is the value itself: character types, json, and
    /// user-defined types (Djinn's enums arrive as their label).
    public var isTextual: Bool {
        switch self {
        case .text, .varchar, .bpchar, .name, .char, .unknown, .json, .jsonb, .xml, .uuid: return true
        default: return isUserDefined
        }
    }

    public var description: String {
        switch self {
        case .bool: return "bool"
        case .bytea: return "bytea"
        case .char: return "char"
        case .name: return "name"
        case .int8: return "int8"
        case .int2: return "int2"
        case .int4: return "int4"
        case .text: return "text"
        case .oid: return "oid"
        case .json: return "json"
        case .xml: return "xml"
        case .float4: return "float4"
        case .float8: return "float8"
        case .unknown: return "unknown"
        case .bpchar: return "bpchar"
        case .varchar: return "varchar"
        case .date: return "date"
        case .timestamp: return "timestamp"
        case .timestamptz: return "timestamptz"
        case .numeric: return "numeric"
        case .uuid: return "uuid"
        case .jsonb: return "jsonb"
        default: return isUserDefined ? "user-defined type (oid \(rawValue))" : "type oid \(rawValue)"
        }
    }
}
