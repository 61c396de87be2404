// Test-only helper (Tests/DjinnQueueTests/ProcessKillTests.swift): a queue consumer in a
// process of its own, so that a test can kill it with SIGKILL mid-job.
//
//     djinn-queue-probe <redis host:port> <queue> <started-file>
//
// Each job's id is appended to <started-file> (one per line) when its handler starts; the
// handler then sleeps for an hour. DJINN_REDIS_PASSWORD is used if set. Heartbeat 0.5 s,
// expiry 2 s, like the tests' consumers.
import DjinnQueue
import DjinnRedis
import Foundation
import Logging

let arguments = CommandLine.arguments
guard arguments.count == 4 else {
    FileHandle.standardError.write(Data("usage: djinn-queue-probe <redis host:port> <queue> <started-file>\n".utf8))
    exit(2)
}
let password = ProcessInfo.processInfo.environment["DJINN_REDIS_PASSWORD"] ?? ""
let configuration = try RedisConfiguration(addr: arguments[1], password: password)
let logger = Logger(label: "djinn-queue-probe") { _ in SwiftLogNoOpLogHandler() }
let client = try await RedisClient.connect(configuration, logger: logger)
let startedFile = arguments[3]

let options = QueueOptions(
    concurrency: 1, heartbeatInterval: .milliseconds(500), consumerExpiry: .seconds(2),
    custodianInterval: .milliseconds(300), schedulerInterval: .milliseconds(100), pollTimeout: .seconds(1))
let consumer = QueueConsumer(client: client, queue: arguments[2], options: options, logger: logger) { job in
    let descriptor = open(startedFile, O_WRONLY | O_APPEND | O_CREAT, 0o644)
    if descriptor >= 0 {
        let line = Array((job.id + "\n").utf8)
        _ = line.withUnsafeBytes { write(descriptor, $0.baseAddress, $0.count) }
        close(descriptor)
    }
    try await Task.sleep(for: .seconds(3600))
}
try await consumer.run()
