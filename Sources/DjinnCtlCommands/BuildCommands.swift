import ArgumentParser
import DjinnBuilds
import DjinnManifest
import DjinnPostgres
import Foundation

/// `djinnctl build submit|kill|show`.
struct BuildCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "build",
        abstract: "Submit, follow, show and kill builds.",
        subcommands: [SubmitBuild.self, KillBuild.self, ShowBuild.self],
        helpNames: [.short, .long, .customLong("help", withSingleDash: true)])
}

/// `djinnctl build submit -config FILE -user NAME [-driver-list LIST] [-follow] MANIFEST`.
struct SubmitBuild: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "submit",
        abstract: "Create a build from a manifest and queue it, as Djinn's server does.",
        discussion: """
            The build is created in one transaction (namespace, number, trigger, tags, driver, \
            variables, keys, objects, stages, jobs, artifacts) and queued on builds_<driver>. \
            It prints the build's id and number. With -follow it then prints each job's status \
            and output until the build finishes, and exits 0 only if it passed.
            """,
        helpNames: [.short, .long, .customLong("help", withSingleDash: true)])

    @OptionGroup var options: ConfigOption

    @Option(
        name: [.customLong("user", withSingleDash: true), .customLong("user")],
        help: ArgumentHelp("The submitting user's username.", valueName: "name"))
    var user: String

    @Option(
        name: [.customLong("driver-list", withSingleDash: true), .customLong("driver-list")],
        help: ArgumentHelp(
            "Comma-separated queue keys builds may go to (default: docker,os,qemu-x86_64,ssh).", valueName: "list"))
    var driverList: String?

    @Option(
        name: [.customLong("tag", withSingleDash: true), .customLong("tag")],
        help: ArgumentHelp("A tag for the build (repeatable).", valueName: "tag"))
    var tags: [String] = []

    @Option(
        name: [.customLong("comment", withSingleDash: true), .customLong("comment")],
        help: ArgumentHelp("The trigger's comment.", valueName: "text"))
    var comment: String = ""

    @Option(
        name: [.customLong("host", withSingleDash: true), .customLong("host")],
        help: ArgumentHelp("The payload's Host: the base URL the worker links back to.", valueName: "url"))
    var host: String = "djinnctl"

    @Flag(
        name: [.customLong("follow", withSingleDash: true), .customLong("follow")],
        help: "Print each job's status and output until the build finishes; exit non-zero unless it passed.")
    var follow = false

    @Argument(help: ArgumentHelp("The manifest (.djinn.yml).", valueName: "manifest"))
    var manifestPath: String

    static let defaultDrivers: Set<String> = ["docker", "os", "qemu-x86_64", "ssh"]

    func enabledDrivers() throws -> Set<String> {
        guard let driverList else { return Self.defaultDrivers }
        let keys = driverList.split(separator: ",").map { $0.trimmingCharacters(in: .whitespaces) }.filter { !$0.isEmpty }
        for key in keys where !BuildQueue.knownKeys.contains(key) || BuildQueue.driverType(forKey: key) == nil {
            throw CLIError("-driver-list: unknown driver \(key) (known: \(Self.defaultDrivers.sorted().joined(separator: ", ")))")
        }
        return Set(keys)
    }

    func run() async throws {
        let enabled = try enabledDrivers()
        let text: String
        do {
            text = try String(contentsOfFile: manifestPath, encoding: .utf8)
        } catch {
            throw CLIError("cannot read \(manifestPath): \(error.localizedDescription)")
        }
        let manifest: Manifest
        do {
            manifest = try Manifest(parsing: text, file: manifestPath)
        } catch {
            throw CLIError(error.description)
        }

        let status: BuildStatus? = try await withDatabase(config: options.config) { pool in
            try await withRedis(config: options.config) { redis in
                guard let submitter = try await UserStore(pool).find(username: user) else {
                    throw CLIError("no user \(user) (add one with djinnctl user add)")
                }
                let builds = BuildSubmitter(
                    pool: pool, enqueuer: QueueBuildEnqueuer(client: redis, logger: quietLogger()), enabledDrivers: enabled,
                    host: host, logger: quietLogger())
                let build: CreatedBuild
                do {
                    build = try await builds.submit(BuildRequest(
                        userID: submitter.id, manifest: manifest, trigger: .manual(by: submitter, comment: comment), tags: tags))
                } catch let error as BuildSubmissionError {
                    throw CLIError(error.description)
                }
                Terminal.write("build \(build.id) #\(build.number) queued on \(build.queue)\n")
                guard follow else { return nil }
                var printer = FollowPrinter()
                let status = try await BuildFollower.follow(buildID: build.id, store: BuildStore(pool)) { event in
                    Terminal.write(printer.render(event))
                }
                Terminal.write(printer.finish(buildID: build.id, number: build.number, status: status))
                return status
            }
        }
        if let status, status != .passed { throw ExitCode(1) }
    }
}

/// How `-follow` shows events: a `==>` line per status change, output as written. At the end,
/// only what the build's output adds to the jobs' output already shown (the runner's `error:`
/// lines): the build output repeats every job's output, which would otherwise print twice.
struct FollowPrinter {
    private var atLineStart = true
    /// Each job's output as shown, in the order the jobs first printed.
    private var shown: [(job: String, text: String)] = []

