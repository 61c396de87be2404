/// A token of the config language.
public struct ConfigToken: Sendable, Hashable {
    public enum Kind: Sendable, Hashable {
        case name
        case literal(LiteralKind)
        /// A newline that ends a parameter, or a `;`.
        case terminator
        case comma
        case leftBrace, rightBrace
        case leftBracket, rightBracket
        case endOfFile
    }

    public var kind: Kind
    /// Names: the name. Strings: the text between the quotes, backslashes kept.
    /// Other literals: their source text. Punctuation: itself; a newline terminator: "\n".
    public var text: String
    public var location: SourceLocation

    /// How the token is named in syntax errors.
    var description: String {
        switch kind {
        case .name: "name \"\(text)\""
        case .literal(let kind): kind.rawValue
        case .terminator: text == ";" ? ";" : "newline"
        case .comma: "comma"
        case .leftBrace: "{"
        case .rightBrace: "}"
        case .leftBracket: "["
        case .rightBracket: "]"
        case .endOfFile: "end of file"
        }
    }
}

/// Splits config source bytes into tokens.
///
/// Follows Go's scanner with the intended fixes: a comment at the end of the file ends
/// there, the newline after a comment still ends a parameter, and malformed numbers
/// (`10K`, `3kb`, `1.5MB`, `1.2.3`) are errors. Every problem is a diagnostic; the
/// lexer always reaches the end of the input.
public struct ConfigLexer: Sendable {
    private let bytes: [UInt8]
    private let file: String
    private var index = 0
    private var line = 1
    private var lineStart = 0
    /// Whether a newline now ends a parameter: true after a name, literal, `}` or `]`.
    private var newlineTerminates = false
    private var tokens: [ConfigToken] = []
    private var diagnostics: [ConfigDiagnostic] = []

    private init(bytes: [UInt8], file: String) {
        self.bytes = bytes
        self.file = file
    }

    /// All tokens of `bytes` (the last is `.endOfFile`) and the lexical errors found.
    public static func tokenize(_ bytes: [UInt8], file: String) -> (tokens: [ConfigToken], diagnostics: [ConfigDiagnostic]) {
        var lexer = ConfigLexer(bytes: bytes, file: file)
        lexer.run()
        return (lexer.tokens, lexer.diagnostics)
    }

    private func location(at offset: Int) -> SourceLocation {
        SourceLocation(file: file, line: line, column: offset - lineStart + 1)
    }

    private mutating func error(_ message: String, at offset: Int) {
        diagnostics.append(.error(message, at: location(at: offset)))
    }

    private mutating func emit(_ kind: ConfigToken.Kind, _ text: String, at offset: Int) {
        tokens.append(ConfigToken(kind: kind, text: text, location: location(at: offset)))
        switch kind {
        case .name, .literal, .rightBrace, .rightBracket: newlineTerminates = true
        default: newlineTerminates = false
        }
    }

    private mutating func run() {
        // A UTF-8 byte order mark carries no meaning.
        if bytes.starts(with: [0xEF, 0xBB, 0xBF]) {
            index = 3
            lineStart = 3
        }
        while index < bytes.count {
            let byte = bytes[index]
            switch byte {
            case UInt8(ascii: " "), UInt8(ascii: "\t"), UInt8(ascii: "\r"):
                index += 1
            case 0:
                error("invalid NUL byte", at: index)
                index += 1
            case UInt8(ascii: "\n"):
                if newlineTerminates { emit(.terminator, "\n", at: index) }
                index += 1
                line += 1
                lineStart = index
            case UInt8(ascii: "#"):
                // The newline is left for the loop, so it still ends the parameter before it.
                while index < bytes.count, bytes[index] != UInt8(ascii: "\n") { index += 1 }
            case UInt8(ascii: ";"):
                emit(.terminator, ";", at: index)
                index += 1
            case UInt8(ascii: ","):
                emit(.comma, ",", at: index)
                index += 1
            case UInt8(ascii: "{"):
                emit(.leftBrace, "{", at: index)
                index += 1
            case UInt8(ascii: "}"):
                emit(.rightBrace, "}", at: index)
                index += 1
            case UInt8(ascii: "["):
                emit(.leftBracket, "[", at: index)
                index += 1
            case UInt8(ascii: "]"):
                emit(.rightBracket, "]", at: index)
                index += 1
            case UInt8(ascii: "\""):
                scanString()
            case UInt8(ascii: "-"), UInt8(ascii: "0")...UInt8(ascii: "9"):
                scanNumber()
            default:
                let (scalar, length) = UTF8Decoding.scalar(in: bytes, at: index)
                if let scalar, Self.isNameStart(scalar) {
                    scanName()
                } else if let scalar {
                    error("unexpected character \(Self.describe(scalar))", at: index)
                    index += length
                } else {
                    error("invalid UTF-8 byte 0x\(String(byte, radix: 16, uppercase: true))", at: index)
                    index += length
                }
            }
        }
        emit(.endOfFile, "", at: index)
    }

