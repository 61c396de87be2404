import ArgumentParser
import DjinnConfig
import DjinnDaemon

/// A failure djinnctl reports as one line on stderr with exit status 1.
struct CLIError: Error, CustomStringConvertible {
    var description: String
    init(_ description: String) { self.description = description }
}

enum DjinnctlVersion {
    static var line: String { DjinnVersion.line(program: "djinnctl") }
}

/// The `database` block of any daemon's config file (config errors become a CLIError).
func loadDatabaseSettings(path: String) throws -> DatabaseSettings {
    do {
        return try DatabaseSettings.load(fromConfigAt: path)
    } catch {
        throw CLIError(error.description)
    }
}
