/// A manifest's `namespace`: `path` or `path@owner` (spec §9).
///
/// Djinn's documentation writes `owner@path`, but its code parses `path@owner`; the code is
/// what deployed manifests rely on, so that is the syntax here (spec §13 question 10).
public struct NamespacePath: Sendable, Hashable, CustomStringConvertible {
    /// Slash-separated names, e.g. `web/frontend`.
    public var path: String
    /// The owner's username; nil means the submitting user.
    public var owner: String?

    /// Namespaces nest at most this deep (Djinn's `MaxDepth`).
    public static let maximumDepth = 20

    public init(path: String, owner: String? = nil) {
        self.path = path
        self.owner = owner
    }

    /// Each segment is one or more ASCII letters or digits (what Djinn accepts when it creates
    /// a namespace; its manifest parser also rejects digits, which would make namespaces created
    /// in the UI with digits unusable from a manifest).
    public init(parsing text: String) throws(NamespacePathError) {
        let pathText: Substring
        var owner: String?
        if let at = text.firstIndex(of: "@") {
            pathText = text[..<at]
            let ownerText = text[text.index(after: at)...]
            guard !ownerText.isEmpty else { throw NamespacePathError("no owner after @ in namespace \(text)") }
            guard !ownerText.contains(where: { $0 == "@" || $0 == "/" || $0.isWhitespace }) else {
                throw NamespacePathError("invalid owner \(ownerText) in namespace \(text)")
            }
            owner = String(ownerText)
        } else {
            pathText = Substring(text)
        }
        guard !pathText.isEmpty else { throw NamespacePathError("namespace \(text) has no path") }
        let segments = pathText.split(separator: "/", omittingEmptySubsequences: false)
        for segment in segments {
            guard !segment.isEmpty else {
                throw NamespacePathError("namespace \(text) has an empty name between slashes")
            }
            guard segment.unicodeScalars.allSatisfy(Self.isNameCharacter) else {
                throw NamespacePathError("namespace name \(segment) can only contain letters and numbers")
            }
        }
        guard segments.count <= Self.maximumDepth else {
            throw NamespacePathError("namespace \(text) is deeper than \(Self.maximumDepth) levels")
        }
        self.init(path: String(pathText), owner: owner)
    }

    /// The names from the root down.
    public var segments: [String] { path.split(separator: "/").map(String.init) }

    /// `path` or `path@owner`.
    public var description: String { owner.map { path + "@" + $0 } ?? path }

    static func isNameCharacter(_ scalar: Unicode.Scalar) -> Bool {
        ("a"..."z").contains(scalar) || ("A"..."Z").contains(scalar) || ("0"..."9").contains(scalar)
    }
}

public struct NamespacePathError: Error, Sendable, Equatable, CustomStringConvertible {
    public var message: String
    public init(_ message: String) { self.message = message }
    public var description: String { message }
}
