/// Declarative description of what a config file (or one of its blocks) may contain.
/// One schema per daemon drives decoding, type checking, defaults, required settings,
/// unknown-parameter warnings and did-you-mean suggestions, so a new directive is one
/// line in `Schemas.swift` plus the field that reads it.
struct BlockSchema: Sendable {
    var parameters: [ParameterSchema]

    init(_ parameters: [ParameterSchema]) {
        self.parameters = parameters
    }

    static let empty = BlockSchema([])

    /// Names match exactly, else case-insensitively (`PIDFILE` sets `pidfile`).
    func parameter(named name: String) -> ParameterSchema? {
        if let exact = parameters.first(where: { $0.name == name }) { return exact }
        let folded = name.lowercased()
        return parameters.first { $0.name.lowercased() == folded }
    }
}

/// What a parameter's value must be.
indirect enum SettingType: Sendable {
    case string
    case int(minimum: Int?)
    /// A 64-bit byte count: an int or a size literal (`50MB`); never negative.
    case byteCount
    case bool
    /// A duration literal (`30m`) or a string holding one (`"60s"`).
    case duration(positive: Bool)
    case stringArray
    case block(BlockSchema)
    /// `NAME LABEL {…}` repeated, decoded into a map keyed by label (`store artifacts {…}`).
    case labelledBlocks(BlockSchema, LabelRule)
    /// `NAME LABEL "text"` repeated, a map of strings (`log info "/dev/stdout"`).
    case labelledStrings(LabelRule)
    /// Go's `nogroup`: the label picks one of several differently shaped blocks
    /// (`driver qemu {…}` in the driver file).
    case variants([String: BlockSchema], LabelRule)

    /// The label rule of a labelled setting; nil for every other type.
    var labelRule: LabelRule? {
        switch self {
        case .labelledBlocks(_, let rule), .labelledStrings(let rule), .variants(_, let rule): rule
        default: nil
        }
    }

    /// How the expected value is named in "cannot use X as Y" messages.
    var expectation: String {
        switch self {
        case .string: "string"
        case .int: "int"
        case .byteCount: "int or size"
        case .bool: "bool"
        case .duration: "duration"
        case .stringArray: "array of strings"
        case .block: "block"
        case .labelledBlocks, .variants: "labelled block"
        case .labelledStrings: "labelled string"
        }
    }
}

/// Which labels a labelled setting accepts, and what to say about others.
struct LabelRule: Sendable {
    /// nil: any label.
    var known: [String]?
    /// Labels that must be present; reported with `missingMessage`.
    var required: [String] = []
    /// An unknown label is an error (else a warning, and the entry is ignored).
    var unknownIsError = false
    var unknownMessage: @Sendable (String) -> String
    var missingMessage: @Sendable (String) -> String = { "\($0) not configured" }
}

/// One parameter a block may hold.
struct ParameterSchema: Sendable {
    var name: String
    var type: SettingType
    var required = false
    /// Message when a required parameter is absent; given the dotted path (`database.addr`).
    var missingMessage: @Sendable (String) -> String = { "\($0) not configured" }
    /// Used when the parameter is absent.
    var defaultValue: DecodedValue?
    /// Checks a string value (or each string of an array); returns an error message.
    var validate: (@Sendable (String) -> String?)?
    /// Non-nil for a deprecated parameter: what to do instead, e.g. "use tls instead".
    var deprecation: String?

    init(
        _ name: String,
        _ type: SettingType,
        required: Bool = false,
        missing: (@Sendable (String) -> String)? = nil,
        default defaultValue: DecodedValue? = nil,
        validate: (@Sendable (String) -> String?)? = nil,
        deprecation: String? = nil
    ) {
        self.name = name
        self.type = type
        self.required = required
        if let missing { self.missingMessage = missing }
        self.defaultValue = defaultValue
        self.validate = validate
        self.deprecation = deprecation
    }
}

/// A string together with where it was written.
struct LocatedString: Sendable, Equatable {
    var value: String
    var location: SourceLocation
}

/// A decoded, type-checked value.
indirect enum DecodedValue: Sendable {
    case string(String)
    case int(Int)
    case byteCount(Int64)
    case bool(Bool)
    case duration(Duration)
    case strings([LocatedString])
    case block(DecodedBlock)
    /// Entries of a labelled setting in the order their labels first appeared; each
    /// value is a `.block` or a `.string`.
    case labelled([DecodedLabel])
}

struct DecodedLabel: Sendable {
    var label: String
    /// The parameter that set it.
    var location: SourceLocation
    var value: DecodedValue
}

struct DecodedEntry: Sendable {
    var value: DecodedValue
    /// The parameter that set it, or the enclosing block for a default.
    var location: SourceLocation
    var isDefault = false
}

/// A decoded block: canonical parameter name → entry.
struct DecodedBlock: Sendable {
    /// The parameter that opened the block (the file's start for the top level).
    var location: SourceLocation
    var entries: [String: DecodedEntry] = [:]

    func location(of name: String) -> SourceLocation { entries[name]?.location ?? location }

    func string(_ name: String) -> String {
        if case .string(let value)? = entries[name]?.value { return value }
        return ""
    }

    func int(_ name: String) -> Int {
        if case .int(let value)? = entries[name]?.value { return value }
        return 0
    }

    func byteCount(_ name: String) -> Int64 {
        if case .byteCount(let value)? = entries[name]?.value { return value }
        return 0
    }

    func bool(_ name: String) -> Bool {
        if case .bool(let value)? = entries[name]?.value { return value }
        return false
    }

    func duration(_ name: String) -> Duration {
        if case .duration(let value)? = entries[name]?.value { return value }
        return .zero
    }

    func strings(_ name: String) -> [LocatedString] {
        if case .strings(let value)? = entries[name]?.value { return value }
        return []
    }

    func block(_ name: String) -> DecodedBlock? {
        if case .block(let value)? = entries[name]?.value { return value }
        return nil
    }

    func labelled(_ name: String) -> [DecodedLabel] {
        if case .labelled(let value)? = entries[name]?.value { return value }
        return []
    }

    func labelledBlock(_ name: String, _ label: String) -> DecodedBlock? {
        for entry in labelled(name) where entry.label == label {
            if case .block(let block) = entry.value { return block }
        }
        return nil
    }
}
