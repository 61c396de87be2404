/// A build manifest (`.djinn.yml`, spec §9): what to run, on which driver, with which
/// environment, objects and sources. Parse one with `Manifest(parsing:file:)`; `encoded()`
/// gives the text Djinn stores in `builds.manifest` and `cron.manifest`, which parses back
/// to an equal value.
public struct Manifest: Sendable, Equatable {
    /// `path` or `path@owner`; empty when the build is not in a namespace. See `namespacePath`.
    public var namespace: String
    /// The driver block as written (`type` always present and valid after parsing; for qemu,
    /// `arch` defaults to `x86_64`). Its JSON becomes `build_drivers.config`.
    public var driver: [String: String]
    /// `KEY=VALUE` entries, in order.
    public var env: [EnvironmentEntry]
    /// Object name → destination path in the build environment.
    public var objects: Passthrough
    public var sources: [Source]
    /// Stage names in execution order.
    public var stages: [String]
    /// Stages whose failures give `passed_with_failures` instead of failing the build.
    public var allowFailures: [String]
    public var jobs: [Job]

    public init(
        namespace: String = "", driver: [String: String] = [:], env: [EnvironmentEntry] = [],
        objects: Passthrough = Passthrough(), sources: [Source] = [], stages: [String] = [],
        allowFailures: [String] = [], jobs: [Job] = []
    ) {
        self.namespace = namespace
        self.driver = driver
        self.env = env
        self.objects = objects
        self.sources = sources
        self.stages = stages
        self.allowFailures = allowFailures
        self.jobs = jobs
    }

    /// The driver's `type` (nil only for a manifest built by hand without a valid one).
    public var driverType: DriverType? { driver["type"].flatMap(DriverType.init(rawValue:)) }

    /// The parsed `namespace` (nil when there is none or it does not parse).
    public var namespacePath: NamespacePath? {
        guard !namespace.isEmpty else { return nil }
        return try? NamespacePath(parsing: namespace)
    }
}

/// The drivers a manifest can ask for (the `driver_type` enum of the schema).
public enum DriverType: String, Sendable, CaseIterable {
    case ssh, qemu, docker, os
}

/// One `env` entry, `KEY=VALUE` split at the first `=`.
public struct EnvironmentEntry: Sendable, Equatable {
    public var key: String
    public var value: String

    public init(key: String, value: String) {
        self.key = key
        self.value = value
    }

    /// The entry as written in a manifest.
    public var text: String { key + "=" + value }
}

/// A map written as a list of `"A => B"` entries (manifest `objects` and job `artifacts`).
///
/// Without `=>` the value is the last `/`-separated element of A. A repeated key keeps its
/// last value. Order is not significant: entries are encoded sorted.
public struct Passthrough: Sendable, Equatable {
    public var mapping: [String: String]

    public init(_ mapping: [String: String] = [:]) {
        self.mapping = mapping
    }

    public var isEmpty: Bool { mapping.isEmpty }

    /// The entries in encoding order: sorted by their `A => B` text, byte-wise (as Go sorts).
    public var sortedEntries: [(source: String, destination: String)] {
        mapping.map { (source: $0.key, destination: $0.value) }
            .sorted { Array(Self.text($0.source, $0.destination).utf8).lexicographicallyPrecedes(Array(Self.text($1.source, $1.destination).utf8)) }
    }

    /// `A => B`, as stored.
    public static func text(_ source: String, _ destination: String) -> String {
        source + " => " + destination
    }

    /// Parses one entry; nil when either side would be empty.
    public static func parseEntry(_ text: String) -> (source: String, destination: String)? {
        let source: String
        let destination: String
        if let arrow = text.range(of: "=>") {
            source = text[..<arrow.lowerBound].trimmingSpaces()
            destination = text[arrow.upperBound...].trimmingSpaces()
        } else {
            source = text.trimmingSpaces()
            destination = baseName(source)
        }
        guard !source.isEmpty, !destination.isEmpty else { return nil }
        return (source, destination)
    }
}

/// A repository to clone into the build environment: `URL [REF] [=> DIR]`.
public struct Source: Sendable, Equatable {
    public var url: String
    /// Empty means "whatever the clone checked out" (no default branch, as in Djinn).
    public var ref: String
    public var dir: String

    public init(url: String, ref: String = "", dir: String) {
        self.url = url
        self.ref = ref
        self.dir = dir
    }

    /// `URL[ REF][ => DIR]`, as stored.
    public var text: String {
        var text = url
        if !ref.isEmpty { text += " " + ref }
        if !dir.isEmpty { text += " => " + dir }
        return text
    }

    /// The directory a URL clones into by default: its last `/`-separated segment without `.git`
    /// (`git@github.com:x/mgrt.git` → `mgrt`).
    public static func defaultDirectory(for url: String) -> String {
        let last = url.split(separator: "/", omittingEmptySubsequences: false).last.map(String.init) ?? url
        return last.hasSuffix(".git") ? String(last.dropLast(4)) : last
    }
}

/// One job of a stage.
public struct Job: Sendable, Equatable {
    public var stage: String
    /// As written; empty means the default `<stage>.<n>` given at submission.
    public var name: String
    public var commands: [String]
    /// Path in the build environment → artifact name.
    public var artifacts: Passthrough

    public init(stage: String, name: String = "", commands: [String] = [], artifacts: Passthrough = Passthrough()) {
        self.stage = stage
        self.name = name
        self.commands = commands
        self.artifacts = artifacts
    }
}

/// The last element of a slash-separated path, as Go's `filepath.Base`: trailing slashes
/// ignored, `/` for a path of slashes only.
func baseName(_ path: String) -> String {
    guard !path.isEmpty else { return "." }
    var trimmed = Substring(path)
    while trimmed.count > 1, trimmed.hasSuffix("/") { trimmed = trimmed.dropLast() }
    if trimmed == "/" { return "/" }
    if let slash = trimmed.lastIndex(of: "/") { return String(trimmed[trimmed.index(after: slash)...]) }
    return String(trimmed)
}

extension StringProtocol {
    /// Without leading and trailing spaces, tabs and line breaks.
    func trimmingSpaces() -> String {
        let isSpace: (Character) -> Bool = { $0 == " " || $0 == "\t" || $0 == "\n" || $0 == "\r" }
        guard let first = firstIndex(where: { !isSpace($0) }), let last = lastIndex(where: { !isSpace($0) }) else {
            return ""
        }
        return String(self[first...last])
    }
}