    static func isNameStart(_ scalar: Unicode.Scalar) -> Bool {
        switch scalar.value {
        case 0x41...0x5A, 0x61...0x7A, 0x5F: return true
        case 0..<0x80: return false
        default: return isUnicodeLetter(scalar)
        }
    }

    static func isNameContinuation(_ scalar: Unicode.Scalar) -> Bool {
        isNameStart(scalar) || (0x30...0x39).contains(scalar.value)
    }

    /// Go's `unicode.IsLetter`: general category L.
    private static func isUnicodeLetter(_ scalar: Unicode.Scalar) -> Bool {
        switch scalar.properties.generalCategory {
        case .uppercaseLetter, .lowercaseLetter, .titlecaseLetter, .modifierLetter, .otherLetter: true
        default: false
        }
    }

    private static func describe(_ scalar: Unicode.Scalar) -> String {
        var hex = String(scalar.value, radix: 16, uppercase: true)
        while hex.count < 4 { hex = "0" + hex }
        let printable = scalar.value > 0x20 && scalar.value != 0x7F && !scalar.properties.isWhitespace
            && scalar.properties.generalCategory != .control && scalar.properties.generalCategory != .format
        return printable ? "'\(Character(scalar))' (U+\(hex))" : "U+\(hex)"
    }

    private mutating func scanName() {
        let start = index
        while index < bytes.count {
            let (scalar, length) = UTF8Decoding.scalar(in: bytes, at: index)
            guard let scalar, Self.isNameContinuation(scalar) else { break }
            index += length
        }
        emit(.name, String(decoding: bytes[start..<index], as: UTF8.self), at: start)
    }

    /// A string runs to the next unescaped `"` on the same line; a backslash keeps the
    /// character after it (notably `"`) from ending the string.
    private mutating func scanString() {
        let start = index
        index += 1
        while index < bytes.count {
            switch bytes[index] {
            case UInt8(ascii: "\""):
                emit(.literal(.string), String(decoding: bytes[(start + 1)..<index], as: UTF8.self), at: start)
                index += 1
                return
            case UInt8(ascii: "\n"):
                // Left for the main loop, which turns it into the terminator this line needs.
                error("unexpected newline in string", at: start)
                emit(.literal(.string), String(decoding: bytes[(start + 1)..<index], as: UTF8.self), at: start)
                return
            case UInt8(ascii: "\\"):
                let next = index + 1
                index += (next < bytes.count && bytes[next] != UInt8(ascii: "\n")) ? 2 : 1
            case 0:
                error("invalid NUL byte", at: index)
                index += 1
            default:
                index += 1
            }
        }
        error("unterminated string", at: start)
        emit(.literal(.string), String(decoding: bytes[(start + 1)..<index], as: UTF8.self), at: start)
    }

