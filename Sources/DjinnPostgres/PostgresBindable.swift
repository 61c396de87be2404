import Foundation

/// One statement parameter as sent to the server.
///
/// Text parameters go out untyped (`unknown`, OID 0) unless a type is given, so the
/// server infers the type from context as it does for a quoted literal: a `String`
/// binds to text, varchar, json or an enum column alike. Add a cast (`$1::int8`) where
/// the context is ambiguous. Binary parameters (bytea) always name their type.
public struct PostgresParameter: Sendable, Equatable {
    enum Value: Sendable, Equatable {
        case null
        case text(String)
        case binary([UInt8])
    }

    let value: Value
    public let type: PostgresDataType?

    public static let null = PostgresParameter(value: .null, type: nil)

    public static func text(_ text: String, type: PostgresDataType? = nil) -> PostgresParameter {
        PostgresParameter(value: .text(text), type: type)
    }

    public static func bytea(_ bytes: [UInt8]) -> PostgresParameter {
        PostgresParameter(value: .binary(bytes), type: .bytea)
    }
}

/// A Swift value that can be a statement parameter (`$1` …). `nil` in a parameter
/// list is SQL NULL.
public protocol PostgresBindable: Sendable {
    var postgresParameter: PostgresParameter { get }
}

extension Int: PostgresBindable {
    public var postgresParameter: PostgresParameter { .text(String(self)) }
}

extension Int64: PostgresBindable {
    public var postgresParameter: PostgresParameter { .text(String(self)) }
}

extension Int32: PostgresBindable {
    public var postgresParameter: PostgresParameter { .text(String(self)) }
}

extension Int16: PostgresBindable {
    public var postgresParameter: PostgresParameter { .text(String(self)) }
}

extension String: PostgresBindable {
    public var postgresParameter: PostgresParameter { .text(self) }
}

extension Substring: PostgresBindable {
    public var postgresParameter: PostgresParameter { .text(String(self)) }
}

extension Bool: PostgresBindable {
    public var postgresParameter: PostgresParameter { .text(self ? "true" : "false") }
}

extension Double: PostgresBindable {
    /// Swift's shortest round-trip text, with PostgreSQL's spelling of the specials.
    public var postgresParameter: PostgresParameter {
        if isNaN { return .text("NaN") }
        if isInfinite { return .text(self < 0 ? "-Infinity" : "Infinity") }
        return .text(description)
    }
}

extension Date: PostgresBindable {
    /// `YYYY-MM-DD HH:MM:SS.ffffff` in UTC; the session time zone is UTC as well, so a
    /// timestamptz column reads it as the same instant.
    public var postgresParameter: PostgresParameter { .text(PostgresTimestamp.format(self)) }
}

extension Array: PostgresBindable where Element == UInt8 {
    /// bytea, sent in binary.
    public var postgresParameter: PostgresParameter { .bytea(self) }
}

extension Data: PostgresBindable {
    /// bytea, sent in binary.
    public var postgresParameter: PostgresParameter { .bytea([UInt8](self)) }
}

extension PostgresParameter: PostgresBindable {
    public var postgresParameter: PostgresParameter { self }
}

// MARK: JSON

/// A json/jsonb value as its raw JSON text (Djinn's `build_drivers.config`,
/// `build_triggers.data`).
public struct PostgresJSON: Sendable, Hashable, PostgresBindable, PostgresDecodable, CustomStringConvertible {
    public var text: String

    public init(text: String) { self.text = text }
    public init(data: Data) { self.text = String(decoding: data, as: UTF8.self) }

    /// Encodes `value` with `encoder` (a default `JSONEncoder` unless given).
    public init<T: Encodable>(encoding value: T, encoder: JSONEncoder = JSONEncoder()) throws {
        self.text = String(decoding: try encoder.encode(value), as: UTF8.self)
    }

    public var data: Data { Data(text.utf8) }

    public func decode<T: Decodable>(_ type: T.Type, decoder: JSONDecoder = JSONDecoder()) throws -> T {
        try decoder.decode(type, from: data)
    }

    public var description: String { text }

    public var postgresParameter: PostgresParameter { .text(text) }

    /// Decodes json, jsonb (and untyped literals).
    public static func decode(from cell: PostgresCell) throws(PostgresError) -> PostgresJSON {
        guard cell.type == .json || cell.type == .jsonb || cell.type == .unknown else {
            throw cell.typeMismatch(PostgresJSON.self)
        }
        return PostgresJSON(text: cell.text)
    }
}

// MARK: Enums

/// A Swift enum mirroring a PostgreSQL enum type (Djinn's `status`, `driver_type` …):
/// bound and decoded as its label. Conform with `extension Status: PostgresEnum {}`.
public protocol PostgresEnum: PostgresBindable, PostgresDecodable, RawRepresentable where RawValue == String {}

extension PostgresEnum {
    public var postgresParameter: PostgresParameter { .text(rawValue) }

    public static func decode(from cell: PostgresCell) throws(PostgresError) -> Self {
        guard cell.type.isTextual else { throw cell.typeMismatch(Self.self) }
        let label = cell.text
        guard let value = Self(rawValue: label) else {
            throw cell.invalidValue(Self.self, "unknown label \"\(label)\"")
        }
        return value
    }
}
