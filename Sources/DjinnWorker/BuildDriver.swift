#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// Where a driver writes what it prints: a job's output (or, for creation, the create-driver
/// job's), which also goes to the build output. Masked and sanitised on the way.
public struct DriverOutput: Sendable {
    let sink: OutputSink
    let stream: OutputStream

    init(sink: OutputSink, stream: OutputStream) {
        self.sink = sink
        self.stream = stream
    }

    public func write(_ bytes: [UInt8]) {
        sink.write(bytes, to: stream)
    }

    public func write(_ text: String) {
        sink.write(text, to: stream)
    }
}

/// An SSH key to place in the build environment (decrypted).
public struct DriverKey: Sendable, Equatable {
    public var name: String
    public var content: [UInt8]
    /// Text for the ssh config (spec §4.2).
    public var config: String
    /// Where Djinn places it (`/root/.ssh/<name>`); the os driver uses its last component.
    public var location: String

    public init(name: String, content: [UInt8], config: String, location: String) {
        self.name = name
        self.content = content
        self.config = config
        self.location = location
    }
}

/// An object to copy into the build environment.
public struct DriverObject: Sendable, Equatable {
    /// The object's name (for the output line).
    public var name: String
    /// Where the manifest asked for it (spec §4.2, intended form).
    public var destination: String
    /// The file in the objects store, or why there is none.
    public var file: Result<String, DriverError>

    public init(name: String, destination: String, file: Result<String, DriverError>) {
        self.name = name
        self.destination = destination
        self.file = file
    }
}

public struct DriverError: Error, Equatable, CustomStringConvertible {
    public var description: String

    public init(_ description: String) {
        self.description = description
    }
}

/// What a driver is created with.
public struct DriverSetup: Sendable {
    /// `KEY=VALUE` for each build variable, in order (later ones win).
    public var environment: [String]
    public var keys: [DriverKey]
    public var objects: [DriverObject]

    public init(environment: [String], keys: [DriverKey], objects: [DriverObject]) {
        self.environment = environment
        self.keys = keys
        self.objects = objects
    }
}

/// One job for the driver to run.
public struct DriverJob: Sendable, Equatable {
    public var id: Int64
    public var name: String
    public var commands: [String]

    public init(id: Int64, name: String, commands: [String]) {
        self.id = id
        self.name = name
        self.commands = commands
    }
}

/// How a job's script ended.
public struct JobOutcome: Sendable, Equatable {
    public var success: Bool
    /// The recorded error (`exit status 2`), if any.
    public var errorText: String?

    public static let passed = JobOutcome(success: true, errorText: nil)

    public static func failed(_ errorText: String?) -> JobOutcome {
        JobOutcome(success: false, errorText: errorText)
    }

    public init(success: Bool, errorText: String?) {
        self.success = success
        self.errorText = errorText
    }
}

/// A file open for reading (an artifact), closed when released.
public final class OpenFile: Sendable {
    public let descriptor: Int32
    /// Its size when it was opened.
    public let size: Int64

    public init(descriptor: Int32, size: Int64) {
        self.descriptor = descriptor
        self.size = size
    }

    deinit {
        close(descriptor)
    }
}

/// A build environment (spec §5): created once per build, runs the jobs one at a time, hands
/// out artifact files, and is destroyed at the end whatever happened.
///
/// Calls for one build are made one at a time, except `abort()`, which may come while
/// `create` or `execute` runs and must make it return promptly.
public protocol BuildDriver: Sendable {
    /// Sets up the environment: variables, keys, objects. Progress goes to `output`;
    /// placement errors are printed and do not fail creation (spec §5.1).
    func create(_ setup: DriverSetup, output: DriverOutput) async throws

    /// Runs one job's commands as one script, streaming its output.
    func execute(_ job: DriverJob, output: DriverOutput) async throws -> JobOutcome

    /// The files an artifact's source names, in order: for drivers that glob (ssh, qemu:
    /// spec §5.3) every regular file a pattern matches (none is an error); otherwise the source
    /// itself, which is the default.
    func artifactFiles(_ source: String) async throws -> [ArtifactFile]

    /// Opens one artifact file (a path in the build environment, taken literally).
    func openArtifact(_ source: String) async throws -> OpenFile

    /// Stops everything running in the environment now; returns once it is gone.
    func abort() async

    /// Removes the environment. Called once, last, after `abort()`.
    func destroy() async
}

/// One file named by an artifact's source.
public struct ArtifactFile: Sendable, Equatable {
    public var path: String
    /// Whether `path` came from matching a pattern: a `*` in the destination name is then
    /// replaced by its base name.
    public var matched: Bool

    public init(path: String, matched: Bool) {
        self.path = path
        self.matched = matched
    }
}

extension BuildDriver {
    public func artifactFiles(_ source: String) async throws -> [ArtifactFile] {
        [ArtifactFile(path: source, matched: false)]
    }
}

/// The driver for a worker whose driver this worker cannot run yet: every build fails at
/// driver creation with the reason, rather than staying queued or running forever.
public struct UnavailableDriver: BuildDriver {
    public let reason: String

    public init(reason: String) {
        self.reason = reason
    }

    public func create(_ setup: DriverSetup, output: DriverOutput) async throws {
        throw DriverError(reason)
    }

    public func execute(_ job: DriverJob, output: DriverOutput) async throws -> JobOutcome {
        .failed(reason)
    }

    public func openArtifact(_ source: String) async throws -> OpenFile {
        throw DriverError(reason)
    }

    public func abort() async {}
    public func destroy() async {}
}