    /// A number is `-`? digits with at most one `.`, optionally followed by a unit with
    /// no space: a size unit (`B`, `KB`, `MB`, `GB`, `TB`) or Go duration units (`1h30m`,
    /// `10ms`). The whole run of letters, digits and points is taken, so `10K` and `3kb`
    /// are one malformed token rather than a number and a name.
    private mutating func scanNumber() {
        let start = index
        index += 1
        while index < bytes.count {
            let byte = bytes[index]
            let isWordByte = (byte >= UInt8(ascii: "0") && byte <= UInt8(ascii: "9"))
                || (byte >= UInt8(ascii: "a") && byte <= UInt8(ascii: "z"))
                || (byte >= UInt8(ascii: "A") && byte <= UInt8(ascii: "Z"))
                || byte == UInt8(ascii: ".") || byte == UInt8(ascii: "_") || byte >= 0x80
            guard isWordByte else { break }
            index += 1
        }
        let text = String(decoding: bytes[start..<index], as: UTF8.self)

        // The numeric head: optional sign, digits and points.
        var headEnd = start
        if bytes[headEnd] == UInt8(ascii: "-") { headEnd += 1 }
        let digitsStart = headEnd
        var secondPoint: Int?
        var sawPoint = false
        while headEnd < index {
            let byte = bytes[headEnd]
            if byte == UInt8(ascii: ".") {
                if sawPoint, secondPoint == nil { secondPoint = headEnd }
                sawPoint = true
            } else if !(byte >= UInt8(ascii: "0") && byte <= UInt8(ascii: "9")) {
                break
            }
            headEnd += 1
        }
        let suffix = String(decoding: bytes[headEnd..<index], as: UTF8.self)
        let hasDigit = bytes[digitsStart..<headEnd].contains { $0 != UInt8(ascii: ".") }

        guard hasDigit, bytes[digitsStart] != UInt8(ascii: ".") else {
            error("invalid number \"\(text)\"", at: start)
            emit(.literal(.int), text, at: start)
            return
        }
        if let secondPoint, suffix.isEmpty {
            error("invalid point in float", at: secondPoint)
            emit(.literal(.float), text, at: start)
            return
        }
        if suffix.isEmpty {
            emit(.literal(sawPoint ? .float : .int), text, at: start)
            return
        }
        let number = String(text.dropLast(suffix.utf8.count))
        if Self.sizeUnits.contains(suffix) {
            if sawPoint {
                error("invalid size \"\(text)\": a size must be a whole number", at: start)
            }
            emit(.literal(.size), text, at: start)
            return
        }
        let upper = suffix.uppercased()
        if Self.sizeUnits.contains(upper) || ["K", "M", "G", "T"].contains(suffix) || suffix == "k" {
            let unit = Self.sizeUnits.contains(upper) ? upper : upper + "B"
            error("invalid size \"\(text)\" (did you mean \(number)\(unit)?)", at: start)
            emit(.literal(.size), text, at: start)
            return
        }
        if let first = suffix.unicodeScalars.first, Self.durationUnitStarts.contains(first) {
            // Validated when decoded, as in Go, so the message can name the setting.
            emit(.literal(.duration), text, at: start)
            return
        }
        error("invalid number \"\(text)\"", at: start)
        emit(.literal(.int), text, at: start)
    }

    static let sizeUnits: Set<String> = ["B", "KB", "MB", "GB", "TB"]
    private static let durationUnitStarts: Set<Unicode.Scalar> = ["n", "u", "\u{B5}", "\u{3BC}", "m", "s", "h"]
}

enum UTF8Decoding {
    /// The scalar starting at `offset` and its length in bytes; nil (length 1) when the
    /// bytes there are not valid UTF-8.
    static func scalar(in bytes: [UInt8], at offset: Int) -> (Unicode.Scalar?, Int) {
        let lead = bytes[offset]
        if lead < 0x80 { return (Unicode.Scalar(lead), 1) }
        let length: Int
        var value: UInt32
        switch lead {
        case 0xC2...0xDF: length = 2; value = UInt32(lead & 0x1F)
        case 0xE0...0xEF: length = 3; value = UInt32(lead & 0x0F)
        case 0xF0...0xF4: length = 4; value = UInt32(lead & 0x07)
        default: return (nil, 1)
        }
        guard offset + length <= bytes.count else { return (nil, 1) }
        for continuation in bytes[(offset + 1)..<(offset + length)] {
            guard continuation & 0xC0 == 0x80 else { return (nil, 1) }
            value = value << 6 | UInt32(continuation & 0x3F)
        }
        // Reject overlong forms and surrogates.
        let minimum: UInt32 = length == 2 ? 0x80 : length == 3 ? 0x800 : 0x10000
        guard value >= minimum, let scalar = Unicode.Scalar(value) else { return (nil, 1) }
        return (scalar, length)
    }
}
