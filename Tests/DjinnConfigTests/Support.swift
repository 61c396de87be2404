import Testing
@testable import DjinnConfig

/// Loads `source` as FILE from memory, with `others` beside it.
func loadWorker(
    _ source: String, file: String = "worker.conf", others: [String: String] = [:],
    environment: [String: String] = [:]
) throws(ConfigError) -> Loaded<WorkerSettings> {
    try WorkerSettings.load(path: file, environment: environment, fileSystem: memory(file, source, others))
}

func loadConsumer(
    _ source: String, file: String = "consumer.conf", others: [String: String] = [:],
    environment: [String: String] = [:]
) throws(ConfigError) -> Loaded<ConsumerSettings> {
    try ConsumerSettings.load(path: file, environment: environment, fileSystem: memory(file, source, others))
}

func loadScheduler(
    _ source: String, file: String = "scheduler.conf", others: [String: String] = [:],
    environment: [String: String] = [:]
) throws(ConfigError) -> Loaded<SchedulerSettings> {
    try SchedulerSettings.load(path: file, environment: environment, fileSystem: memory(file, source, others))
}

func loadDriverFile(
    _ source: String, file: String = "driver.conf", others: [String: String] = [:],
    environment: [String: String] = [:]
) throws(ConfigError) -> Loaded<DriverFileSettings> {
    try DriverFileSettings.load(path: file, environment: environment, fileSystem: memory(file, source, others))
}

func memory(_ file: String, _ source: String, _ others: [String: String]) -> ConfigFileSystem {
    var files = others
    files[file] = source
    return .inMemory(files, currentDirectory: "/etc/djinn")
}

/// The diagnostics (as printed) of a load expected to fail; records an issue if it succeeds.
func failures<S>(
    _ load: () throws(ConfigError) -> Loaded<S>,
    sourceLocation: Testing.SourceLocation = #_sourceLocation
) -> [String] {
    do {
        let loaded = try load()
        Issue.record("expected the load to fail; warnings: \(loaded.warnings)", sourceLocation: sourceLocation)
        return []
    } catch {
        return error.diagnostics.map(\.description)
    }
}

/// Only the error lines of a failed load.
func errorLines<S>(
    _ load: () throws(ConfigError) -> Loaded<S>,
    sourceLocation: Testing.SourceLocation = #_sourceLocation
) -> [String] {
    failures(load, sourceLocation: sourceLocation).filter { !$0.contains(": warning: ") }
}

/// The syntax diagnostics of a single parsed source.
func syntaxErrors(_ source: String, file: String = "test.conf") -> [String] {
    ConfigParser.parse(source: source, file: file).diagnostics.map(\.description)
}

/// Required blocks for each daemon, to append to a snippet under test.
enum Minimal {
    static let services = """
        database { addr "localhost:5432" }
        redis { addr "localhost:6379" }

        """
    /// Everything the worker requires but `driver`.
    static let workerWithoutDriver = services + """
        store artifacts { type "file"; path "/var/lib/djinn/artifacts" }
        store objects { type "file"; path "/var/lib/djinn/objects" }

        """
    static let worker = workerWithoutDriver + "driver \"os\"\n"
    static let consumer = services + """
        store images { type "file"; path "/var/lib/djinn/images" }

        """
    static let scheduler = services
}
