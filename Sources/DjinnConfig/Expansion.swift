/// Turns a string literal's raw text into its value, as Go's decoder does: every
/// backslash is deleted (there are no escape sequences), then `${NAME}` and
/// `${env:NAME}` are replaced by environment variables. `$NAME` is literal text.
enum StringExpansion {
    enum Failure: Error, Equatable {
        /// `${vault:X}`: no such expansion. Carries the prefix only, never the text,
        /// which may be a secret.
        case unknownPrefix(String)
    }

    struct Result: Equatable {
        var value: String
        /// `${` with no closing `}`: Go drops the rest silently; we keep dropping it
        /// but say so.
        var unterminated: Bool
    }

    static func expand(_ raw: String, environment: [String: String]) -> Swift.Result<Result, Failure> {
        var value = String.UnicodeScalarView()
        var expression = String.UnicodeScalarView()
        var inExpression = false
        var scalars = raw.unicodeScalars[...]
        while let scalar = scalars.popFirst() {
            if scalar == "\\" { continue }
            if !inExpression, scalar == "$", scalars.first == "{" {
                scalars.removeFirst()
                inExpression = true
                expression.removeAll()
                continue
            }
            if inExpression {
                if scalar == "}" {
                    inExpression = false
                    switch lookUp(String(expression), environment: environment) {
                    case .success(let text): value.append(contentsOf: text.unicodeScalars)
                    case .failure(let failure): return .failure(failure)
                    }
                } else {
                    expression.append(scalar)
                }
                continue
            }
            value.append(scalar)
        }
        return .success(Result(value: String(value), unterminated: inExpression))
    }

    private static func lookUp(_ expression: String, environment: [String: String]) -> Swift.Result<String, Failure> {
        var name = Substring(expression)
        // As in Go, a prefix needs at least one character before the colon.
        if let colon = expression.firstIndex(of: ":"), colon != expression.startIndex {
            let prefix = expression[..<colon]
            guard prefix == "env" else { return .failure(.unknownPrefix(String(prefix))) }
            name = expression[expression.index(after: colon)...]
        }
        return .success(environment[String(name)] ?? "")
    }
}
