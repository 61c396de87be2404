/// One thing wrong with a manifest, where it is: 1-based line and column (columns count
/// Unicode scalars, as libyaml does).
public struct ManifestProblem: Sendable, Hashable, CustomStringConvertible {
    public var file: String
    public var line: Int
    public var column: Int
    public var message: String

    public init(file: String, line: Int, column: Int, message: String) {
        self.file = file
        self.line = line
        self.column = column
        self.message = message
    }

    /// `FILE:LINE:COL: MESSAGE`
    public var description: String { "\(file):\(line):\(column): \(message)" }
}

/// A manifest that cannot be used. Holds every problem found, in file order.
public struct ManifestError: Error, Sendable, Equatable, CustomStringConvertible {
    public var problems: [ManifestProblem]

    public init(problems: [ManifestProblem]) {
        self.problems = problems
    }

    /// One problem per line.
    public var description: String { problems.map(\.description).joined(separator: "\n") }
}
