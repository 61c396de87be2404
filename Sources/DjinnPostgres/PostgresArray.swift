/// A one-dimensional array parameter, sent in PostgreSQL's text form (`{"a","b",NULL}`), for
/// set-based statements: `INSERT … SELECT … FROM unnest($1::int[], $2::text[])` writes many rows
/// in one statement. Cast it in the SQL (`$1::bigint[]`, `$2::status[]`): it goes out untyped.
///
/// Every element is double-quoted with `"` and `\` escaped, so empty strings, `NULL` as text,
/// commas, braces and spaces survive; nil elements are SQL NULL. A bytea element is sent as
/// its hex form (`\x…`).
public struct PostgresArray: PostgresBindable, Sendable, Equatable {
    /// The array literal as sent.
    public let literal: String

    public init(_ elements: [(any PostgresBindable)?]) {
        var literal = "{"
        literal.reserveCapacity(2 + elements.count * 8)
        for (index, element) in elements.enumerated() {
            if index > 0 { literal.append(",") }
            guard let parameter = element?.postgresParameter else {
                literal.append("NULL")
                continue
            }
            switch parameter.value {
            case .null:
                literal.append("NULL")
            case .text(let text):
                Self.appendQuoted(text, to: &literal)
            case .binary(let bytes):
                Self.appendQuoted("\\x" + bytes.map { ($0 < 16 ? "0" : "") + String($0, radix: 16) }.joined(), to: &literal)
            }
        }
        literal.append("}")
        self.literal = literal
    }

    public init<Element: PostgresBindable>(_ elements: [Element]) {
        self.init(elements.map { $0 as (any PostgresBindable)? })
    }

    public init<Element: PostgresBindable>(_ elements: [Element?]) {
        self.init(elements.map { $0.map { $0 as any PostgresBindable } })
    }

    public var postgresParameter: PostgresParameter { .text(literal) }

    private static func appendQuoted(_ text: String, to literal: inout String) {
        literal.append("\"")
        // Only `"` and `\` need escaping inside a quoted element.
        if text.utf8.contains(where: { $0 == UInt8(ascii: "\"") || $0 == UInt8(ascii: "\\") }) {
            for character in text.unicodeScalars {
                if character == "\"" || character == "\\" { literal.unicodeScalars.append("\\") }
                literal.unicodeScalars.append(character)
            }
        } else {
            literal.append(text)
        }
        literal.append("\"")
    }
}
