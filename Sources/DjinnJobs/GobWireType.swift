/// Type ids that every gob stream shares without defining them (Go's encoding/gob bootstrap).
enum GobTypeID {
    static let bool = 1
    static let int = 2
    static let uint = 3
    static let float = 4
    static let bytes = 5
    static let string = 6
    static let complex = 7
    static let interface = 8
    /// Ids below this are reserved; a stream may only define ids from here on.
    static let firstUserID = 64

    static func name(of id: Int) -> String {
        switch id {
        case bool: return "bool"
        case int: return "int"
        case uint: return "uint"
        case float: return "float"
        case bytes: return "[]byte"
        case string: return "string"
        case complex: return "complex"
        case interface: return "interface"
        default: return "type \(id)"
        }
    }
}

/// One field of a struct type definition.
struct GobFieldType: Equatable {
    var name: String
    var typeID: Int
}

/// A struct type definition: fields are numbered by position (field numbers on the wire are
/// indexes into `fields`).
struct GobStructType: Equatable {
    var name: String
    var fields: [GobFieldType]
}

/// How a type with its own marshalling method encodes itself; all three put a byte string on
/// the wire, but Go only decodes each into a receiver with the matching method.
enum GobExternalKind: Equatable {
    case gobEncoder
    case binaryMarshaler
    case textMarshaler

    var description: String {
        switch self {
        case .gobEncoder: return "GobEncoder"
        case .binaryMarshaler: return "BinaryMarshaler"
        case .textMarshaler: return "TextMarshaler"
        }
    }
}

/// A user type definition as sent in a gob stream (Go's `wireType`: exactly one kind is set).
enum GobWireType: Equatable {
    case array(name: String, element: Int, length: Int)
    case slice(name: String, element: Int)
    case structure(GobStructType)
    case map(name: String, key: Int, element: Int)
    case external(name: String, kind: GobExternalKind)

    var description: String {
        switch self {
        case let .array(name, _, length): return "array \(GobError.quoted(name)) of length \(length)"
        case let .slice(name, _): return "slice \(GobError.quoted(name))"
        case let .structure(type): return "struct \(GobError.quoted(type.name))"
        case let .map(name, _, _): return "map \(GobError.quoted(name))"
        case let .external(name, kind): return "\(kind.description) \(GobError.quoted(name))"
        }
    }
}
