/// Where something is in a config file: 1-based line and 1-based byte column.
///
/// A column of 0 means "the whole line" and a line of 0 "the whole file"; both are
/// left out of the description, as in Go's config library.
public struct SourceLocation: Sendable, Hashable, CustomStringConvertible {
    public var file: String
    public var line: Int
    public var column: Int

    public init(file: String, line: Int, column: Int) {
        self.file = file
        self.line = line
        self.column = column
    }

    /// `FILE:LINE:COL`, `FILE:LINE` or `FILE`.
    public var description: String {
        guard line > 0 else { return file }
        guard column > 0 else { return "\(file):\(line)" }
        return "\(file):\(line):\(column)"
    }

    /// The start of `file`, where problems with the file as a whole are reported.
    public static func start(of file: String) -> SourceLocation {
        SourceLocation(file: file, line: 1, column: 1)
    }
}

/// One message about a config file.
public struct ConfigDiagnostic: Sendable, Hashable, CustomStringConvertible {
    public enum Severity: Sendable, Hashable {
        case error
        case warning
    }

    public var severity: Severity
    public var location: SourceLocation
    public var message: String

    public init(severity: Severity, location: SourceLocation, message: String) {
        self.severity = severity
        self.location = location
        self.message = message
    }

    public static func error(_ message: String, at location: SourceLocation) -> ConfigDiagnostic {
        ConfigDiagnostic(severity: .error, location: location, message: message)
    }

    public static func warning(_ message: String, at location: SourceLocation) -> ConfigDiagnostic {
        ConfigDiagnostic(severity: .warning, location: location, message: message)
    }

    /// `FILE:LINE:COL: MESSAGE` or `FILE:LINE:COL: warning: MESSAGE`.
    public var description: String {
        switch severity {
        case .error: "\(location): \(message)"
        case .warning: "\(location): warning: \(message)"
        }
    }
}

/// A config file that could not be loaded. Holds every diagnostic found, warnings
/// included, in the order they were found; at least one is an error.
public struct ConfigError: Error, Sendable, CustomStringConvertible {
    public var diagnostics: [ConfigDiagnostic]

    public init(diagnostics: [ConfigDiagnostic]) {
        self.diagnostics = diagnostics
    }

    /// Only the errors.
    public var errors: [ConfigDiagnostic] { diagnostics.filter { $0.severity == .error } }

    /// Only the warnings.
    public var warnings: [ConfigDiagnostic] { diagnostics.filter { $0.severity == .warning } }

    /// One diagnostic per line.
    public var description: String {
        diagnostics.map(\.description).joined(separator: "\n")
    }
}

/// Settings decoded from a config file, with what was noticed on the way.
public struct Loaded<Settings: Sendable>: Sendable {
    public var settings: Settings
    public var warnings: [ConfigDiagnostic]
    /// The main file first, then every included file in the order it was read.
    public var files: [String]

    public init(settings: Settings, warnings: [ConfigDiagnostic], files: [String]) {
        self.settings = settings
        self.warnings = warnings
        self.files = files
    }
}

extension Array where Element == ConfigDiagnostic {
    var containsError: Bool { contains { $0.severity == .error } }
}
