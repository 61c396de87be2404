/// Building POSIX `sh` command lines from untrusted text.
public enum ShellWords {
    /// `text` as one single-quoted word: `it's` → `'it'\''s'`. Nothing in it is expanded.
    public static func quote(_ text: String) -> String {
        var word = "'"
        for character in text {
            if character == "'" { word += "'\\''" } else { word.append(character) }
        }
        return word + "'"
    }

    /// `pattern` as one word whose `*`, `?` and `[…]` still glob while everything else is
    /// literal (quoted): no variable, command or tilde expansion, no word splitting.
    public static func glob(_ pattern: String) -> String {
        var word = ""
        var literal = ""
        func flush() {
            if !literal.isEmpty { word += quote(literal) }
            literal = ""
        }
        let characters = Array(pattern)
        var index = 0
        while index < characters.count {
            let character = characters[index]
            switch character {
            case "*", "?":
                flush()
                word.append(character)
            case "[":
                // A bracket expression is passed through when it closes and holds nothing the
                // shell would read as syntax; otherwise `[` is literal.
                if let close = characters[(index + 1)...].firstIndex(of: "]"), close > index + 1,
                    characters[(index + 1)..<close].allSatisfy({ $0.isLetter || $0.isNumber || "-_.!^".contains($0) })
                {
                    flush()
                    word += String(characters[index...close])
                    index = close
                } else {
                    literal.append(character)
                }
            default:
                literal.append(character)
            }
            index += 1
        }
        flush()
        return word.isEmpty ? "''" : word
    }

    /// True when `pattern` has a glob character.
    public static func hasGlob(_ pattern: String) -> Bool {
        pattern.contains { $0 == "*" || $0 == "?" || $0 == "[" }
    }
}
