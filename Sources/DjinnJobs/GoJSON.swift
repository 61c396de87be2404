/// JSON for a `map[string]string` exactly as Go's `encoding/json` writes it (the text Djinn stores
/// in `build_drivers.config` and `build_triggers.data`): keys sorted byte-wise, `<`, `>` and `&`
/// escaped as `\u003c` …, no trailing newline. Also the string encoding of the webhook payloads.
public enum GoJSON {
    public static func object(_ map: [String: String]) -> String {
        let keys = map.keys.sorted { Array($0.utf8).lexicographicallyPrecedes(Array($1.utf8)) }
        var out = "{"
        for (index, key) in keys.enumerated() {
            if index > 0 { out += "," }
            appendString(key, to: &out)
            out += ":"
            appendString(map[key]!, to: &out)
        }
        return out + "}"
    }

    /// A JSON string literal as Go writes it (HTML-safe escapes, U+2028/9 escaped).
    public static func appendString(_ text: String, to out: inout String) {
        out += "\""
        for scalar in text.unicodeScalars {
            switch scalar {
            case "\"": out += "\\\""
            case "\\": out += "\\\\"
            case "\n": out += "\\n"
            case "\r": out += "\\r"
            case "\t": out += "\\t"
            case "<", ">", "&", "\u{2028}", "\u{2029}": out += unicodeEscape(scalar.value)
            default:
                if scalar.value < 0x20 {
                    out += unicodeEscape(scalar.value)
                } else {
                    out.unicodeScalars.append(scalar)
                }
            }
        }
        out += "\""
    }

    private static func unicodeEscape(_ value: UInt32) -> String {
        let hex = String(value, radix: 16)
        return "\\u" + String(repeating: "0", count: max(0, 4 - hex.count)) + hex
    }
}
