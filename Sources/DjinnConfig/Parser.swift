/// Parses config source into parameters.
///
/// ```
/// file      := { parameter | terminator }
/// parameter := NAME [ LABEL ] [ value ]
/// value     := literal | block | array | "true" | "false"
/// block     := "{" { terminator } [ parameter { terminator { terminator } parameter } ] { terminator } "}"
/// array     := "[" [ value { "," value } [ "," ] ] "]"
/// ```
/// The parser recovers after an error so one run reports as much as it can, and
/// never reports two errors at the same token.
public enum ConfigParser {
    /// Parses one file's text. `include` directives are kept as ordinary parameters.
    public static func parse(source: String, file: String) -> ParsedSource {
        parse(bytes: Array(source.utf8), file: file)
    }

    /// Parses one file's bytes. `include` directives are kept as ordinary parameters.
    public static func parse(bytes: [UInt8], file: String) -> ParsedSource {
        let (tokens, lexical) = ConfigLexer.tokenize(bytes, file: file)
        var parser = TokenParser(tokens: tokens)
        let parameters = parser.parseFile()
        // Lexical errors are found before the parser's; report both in source order.
        let diagnostics = (lexical + parser.diagnostics).enumerated().sorted { a, b in
            let (x, y) = (a.element.location, b.element.location)
            if x.line != y.line { return x.line < y.line }
            if x.column != y.column { return x.column < y.column }
            return a.offset < b.offset
        }.map(\.element)
        return ParsedSource(file: file, parameters: parameters, diagnostics: diagnostics)
    }
}

/// Recursive descent over a token array.
struct TokenParser {
    private let tokens: [ConfigToken]
    private var position = 0
    private var lastErrorPosition = -1
    private var depth = 0
    private(set) var diagnostics: [ConfigDiagnostic] = []

    /// Deeper nesting than this is surely a mistake, and would risk the stack.
    private static let maximumDepth = 64

    init(tokens: [ConfigToken]) {
        self.tokens = tokens
    }

    private var token: ConfigToken { tokens[position] }

    private mutating func advance() {
        if position < tokens.count - 1 { position += 1 }
    }

    private var atEnd: Bool { token.kind == .endOfFile }

    private mutating func error(_ message: String) {
        guard position != lastErrorPosition else { return }
        lastErrorPosition = position
        diagnostics.append(.error(message, at: token.location))
    }

    /// Skips to the end of the current statement: a terminator, a closing bracket or the
    /// end of the file (none of them consumed).
    private mutating func skipStatement() {
        while true {
            switch token.kind {
            case .terminator, .rightBrace, .rightBracket, .endOfFile: return
            case .leftBrace: _ = parseBlock()
            case .leftBracket: _ = parseArray()
            default: advance()
            }
        }
    }

    mutating func parseFile() -> [ConfigParameter] {
        var parameters: [ConfigParameter] = []
        while !atEnd {
            switch token.kind {
            case .terminator:
                advance()
            case .name:
                parameters.append(parseParameter())
            default:
                error("unexpected \(token.description)")
                skipStatement()
                // A stray `}` or `]` at top level ends nothing: step over it.
                if token.kind == .rightBrace || token.kind == .rightBracket { advance() }
            }
        }
        return parameters
    }

    private mutating func parseParameter() -> ConfigParameter {
        let name = ConfigName(text: token.text, location: token.location)
        advance()
        var parameter = ConfigParameter(name: name)
        if token.kind == .name {
            let label = ConfigName(text: token.text, location: token.location)
            advance()
            if endsParameter(token.kind) {
                // `flag true` is a value, not a label.
                if label.text == "true" || label.text == "false" {
                    parameter.value = .literal(ConfigLiteral(kind: .bool, text: label.text, location: label.location))
                } else {
                    parameter.label = label
                }
                return parameter
            }
            parameter.label = label
        }
        parameter.value = parseValue()
        return parameter
    }

