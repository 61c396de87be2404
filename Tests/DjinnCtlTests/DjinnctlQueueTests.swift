import DjinnQueue
import DjinnRedis
import Foundation
import Testing

@Suite struct DjinnctlQueueTests {
    @Test func queuesShowsEachQueuesCounts() async throws {
        try await CtlFixture.with { f in
            let empty = try await f.djinnctl("queues", "-config", f.config)
            #expect(empty.status == 0, "\(empty.stderr)")
            #expect(empty.stdout == "no queues\n")

            let producer = QueueProducer(client: f.redis, queue: "builds_os")
            for n in 0..<3 { _ = try await producer.enqueue([UInt8(n)]) }
            _ = try await producer.enqueue([9], after: .seconds(3600))
            _ = try await QueueProducer(client: f.redis, queue: "jobs").enqueue([1])

            let result = try await f.djinnctl("queues", "-config", f.config)
            #expect(result.status == 0, "\(result.stderr)")
            let lines = result.stdout.split(separator: "\n").map { $0.split(separator: " ", omittingEmptySubsequences: true) }
            #expect(lines.count == 3)
            #expect(lines[0].joined(separator: " ") == "QUEUE READY SCHEDULED IN FLIGHT DEAD CONSUMERS OLDEST READY")
            #expect(Array(lines[1].prefix(6)) == ["builds_os", "3", "1", "0", "0", "0/0"])
            #expect(Array(lines[2].prefix(6)) == ["jobs", "1", "0", "0", "0", "0/0"])
        }
    }

    @Test func deadListShowRetryPurge() async throws {
        try await CtlFixture.with { f in
            let keys = QueueKeys(queue: "jobs")
            // Two dead jobs written the way a consumer leaves them: message, dead score, last error.
            for (id, error) in [("job-a", "boom a"), ("job-b", "boom b")] {
                let message = Envelope(id: id, data: Array("payload".utf8), attempt: 6).encoded()
                _ = try await f.redis.command(["HSET", keys.data, id, message])
                _ = try await f.redis.command(["ZADD", keys.dead, 1_700_000_000, id])
                _ = try await f.redis.command(["HSET", keys.errors, id, error])
            }

            let list = try await f.djinnctl("dead", "list", "-config", f.config, "jobs")
            #expect(list.status == 0, "\(list.stderr)")
            #expect(list.stdout.contains("job-a  attempt 6  died 2023-11-14T22:13:20Z  boom a"))
            #expect(list.stdout.contains("job-b"))

            let show = try await f.djinnctl("dead", "show", "-config", f.config, "jobs", "job-a")
            #expect(show.status == 0, "\(show.stderr)")
            #expect(show.stdout.contains("last error: boom a"))
            #expect(show.stdout.contains("payload:    7 bytes"))
            #expect(show.stdout.contains("payload"))

            let retry = try await f.djinnctl("dead", "retry", "-config", f.config, "jobs", "job-a")
            #expect(retry.status == 0, "\(retry.stderr)")
            #expect(try await f.redis.command(["LRANGE", keys.active, 0, -1]).array?.compactMap(\.string) == ["job-a"])
            #expect(try await f.redis.command(["ZSCORE", keys.dead, "job-a"]) == .null)

            let missing = try await f.djinnctl("dead", "retry", "-config", f.config, "jobs", "job-a")
            #expect(missing.status == 1)
            #expect(missing.stderr.contains("no dead job job-a in jobs"))

            let purge = try await f.djinnctl("dead", "purge", "-config", f.config, "jobs")
            #expect(purge.status == 0, "\(purge.stderr)")
            #expect(purge.stdout == "purged 1 dead job(s) from jobs\n")
            #expect(try await f.redis.command(["ZCARD", keys.dead]).int == 0)
        }
    }

    @Test(arguments: [["queues", "-h"], ["dead", "-h"], ["dead", "list", "-h"], ["dead", "show", "-h"],
                      ["dead", "retry", "-h"], ["dead", "purge", "-h"]])
    func everyQueueCommandHasHelp(_ arguments: [String]) async throws {
        let result = try await Djinnctl.run(arguments)
        #expect(result.status == 0)
        #expect(result.stdout.contains("USAGE:"))
    }
}
