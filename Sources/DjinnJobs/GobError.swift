/// A gob stream that could not be decoded (truncated, malformed, or not the expected type).
///
/// Messages start with `gob:` and never quote more than a short prefix of the input, so a
/// hostile payload cannot flood a log line.
public struct GobError: Error, Sendable, Equatable, CustomStringConvertible {
    public let message: String

    public init(_ message: String) {
        self.message = "gob: " + message
    }

    public var description: String { message }
}

extension GobError {
    /// An error from a nested stream, reported with where it was nested.
    init(in context: String, wrapping inner: GobError) {
        let detail = inner.message.hasPrefix("gob: ") ? String(inner.message.dropFirst(5)) : inner.message
        self.init("\(context): \(detail)")
    }

    /// A short, printable rendering of a name taken from the input, for error messages.
    static func quoted(_ text: String) -> String {
        let limit = 64
        if text.count <= limit { return "\"\(text)\"" }
        return "\"\(text.prefix(limit))…\""
    }
}