    private func endsParameter(_ kind: ConfigToken.Kind) -> Bool {
        kind == .terminator || kind == .rightBrace || kind == .endOfFile
    }

    /// A value, or nil after reporting why there is none. Stray names are consumed;
    /// structural tokens are left for the enclosing block, array or file.
    private mutating func parseValue() -> ConfigValue? {
        switch token.kind {
        case .literal(let kind):
            let literal = ConfigLiteral(kind: kind, text: token.text, location: token.location)
            advance()
            return .literal(literal)
        case .name where token.text == "true" || token.text == "false":
            let literal = ConfigLiteral(kind: .bool, text: token.text, location: token.location)
            advance()
            return .literal(literal)
        case .name:
            error("unexpected \(token.description)")
            advance()
            return nil
        case .leftBrace:
            return parseBlock().map(ConfigValue.block)
        case .leftBracket:
            return parseArray().map(ConfigValue.array)
        default:
            error("unexpected \(token.description)")
            return nil
        }
    }

    private mutating func enterNesting() -> Bool {
        guard depth < Self.maximumDepth else {
            error("blocks and arrays nested too deeply")
            return false
        }
        depth += 1
        return true
    }

    private mutating func parseBlock() -> ConfigBlock? {
        let open = token.location
        guard enterNesting() else {
            skipNested(close: .rightBrace)
            return nil
        }
        defer { depth -= 1 }
        advance()
        var parameters: [ConfigParameter] = []
        while true {
            switch token.kind {
            case .rightBrace:
                advance()
                return ConfigBlock(parameters: parameters, location: open)
            case .endOfFile:
                error("unexpected end of file, expected } to close the block opened at \(open.line):\(open.column)")
                return ConfigBlock(parameters: parameters, location: open)
            case .terminator:
                advance()
                continue
            case .name:
                parameters.append(parseParameter())
                switch token.kind {
                case .terminator, .rightBrace, .endOfFile:
                    break
                case .name:
                    // Most likely two parameters on one line: report, then read the next one.
                    error("expected newline or }")
                default:
                    error("expected newline or }")
                    skipStatement()
                    if token.kind == .rightBracket { advance() }
                }
            default:
                error("expected name")
                skipStatement()
                if token.kind == .rightBracket { advance() }
            }
        }
    }

    private mutating func parseArray() -> ConfigArray? {
        let open = token.location
        guard enterNesting() else {
            skipNested(close: .rightBracket)
            return nil
        }
        defer { depth -= 1 }
        advance()
        var items: [ConfigValue] = []
        while true {
            switch token.kind {
            case .rightBracket:
                advance()
                return ConfigArray(items: items, location: open)
            case .endOfFile:
                error("unexpected end of file, expected ] to close the array opened at \(open.line):\(open.column)")
                return ConfigArray(items: items, location: open)
            default:
                if let item = parseValue() {
                    items.append(item)
                } else if token.kind != .rightBracket, token.kind != .endOfFile, token.kind != .comma {
                    // parseValue left a structural token; step over it to make progress.
                    advance()
                    continue
                }
                switch token.kind {
                case .comma:
                    advance()
                case .rightBracket, .endOfFile:
                    break
                case .literal, .name, .leftBrace, .leftBracket:
                    // A missing comma between two items: report it and read the next item.
                    error("expected comma or ]")
                default:
                    // Notably a newline after the last item when `]` is on its own line.
                    error("expected comma or ]")
                    advance()
                }
            }
        }
    }

    /// Steps over a too-deeply nested bracket pair without building anything.
    private mutating func skipNested(close: ConfigToken.Kind) {
        var open = 0
        while !atEnd {
            switch token.kind {
            case .leftBrace, .leftBracket: open += 1
            case .rightBrace, .rightBracket: open -= 1
            default: break
            }
            advance()
            if open == 0 { return }
        }
    }
}
