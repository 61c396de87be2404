/// The kinds of literal the config language knows.
public enum LiteralKind: String, Sendable, Hashable, CaseIterable {
    case string, int, float, bool, duration, size
}

/// A name or label as written, e.g. `store` or `artifacts` in `store artifacts {…}`.
public struct ConfigName: Sendable, Hashable {
    public var text: String
    public var location: SourceLocation

    public init(text: String, location: SourceLocation) {
        self.text = text
        self.location = location
    }
}

/// A literal as written. For strings `text` is what stands between the quotes, with
/// backslashes still in place (they are deleted when the value is decoded); for
/// everything else it is the literal's source text (`1h30m`, `50MB`, `true`).
public struct ConfigLiteral: Sendable, Hashable {
    public var kind: LiteralKind
    public var text: String
    public var location: SourceLocation

    public init(kind: LiteralKind, text: String, location: SourceLocation) {
        self.kind = kind
        self.text = text
        self.location = location
    }
}

/// `{ parameter; parameter … }`; `location` is that of the `{`.
public struct ConfigBlock: Sendable, Hashable {
    public var parameters: [ConfigParameter]
    public var location: SourceLocation

    public init(parameters: [ConfigParameter], location: SourceLocation) {
        self.parameters = parameters
        self.location = location
    }
}

/// `[ value, value, … ]`; `location` is that of the `[`.
public struct ConfigArray: Sendable, Hashable {
    public var items: [ConfigValue]
    public var location: SourceLocation

    public init(items: [ConfigValue], location: SourceLocation) {
        self.items = items
        self.location = location
    }
}

/// What a parameter can hold.
public indirect enum ConfigValue: Sendable, Hashable {
    case literal(ConfigLiteral)
    case block(ConfigBlock)
    case array(ConfigArray)

    public var location: SourceLocation {
        switch self {
        case .literal(let literal): literal.location
        case .block(let block): block.location
        case .array(let array): array.location
        }
    }

    /// How the value is named in messages: the literal kind, `block` or `array`.
    public var kindDescription: String {
        switch self {
        case .literal(let literal): literal.kind.rawValue
        case .block: "block"
        case .array: "array"
        }
    }
}

/// `NAME [LABEL] [VALUE]`. A parameter without a value only ever has a label
/// (`provider github`); a bare `NAME` is a syntax error.
public struct ConfigParameter: Sendable, Hashable {
    public var name: ConfigName
    public var label: ConfigName?
    public var value: ConfigValue?

    public init(name: ConfigName, label: ConfigName? = nil, value: ConfigValue? = nil) {
        self.name = name
        self.label = label
        self.value = value
    }

    /// Where the parameter starts: its name. Decode errors are reported here.
    public var location: SourceLocation { name.location }
}

/// One file parsed on its own: `include` directives are still ordinary parameters.
public struct ParsedSource: Sendable {
    public var file: String
    public var parameters: [ConfigParameter]
    /// Lexical and syntax errors, in source order.
    public var diagnostics: [ConfigDiagnostic]

    public var hasErrors: Bool { diagnostics.containsError }
}

/// A main file with its includes spliced in where they were named.
public struct ConfigDocument: Sendable {
    public var parameters: [ConfigParameter]
    /// The main file first, then each included file in the order it was read.
    public var files: [String]
    /// Warnings met while reading (errors make `ConfigParser.parse(path:)` throw).
    public var warnings: [ConfigDiagnostic]
}