    mutating func render(_ event: FollowEvent) -> String {
        switch event {
        case .jobStatus(let stage, let job, let status):
            return line("==> \(stage)/\(job): \(status.rawValue)")
        case .jobOutput(let stage, let job, let text):
            let key = stage + "/" + job
            if shown.last?.job == key {
                shown[shown.count - 1].text += text
            } else {
                shown.append((key, text))
            }
            atLineStart = text.hasSuffix("\n")
            return text
        case .finished(_, let output):
            guard let output else { return "" }
            let rest = Self.remainder(of: output, without: shown.map(\.text))
                .trimmingCharacters(in: .whitespacesAndNewlines)
            return rest.isEmpty ? "" : line(rest)
        }
    }

    mutating func finish(buildID: Int64, number: Int64, status: BuildStatus) -> String {
        line("build \(buildID) #\(number) \(status.rawValue)")
    }

    /// `output` without each of `pieces`, taken out in order where found (a piece not found,
    /// e.g. cut differently by the output bounds, stays).
    static func remainder(of output: String, without pieces: [String]) -> String {
        var rest = ""
        var position = output.startIndex
        for piece in pieces where !piece.isEmpty {
            guard let found = output.range(of: piece, range: position..<output.endIndex) else { continue }
            rest += output[position..<found.lowerBound]
            position = found.upperBound
        }
        return rest + output[position...]
    }

    private mutating func line(_ text: String) -> String {
        defer { atLineStart = true }
        return (atLineStart ? "" : "\n") + text + "\n"
    }
}

/// `djinnctl build kill -config FILE ID`.
struct KillBuild: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "kill",
        abstract: "Kill a running build: publish its secret on kill-<id> for the worker running it.",
        helpNames: [.short, .long, .customLong("help", withSingleDash: true)])

    @OptionGroup var options: ConfigOption

    @Argument(help: ArgumentHelp("The build's id.", valueName: "id"))
    var id: Int64

    func run() async throws {
        let outcome = try await withDatabase(config: options.config) { pool in
            try await withRedis(config: options.config) { redis in
                try await BuildStore(pool).kill(buildID: id, redis: redis)
            }
        }
        switch outcome {
        case nil:
            throw CLIError("no build with id \(id)")
        case .notRunning(let status)?:
            throw CLIError("build \(id) is not running (it is \(status.rawValue))")
        case .sent(let receivers)?:
            Terminal.write("kill sent to build \(id) (\(receivers) worker\(receivers == 1 ? "" : "s") listening)\n")
        }
    }
}

/// `djinnctl build show -config FILE ID`.
struct ShowBuild: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "show",
        abstract: "Print a build: status, trigger, tags, driver, stages, jobs and artifacts (no secrets).",
        helpNames: [.short, .long, .customLong("help", withSingleDash: true)])

    @OptionGroup var options: ConfigOption

    @Argument(help: ArgumentHelp("The build's id.", valueName: "id"))
    var id: Int64

    func run() async throws {
        let details = try await withDatabase(config: options.config) { pool in
            try await BuildStore(pool).details(buildID: id)
        }
        guard let details else { throw CLIError("no build with id \(id)") }
        Terminal.write(Self.render(details))
    }

    static func render(_ build: BuildDetails) -> String {
        func time(_ date: Date?) -> String {
            guard let date else { return "-" }
            return String(PostgresTimestamp.format(date).prefix(19)) + " UTC"
        }
        var lines = ["build \(build.id) #\(build.number): \(build.status.rawValue)"]
        lines.append("owner:     \(build.owner.username)")
        if let namespace = build.namespace { lines.append("namespace: \(namespace)") }
        if let trigger = build.trigger {
            lines.append("trigger:   \(trigger.type.rawValue)" + (trigger.comment.isEmpty ? "" : ": \(trigger.comment)"))
        }
        if !build.tags.isEmpty { lines.append("tags:      \(build.tags.joined(separator: ", "))") }
        if let driver = build.driver { lines.append("driver:    \(driver.type) \(driver.config)") }
        if build.pinned { lines.append("pinned:    yes") }
        lines.append("created:   \(time(build.createdAt))")
        lines.append("started:   \(time(build.startedAt))")
        lines.append("finished:  \(time(build.finishedAt))")
        if let output = build.output, !output.isEmpty {
            lines.append("output:")
            lines += output.split(separator: "\n", omittingEmptySubsequences: false).map { "  " + $0 }
        }
        for stage in build.stages {
            lines.append("")
            lines.append("stage \(stage.name)" + (stage.canFail ? " (may fail)" : ""))
            let width = stage.jobs.map(\.name.count).max() ?? 0
            for job in stage.jobs {
                lines.append("  " + job.name.padding(toLength: width, withPad: " ", startingAt: 0) + "  " + job.status.rawValue)
            }
        }
        if !build.artifacts.isEmpty {
            lines.append("")
            lines.append("artifacts")
            for artifact in build.artifacts {
                let state = artifact.deleted ? "deleted" : artifact.size.map { "\($0) bytes" } ?? "not collected"
                lines.append("  \(artifact.jobName): \(artifact.source) => \(artifact.name) (\(state), hash \(artifact.hash))")
            }
        }
        return lines.joined(separator: "\n") + "\n"
    }
}
