import DjinnTesting
import Foundation
import Testing

@Suite struct DjinnctlCronTests {
    @Test(arguments: [["cron", "-h"], ["cron", "add", "-h"], ["cron", "list", "-help"], ["cron", "rm", "--help"]])
    func everyCronCommandHasHelp(_ arguments: [String]) async throws {
        let result = try await Djinnctl.run(arguments)
        #expect(result.status == 0, "\(result.stderr)")
        #expect(result.stdout.contains("USAGE: djinnctl cron"))
    }

    @Test func addListRemove() async throws {
        try await CtlFixture.with { f in
            _ = try await f.djinnctl("user", "add", "-config", f.config, "alice", "alice@example.com")
            _ = try await f.djinnctl("user", "add", "-config", f.config, "bob", "bob@example.com")
            let manifest = try f.write("m.yml", manifestText)
            let added = try await f.djinnctl(
                "cron", "add", "-config", f.config, "-user", "alice", "-name", "nightly build", "-schedule", "daily", manifest)
            #expect(added.status == 0, "\(added.stderr)")
            #expect(added.stdout.hasPrefix("cron 1 nightly build added (daily), next run "))
            #expect(added.stdout.hasSuffix(" 00:00:00 \(Self.tomorrowYear) UTC\n"))
            let weekly = try await f.djinnctl(
                "cron", "add", "-config=\(f.config)", "-user", "bob", "-name", "weekly", "-schedule", "weekly", manifest)
            #expect(weekly.stdout.hasPrefix("cron 2 weekly added (weekly), next run Mon "), "\(weekly.stderr)")

            // Stored as the server stores crons: owner and author the user, the manifest text as given.
            let rows = try await f.rows("""
                SELECT id, user_id, author_id, namespace_id, name, schedule, manifest = $1, prev_run,
                       next_run = (date_trunc('day', NOW() AT TIME ZONE 'UTC') + interval '1 day')
                FROM cron ORDER BY id LIMIT 1
                """, [manifestText])
            #expect(rows == [["1", "1", "1", nil, "nightly build", "daily", "t", nil, "t"]])

            let all = try await f.djinnctl("cron", "list", "-config", f.config)
            #expect(all.status == 0)
            let lines = all.stdout.split(separator: "\n").map(String.init)
            #expect(lines.count == 3)
            #expect(lines[0].hasPrefix("ID  NAME           SCHEDULE  USER   NEXT RUN (UTC)"))
            #expect(lines[1].hasPrefix("1   nightly build  daily     alice  "))
            #expect(lines[1].hasSuffix("  -"))
            #expect(lines[2].hasPrefix("2   weekly         weekly    bob    "))
            let bobs = try await f.djinnctl("cron", "list", "-config", f.config, "-user", "bob")
            #expect(bobs.stdout.split(separator: "\n").count == 2 && bobs.stdout.contains("weekly"))

            // rm by name, by id; only the user's own crons.
            let notHers = try await f.djinnctl("cron", "rm", "-config", f.config, "-user", "alice", "2")
            #expect(notHers.status == 1 && notHers.stderr.contains("alice has no cron 2"))
            let byName = try await f.djinnctl("cron", "rm", "-config", f.config, "-user", "alice", "nightly build")
            #expect(byName.status == 0 && byName.stdout == "cron 1 nightly build removed\n", "\(byName.stderr)")
            let byID = try await f.djinnctl("cron", "rm", "-config", f.config, "-user", "bob", "2")
            #expect(byID.status == 0 && byID.stdout == "cron 2 weekly removed\n")
            #expect(try await f.rows("SELECT count(*) FROM cron") == [["0"]])
        }
    }

    @Test func removingAnAmbiguousNameAsksForTheID() async throws {
        try await CtlFixture.with { f in
            _ = try await f.djinnctl("user", "add", "-config", f.config, "alice", "alice@example.com")
            let manifest = try f.write("m.yml", manifestText)
            for _ in 0..<2 {
                _ = try await f.djinnctl("cron", "add", "-config", f.config, "-user", "alice", "-name", "twin", "-schedule", "monthly", manifest)
            }
            let result = try await f.djinnctl("cron", "rm", "-config", f.config, "-user", "alice", "twin")
            #expect(result.status == 1)
            #expect(result.stderr.contains("alice has 2 crons named twin (ids 1, 2); remove one by id"))
        }
    }

    @Test func addRejectsBadInput() async throws {
        try await CtlFixture.with { f in
            _ = try await f.djinnctl("user", "add", "-config", f.config, "alice", "alice@example.com")
            let good = try f.write("m.yml", manifestText)
            let bad = try f.write("bad.yml", "driver:\n  type: kvm\n")
            let invalid = try await f.djinnctl("cron", "add", "-config", f.config, "-user", "alice", "-name", "x", "-schedule", "daily", bad)
            #expect(invalid.status == 1)
            #expect(invalid.stderr.contains("\(bad):2:"))
            let schedule = try await f.djinnctl("cron", "add", "-config", f.config, "-user", "alice", "-name", "x", "-schedule", "hourly", good)
            #expect(schedule.status != 0 && schedule.stderr.contains("-schedule must be daily, weekly or monthly, not hourly"))
            let user = try await f.djinnctl("cron", "add", "-config", f.config, "-user", "nobody", "-name", "x", "-schedule", "daily", good)
            #expect(user.status == 1 && user.stderr.contains("no user nobody"))
            let missing = try await f.djinnctl("cron", "add", "-config", f.config, "-user", "alice", "-name", "x", "-schedule", "daily", f.directory.path + "/none.yml")
            #expect(missing.status == 1 && missing.stderr.contains("cannot read"))
            #expect(try await f.rows("SELECT count(*) FROM cron") == [["0"]])
        }
    }

    static var tomorrowYear: Int {
        var calendar = Calendar(identifier: .gregorian)
        calendar.timeZone = TimeZone(identifier: "UTC")!
        return calendar.component(.year, from: Date() + 86_400)
    }
}
