import ArgumentParser
import DjinnQueue
import DjinnRedis
import Foundation

private let helpNames: NameSpecification = [.short, .long, .customLong("help", withSingleDash: true)]

/// `djinnctl queues -config FILE [-watch] [-interval 2s]`: the monitoring view.
struct Queues: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Show every queue's ready, scheduled, in-flight and dead jobs, consumers and oldest ready age.",
        discussion: """
            Queues are found by their keys in Redis (builds_*, jobs, …). The oldest ready age is known \
            for jobs this implementation enqueued; jobs from a Go producer show "-".
            """,
        helpNames: helpNames)

    @OptionGroup var options: ConfigOption

    @Flag(name: [.customLong("watch", withSingleDash: true), .customLong("watch")],
          help: "Refresh until interrupted.")
    var watch = false

    @Option(name: [.customLong("interval", withSingleDash: true), .customLong("interval")],
            help: ArgumentHelp("Seconds between refreshes with -watch.", valueName: "seconds"))
    var interval: Double = 2

    func validate() throws {
        guard interval > 0 else { throw ValidationError("-interval must be positive") }
    }

    func run() async throws {
        try await withRedis(config: options.config) { client in
            let inspector = QueueInspector(client: client)
            repeat {
                let table = QueueTable.render(try await inspector.stats())
                if watch { print("\u{1B}[H\u{1B}[2J", terminator: "") }
                print(table, terminator: "")
                if watch { try await Task.sleep(for: .milliseconds(Int(interval * 1000))) }
            } while watch
        }
    }
}

/// Renders `djinnctl queues` output: one row per queue, aligned columns.
enum QueueTable {
    static let header = ["QUEUE", "READY", "SCHEDULED", "IN FLIGHT", "DEAD", "CONSUMERS", "OLDEST READY"]

    static func render(_ stats: [QueueStats]) -> String {
        var rows = [header]
        for s in stats.sorted(by: { $0.queue < $1.queue }) {
            rows.append([s.queue, String(s.ready), String(s.scheduled), String(s.inFlight), String(s.dead),
                         "\(s.liveConsumers)/\(s.consumers)", s.oldestReadyAge.map(age) ?? "-"])
        }
        if stats.isEmpty { return "no queues\n" }
        var widths = [Int](repeating: 0, count: header.count)
        for row in rows { for (i, cell) in row.enumerated() { widths[i] = max(widths[i], cell.count) } }
        return rows.map { row in
            row.enumerated().map { i, cell in
                i == row.count - 1 ? cell : cell.padding(toLength: widths[i], withPad: " ", startingAt: 0)
            }.joined(separator: "  ")
        }.joined(separator: "\n") + "\n"
    }

    /// `350ms`, `12s`, `4m05s`, `2h03m`.
    static func age(_ d: Duration) -> String {
        let ms = d.components.seconds * 1000 + d.components.attoseconds / 1_000_000_000_000_000
        if ms < 1000 { return "\(ms)ms" }
        let s = ms / 1000
        if s < 60 { return "\(s)s" }
        if s < 3600 { return String(format: "%dm%02ds", s / 60, s % 60) }
        return String(format: "%dh%02dm", s / 3600, (s % 3600) / 60)
    }
}

/// `djinnctl dead list|show|retry|purge QUEUE [ID]`.
struct Dead: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Inspect and act on a queue's dead jobs.",
        subcommands: [DeadList.self, DeadShow.self, DeadRetry.self, DeadPurge.self],
        helpNames: helpNames)
}

struct DeadList: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "list", abstract: "List dead jobs: id, attempts, when it died, last error.", helpNames: helpNames)

    @OptionGroup var options: ConfigOption
    @Argument(help: "The queue, e.g. builds_os or jobs.") var queue: String
    @Option(name: [.customLong("limit", withSingleDash: true), .customLong("limit")], help: "At most this many.")
    var limit: Int = 100

    func run() async throws {
        try await withRedis(config: options.config) { client in
            let jobs = try await QueueInspector(client: client).deadJobs(queue: queue, offset: 0, limit: limit)
            if jobs.isEmpty { print("no dead jobs in \(queue)"); return }
            for job in jobs {
                let attempt = job.attempt.map(String.init) ?? "-"
                print("\(job.id)  attempt \(attempt)  died \(iso(job.diedAt))  \(job.lastError ?? "-")")
            }
        }
    }
}

struct DeadShow: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "show", abstract: "Show one dead job: envelope, payload and last error.", helpNames: helpNames)

    @OptionGroup var options: ConfigOption
    @Argument var queue: String
    @Argument var id: String

    func run() async throws {
        try await withRedis(config: options.config) { client in
            guard let job = try await QueueInspector(client: client).deadJob(queue: queue, id: id) else {
                throw CLIError("no dead job \(id) in \(queue)")
            }
            print("id:         \(job.id)")
            print("died:       \(iso(job.diedAt))")
            print("last error: \(job.lastError ?? "-")")
            print("deaths:     \(job.deaths) (consumers that died holding it)")
            if let envelope = job.envelope {
                print("attempt:    \(envelope.attempt)")
                print("payload:    \(envelope.data.count) bytes")
                print(hexDump(envelope.data))
            } else if let error = job.decodeError {
                print("message:    undecodable (\(error)), \(job.message?.count ?? 0) bytes")
                if let message = job.message { print(hexDump(message)) }
            } else {
                print("message:    missing")
            }
        }
    }
}

struct DeadRetry: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "retry", abstract: "Put a dead job back on its queue with its attempts reset.", helpNames: helpNames)

    @OptionGroup var options: ConfigOption
    @Argument var queue: String
    @Argument var id: String

    func run() async throws {
        try await withRedis(config: options.config) { client in
            guard try await QueueInspector(client: client).retryDeadJob(queue: queue, id: id) else {
                throw CLIError("no dead job \(id) in \(queue)")
            }
            print("requeued \(id) on \(queue)")
        }
    }
}

struct DeadPurge: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "purge", abstract: "Delete one dead job, or every dead job of the queue without an ID.",
        helpNames: helpNames)

    @OptionGroup var options: ConfigOption
    @Argument var queue: String
    @Argument var id: String?

    func run() async throws {
        try await withRedis(config: options.config) { client in
            let inspector = QueueInspector(client: client)
            if let id {
                guard try await inspector.purgeDeadJob(queue: queue, id: id) else {
                    throw CLIError("no dead job \(id) in \(queue)")
                }
                print("purged \(id) from \(queue)")
            } else {
                print("purged \(try await inspector.purgeDeadJobs(queue: queue)) dead job(s) from \(queue)")
            }
        }
    }
}

private func iso(_ date: Date) -> String {
    ISO8601DateFormatter().string(from: date)
}

/// 16 bytes per line: offset, hex, printable ASCII.
func hexDump(_ bytes: [UInt8]) -> String {
    var lines: [String] = []
    var offset = 0
    while offset < bytes.count {
        let row = bytes[offset..<min(offset + 16, bytes.count)]
        let hex = row.map { String(format: "%02x", $0) }.joined(separator: " ")
        let text = String(row.map { (0x20...0x7e).contains($0) ? Character(UnicodeScalar($0)) : "." })
        lines.append(String(format: "%08x  ", offset) + hex.padding(toLength: 47, withPad: " ", startingAt: 0) + "  " + text)
        offset += 16
    }
    return lines.joined(separator: "\n")
}
