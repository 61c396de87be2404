import DjinnBuilds
import DjinnJobs
import DjinnManifest
import DjinnPostgres
import DjinnSchema
import DjinnTesting
import Foundation
import Testing
@testable import DjinnScheduler

@Suite struct CronSchedulerTests {
    static let dueAt = utc("2023-11-07 00:00:00")
    static let now = utc("2023-11-07 00:00:30")

    @Test func aDueCronBecomesAQueuedBuildWithEveryRow() async throws {
        try await SchedulerFixture.with { f in
            let alice = try await f.addUser("alice")
            let cronID = try await f.addCron("nightly build", user: alice, nextRun: Self.dueAt)
            let later = try await f.addCron("tomorrow", user: alice, nextRun: Self.now + 1)
            let invokedAt = Self.now + 2
            let summary = try await f.scheduler(clock: { invokedAt }).runDue(now: Self.now)
            #expect(summary.submitted == 1 && summary.failed == 0 && summary.errors == 0 && summary.skipped == 0)

            let build = try #require(summary.outcomes.first.flatMap { if case .submitted(_, let build) = $0 { build } else { nil } })
            #expect(build.id == 1 && build.number == 1 && build.userID == alice.id && build.namespaceID == nil && build.queue == "builds_os")
            #expect(try await f.rows("SELECT user_id, namespace_id, number, status, output, manifest FROM builds") == [
                ["\(alice.id)", nil, "1", "queued", nil, try Manifest(parsing: osManifest, file: "x").encoded()],
            ])
            #expect(try await f.rows("SELECT build_id, provider_id, repo_id, type, comment, data FROM build_triggers") == [
                ["1", nil, nil, "schedule", "nightly build: Scheduled build, next run Tue Nov 7 00:00:00 2023",
                 #"{"email":"alice@example.com","username":"alice"}"#],
            ])
            #expect(try await f.rows("SELECT user_id, build_id, name FROM build_tags") == [["\(alice.id)", "1", "cron:nightly-build"]])
            #expect(try await f.rows("SELECT build_id, type, config FROM build_drivers") == [["1", "os", #"{"type":"os"}"#]])
            #expect(try await f.rows("SELECT name FROM build_stages ORDER BY id") == [["setup - #1"], ["build"]])
            #expect(try await f.rows("SELECT name, commands FROM build_jobs ORDER BY id") == [["create-driver", ""], ["build.1", "make"]])
            #expect(try await f.rows("SELECT cron_id, build_id FROM cron_builds") == [["\(cronID)", "1"]])

            let crons = try await f.pool.query("SELECT id, prev_run, next_run FROM cron ORDER BY id")
            #expect(try crons[0].decode(Date?.self, at: 1) == invokedAt)
            #expect(try crons[0].decode(Date.self, at: 2) == utc("2023-11-08 00:00:00"))
            #expect(try crons[1].decode(Int64.self, at: 0) == later)
            #expect(try crons[1].decode(Date?.self, at: 1) == nil)  // not due: untouched
            #expect(try crons[1].decode(Date.self, at: 2) == Self.now + 1)

            #expect(try await f.queuedBuilds() == [BuildPayload(host: "djinn-scheduler", buildID: 1)])
            // curlyq's two keys, plus the enqueue time our queue inspector reads (Go ignores it).
            #expect(try await f.redisKeys() == [f.prefix + "builds_os:active", f.prefix + "builds_os:data", f.prefix + "builds_os:enqueued_at"])
            #expect(f.log.contains("DEBUG loading batch of size 1000"))
            #expect(f.log.contains("INFO submitted 1 build(s)"))

            // A second pass at the same time finds nothing due.
            let again = try await f.scheduler(clock: { invokedAt }).runDue(now: Self.now)
            #expect(again.outcomes.isEmpty)
            #expect(try await f.count("SELECT count(*) FROM builds") == 1)
        }
    }

    @Test func weeklyAndMonthlyCronsAdvanceToTheirNextPeriod() async throws {
        try await SchedulerFixture.with { f in
            let alice = try await f.addUser("alice")
            // Wednesday 2024-02-28 (leap year): weekly → Mon Mar 4, monthly → Fri Mar 1.
            let now = utc("2024-02-28 10:00:00")
            try await f.addCron("w", user: alice, schedule: .weekly, nextRun: utc("2024-02-26 00:00:00"))
            try await f.addCron("m", user: alice, schedule: .monthly, nextRun: utc("2024-02-01 00:00:00"))
            try await f.scheduler(clock: { now }).runDue(now: now)
            let rows = try await f.pool.query("SELECT name, next_run FROM cron ORDER BY id")
            #expect(try rows.map { try $0.decode(Date.self, at: 1) } == [utc("2024-03-04 00:00:00"), utc("2024-03-01 00:00:00")])
            // Invoked in next_run order: the monthly one first.
            #expect(try await f.rows("SELECT comment FROM build_triggers ORDER BY id") == [
                ["m: Scheduled build, next run Thu Feb 1 00:00:00 2024"], ["w: Scheduled build, next run Mon Feb 26 00:00:00 2024"],
            ])
        }
    }

    @Test func aCronOverdueForDaysRunsOnceAndIsScheduledFromNow() async throws {
        try await SchedulerFixture.with { f in
            let alice = try await f.addUser("alice")
            let now = utc("2024-03-15 09:00:00")
            try await f.addCron("stale", user: alice, nextRun: utc("2024-03-01 00:00:00"))
            try await f.addCron("stale weekly", user: alice, schedule: .weekly, nextRun: utc("2024-01-01 00:00:00"))
            let first = try await f.scheduler(clock: { now }).runDue(now: now)
            #expect(first.submitted == 2)
            let second = try await f.scheduler(clock: { now + 60 }).runDue(now: now + 60)
            #expect(second.outcomes.isEmpty)
            #expect(try await f.count("SELECT count(*) FROM builds") == 2)
            let next = try await f.pool.query("SELECT next_run FROM cron ORDER BY id").map { try $0.decode(Date.self, at: 0) }
            #expect(next == [utc("2024-03-16 00:00:00"), utc("2024-03-18 00:00:00")])
        }
    }

    @Test func pagesThroughEveryDueCronInNextRunOrder() async throws {
        try await SchedulerFixture.with { f in
            let users = [try await f.addUser("alice"), try await f.addUser("bob"), try await f.addUser("carol")]
            for index in 0..<25 {
                try await f.addCron("c\(index)", user: users[index % 3], nextRun: Self.dueAt - Double(index) * 3600)
            }
            for index in 0..<5 { try await f.addCron("later\(index)", user: users[0], nextRun: Self.now + 3600) }
            let summary = try await f.scheduler(batchSize: 4, parallelism: 3).runDue(now: Self.now)
            #expect(summary.batches.map(\.loaded) == [4, 4, 4, 4, 4, 4, 1])
            #expect(summary.submitted == 25)
            #expect(try await f.count("SELECT count(*) FROM builds") == 25)
            #expect(try await f.count("SELECT count(DISTINCT cron_id) FROM cron_builds") == 25)
            #expect(try await f.count("SELECT count(*) FROM cron WHERE prev_run IS NULL") == 5)
            // Numbers per owner are 1…n without gaps or repeats.
            let numbers = try await f.rows("SELECT user_id, array_agg(number ORDER BY number)::text FROM builds GROUP BY user_id ORDER BY user_id")
            #expect(numbers == [["1", "{1,2,3,4,5,6,7,8,9}"], ["2", "{1,2,3,4,5,6,7,8}"], ["3", "{1,2,3,4,5,6,7,8}"]])
            #expect(try await f.queuedBuilds().count == 25)
            // Oldest first.
            let firstBatch = summary.batches[0].outcomes.compactMap { if case .submitted(let id, _) = $0 { id } else { nil } }
            #expect(Set(firstBatch) == [22, 23, 24, 25])
        }
    }

    @Test func invalidManifestsAndDisabledDriversAreRecordedWithoutBlockingTheOthers() async throws {
        try await SchedulerFixture.with { f in
            let alice = try await f.addUser("alice")
            let ok1 = try await f.addCron("first", user: alice, nextRun: Self.dueAt - 50)
            let unparsable = try await f.addCron("broken yaml", user: alice, manifest: "driver: [unclosed\n", nextRun: Self.dueAt - 40)
            let invalid = try await f.addCron("no driver", user: alice, manifest: "stages: [a]\njobs:\n  - stage: a\n    commands: [x]\n", nextRun: Self.dueAt - 30)
            let disabled = try await f.addCron("docker one", user: alice, manifest: "driver:\n  type: docker\n  image: x\n  workspace: /w\n", nextRun: Self.dueAt - 20)
            // Fails inside the build's transaction (after SQL ran): the owner it names does not exist.
            let ghost = try await f.addCron("ghost ns", user: alice, manifest: "namespace: team@ghost\n" + osManifest, nextRun: Self.dueAt - 10)
            let ok2 = try await f.addCron("last", user: alice, nextRun: Self.dueAt)

            let summary = try await f.scheduler(batchSize: 2, parallelism: 1, clock: { Self.now }).runDue(now: Self.now)
            #expect(summary.submitted == 2 && summary.failed == 4 && summary.errors == 0)

            let builds = try await f.rows("""
                SELECT cb.cron_id, b.number, b.status, b.output, b.finished_at IS NOT NULL, t.type, t.comment, g.name, b.manifest
                FROM cron_builds cb JOIN builds b ON b.id = cb.build_id
                JOIN build_triggers t ON t.build_id = b.id JOIN build_tags g ON g.build_id = b.id
                ORDER BY cb.cron_id
                """)
            #expect(builds.map { $0[0] } == [ok1, unparsable, invalid, disabled, ghost, ok2].map { "\($0)" })
            #expect(builds.map { $0[1] } == ["1", "2", "3", "4", "5", "6"])
            #expect(builds.map { $0[2] } == ["queued", "failed", "failed", "failed", "failed", "queued"])
            #expect(builds.map { $0[5] } == Array(repeating: "schedule", count: 6))
            #expect(builds[1][7] == "cron:broken-yaml")
            #expect(builds[1][6] == "broken yaml: Scheduled build, next run Mon Nov 6 23:59:20 2023")
            #expect(builds[1][8] == "driver: [unclosed\n")  // stored as it was
            let outputs = builds.map { $0[3] ?? "" }
            #expect(outputs[1].hasPrefix("invalid manifest: cron \(unparsable) (broken yaml):"))
            #expect(outputs[2].hasPrefix("invalid manifest: cron \(invalid) (no driver):"))
            #expect(outputs[3] == "driver error: docker - driver disabled")
            #expect(outputs[4] == "namespace team@ghost: invalid owner: no user ghost")
            #expect(builds.map { $0[4] } == ["f", "t", "t", "t", "t", "f"])

            // Nothing else of the failed ones: no driver, stages, jobs, namespaces; only two queued.
            #expect(try await f.count("SELECT count(DISTINCT build_id) FROM build_drivers") == 2)
            #expect(try await f.count("SELECT count(DISTINCT build_id) FROM build_stages") == 2)
            #expect(try await f.count("SELECT count(*) FROM namespaces") == 0)
            #expect(try await f.queuedBuilds() == [BuildPayload(host: "djinn-scheduler", buildID: 1), BuildPayload(host: "djinn-scheduler", buildID: 6)])
            // Every cron advanced.
            #expect(try await f.count("SELECT count(*) FROM cron WHERE next_run = '2023-11-08 00:00:00' AND prev_run IS NOT NULL") == 6)
            #expect(f.log.contains("ERROR cron \(disabled) (docker one): driver error: docker - driver disabled; recorded as failed build 4; next run Wed Nov 8 00:00:00 2023"))
            #expect(f.log.contains("ERROR cron \(ghost) (ghost ns): namespace team@ghost: invalid owner: no user ghost; recorded as failed build 5"))
        }
    }

    @Test func aCronOfADeletedOwnerAdvancesWithoutABuild() async throws {
        try await SchedulerFixture.with { f in
            let alice = try await f.addUser("alice")
            let gone = try await f.addUser("gone")
            let cron = try await f.addCron("orphan", user: gone, nextRun: Self.dueAt)
            try await f.addCron("fine", user: alice, nextRun: Self.dueAt)
            try await f.pool.execute("UPDATE users SET deleted_at = NOW() WHERE id = $1", [gone.id])
            let summary = try await f.scheduler().runDue(now: Self.now)
            #expect(summary.outcomes.contains(.failed(cronID: cron, buildID: nil, reason: "the owner (user \(gone.id)) no longer exists")))
            #expect(summary.submitted == 1)
            #expect(try await f.count("SELECT count(*) FROM builds") == 1)
            #expect(try await f.count("SELECT count(*) FROM cron WHERE prev_run IS NOT NULL") == 2)
            #expect(f.log.contains("ERROR cron \(cron) (orphan): the owner (user \(gone.id)) no longer exists; no build recorded"))
        }
    }

    @Test func aQueueFailureAfterCommitLeavesTheBuildFailedAndTheCronAdvanced() async throws {
        struct Refusing: BuildEnqueuer {
            func enqueue(queue: String, payload: [UInt8]) async throws { throw CancellationError() }
        }
        try await SchedulerFixture.with { f in
            let alice = try await f.addUser("alice")
            let cron = try await f.addCron("n", user: alice, nextRun: Self.dueAt)
            let summary = try await f.scheduler(enqueuer: Refusing()).runDue(now: Self.now)
            guard case .notQueued(cron, let build, _)? = summary.outcomes.first else {
                Issue.record("unexpected \(summary.outcomes)")
                return
            }
            #expect(try await f.rows("SELECT status FROM builds WHERE id = $1", [build.id]) == [["failed"]])
            #expect(try await f.count("SELECT count(*) FROM cron WHERE prev_run IS NOT NULL") == 1)
        }
    }

    @Test func aLockedCronIsSkippedAndAnAdvancedOneIsNotInvokedAgain() async throws {
        try await SchedulerFixture.with { f in
            let alice = try await f.addUser("alice")
            let locked = try await f.addCron("locked", user: alice, nextRun: Self.dueAt)
            let free = try await f.addCron("free", user: alice, nextRun: Self.dueAt)
            let scheduler = f.scheduler(parallelism: 1)
            // Another scheduler holds `locked` in its transaction.
            let other = try await PostgresConnection.connect(f.db.configuration, logger: quietLogger)
            try await other.execute("BEGIN")
            try await other.execute("SELECT id FROM cron WHERE id = $1 FOR UPDATE", [locked])
            let keys = try await CronStore(f.pool).dueBatch(now: Self.now, after: nil, limit: 10)
            #expect(keys.map(\.id) == [locked, free])
            let outcomes = await scheduler.invoke(keys, now: Self.now, shouldStop: { false })
            #expect(outcomes.first == .skipped(cronID: locked))
            // It then invokes and commits: a scheduler that listed it before sees it is no longer due.
            try await other.execute("UPDATE cron SET next_run = '2023-11-08 00:00:00' WHERE id = $1", [locked])
            try await other.execute("COMMIT")
            await other.close()
            let again = await scheduler.invoke(keys, now: Self.now, shouldStop: { false })
            #expect(again == [.skipped(cronID: locked), .skipped(cronID: free)])
            #expect(try await f.count("SELECT count(*) FROM builds") == 1)
        }
    }

    /// Two schedulers, each with its own pool, over the same due crons at once.
    @Test func twoSchedulersInOneProcessInvokeEachCronOnce() async throws {
        try await SchedulerFixture.with { f in
            let users = [try await f.addUser("alice"), try await f.addUser("bob")]
            try await f.pool.execute("""
                INSERT INTO cron (user_id, author_id, name, schedule, manifest, next_run)
                SELECT 1 + g % 2, 1 + g % 2, 'c' || g, 'daily', $1, $2::timestamp - g * interval '1 second'
                FROM generate_series(1, 600) g
                """, [osManifest, Self.dueAt])
            _ = users
            let second = PostgresPool(configuration: f.db.configuration, maxConnections: 4, logger: quietLogger)
            let a = f.scheduler(batchSize: 50, parallelism: 3)
            let b = f.scheduler(batchSize: 50, parallelism: 3, pool: second)
            async let first = a.runDue(now: Self.now)
            async let other = b.runDue(now: Self.now)
            let (sa, sb) = try await (first, other)
            await second.close()
            #expect(sa.submitted + sb.submitted == 600)
            #expect(sa.errors + sb.errors == 0)
            #expect(try await f.count("SELECT count(*) FROM builds") == 600)
            #expect(try await f.count("SELECT count(DISTINCT cron_id) FROM cron_builds") == 600)
            #expect(try await f.count("SELECT count(*) FROM cron_builds") == 600)
            #expect(try await f.count("SELECT count(DISTINCT (user_id, number)) FROM builds") == 600)
            #expect(try await f.count("SELECT max(number) FROM builds") == 300)
            let queued = try await f.queuedBuilds()
            #expect(queued.count == 600 && Set(queued.map(\.buildID)).count == 600)
        }
    }

    /// The scheduler works with only the privileges Djinn grants the `djinn_scheduler` role
    /// (no UPDATE on users or builds): claiming, numbering, failed builds, cron updates.
    @Test func worksUnderTheDjinnSchedulerRole() async throws {
        try await SchedulerFixture.with { f in
            try await f.db.psql("""
                DO $$ BEGIN
                    CREATE ROLE djinn_scheduler NOLOGIN;
                EXCEPTION WHEN duplicate_object OR unique_violation THEN NULL;
                END $$;
                """)
            let login = "sched_\(UUID().uuidString.prefix(8).lowercased())"
            try await f.db.psql("CREATE ROLE \(login) LOGIN PASSWORD 'scheduler-role-pw' IN ROLE djinn_scheduler")
            _ = try await Migrator(pool: f.pool, logger: quietLogger).migrate()  // grants the role's privileges here
            var configuration = f.db.configuration
            configuration.user = login
            configuration.password = "scheduler-role-pw"
            let rolePool = PostgresPool(configuration: configuration, maxConnections: 4, logger: quietLogger)
            do {
                let alice = try await f.addUser("alice")
                let bob = try await f.addUser("bob")
                for index in 0..<6 { try await f.addCron("c\(index)", user: index % 2 == 0 ? alice : bob, nextRun: Self.dueAt) }
                try await f.addCron("docker", user: alice, manifest: "driver:\n  type: docker\n  image: x\n  workspace: /w\n", nextRun: Self.dueAt)
                let summary = try await f.scheduler(pool: rolePool).runDue(now: Self.now)
                #expect(summary.submitted == 6 && summary.failed == 1 && summary.errors == 0, "\(summary.outcomes)")
                #expect(try await f.count("SELECT count(*) FROM cron_builds") == 7)
                await rolePool.close()
            } catch {
                await rolePool.close()
                _ = try? await f.db.psql("DROP ROLE IF EXISTS \(login)")
                throw error
            }
            try await f.db.psql("DROP ROLE IF EXISTS \(login)")
        }
    }

    /// A database error that may pass leaves the cron due with nothing written; one caused by
    /// the cron's data is recorded as a failed build. Others in the page are not affected.
    @Test func transientAndPermanentDatabaseErrors() async throws {
        try await SchedulerFixture.with { f in
            try await f.refuseDriverRows(marked: [
                ("transient", "40001", "could not serialize (test)"), ("permanent", "22003", "value out of range (test)"),
            ])
            let alice = try await f.addUser("alice")
            let marked = { (marker: String) in osManifest.replacingOccurrences(of: "type: os", with: "type: os\n  marker: \(marker)") }
            let transient = try await f.addCron("flaky", user: alice, manifest: marked("transient"), nextRun: Self.dueAt - 2)
            let permanent = try await f.addCron("bad data", user: alice, manifest: marked("permanent"), nextRun: Self.dueAt - 1)
            let fine = try await f.addCron("fine", user: alice, nextRun: Self.dueAt)
            let summary = try await f.scheduler(parallelism: 1, clock: { Self.now }).runDue(now: Self.now)

            guard case .error(transient, let message)? = summary.outcomes.first else {
                Issue.record("unexpected \(summary.outcomes)")
                return
            }
            #expect(message.contains("could not serialize (test)"))
            #expect(summary.submitted == 1 && summary.failed == 1 && summary.errors == 1)
            let crons = try await f.pool.query("SELECT id, prev_run, next_run FROM cron ORDER BY id")
            #expect(try crons[0].decode(Date?.self, at: 1) == nil && crons[0].decode(Date.self, at: 2) == Self.dueAt - 2)  // still due
            #expect(try crons[1].decode(Date.self, at: 2) == utc("2023-11-08 00:00:00"))
            #expect(try crons[2].decode(Date.self, at: 2) == utc("2023-11-08 00:00:00"))
            #expect(try await f.rows("SELECT cb.cron_id, b.status, b.output FROM cron_builds cb JOIN builds b ON b.id = cb.build_id ORDER BY cb.cron_id") == [
                ["\(permanent)", "failed", "the database rejected the build: value out of range (test)"],
                ["\(fine)", "queued", nil],
            ])
            #expect(try await f.count("SELECT count(*) FROM builds") == 2)  // nothing of the transient attempt
            #expect(f.log.contains("ERROR cron \(transient) (flaky): "))
            #expect(f.log.contains("it stays due and is retried next pass"))

            // Once the cause is gone, the next pass invokes it.
            try await f.pool.execute("DROP TRIGGER refuse ON build_drivers")
            let next = try await f.scheduler(clock: { Self.now + 60 }).runDue(now: Self.now + 60)
            #expect(next.submitted == 1)
        }
    }

    /// When every cron of a page fails for reasons that may pass, the pass ends there.
    @Test func aPageWhereEverythingFailsEndsThePass() async throws {
        try await SchedulerFixture.with { f in
            let alice = try await f.addUser("alice")
            for index in 0..<6 { try await f.addCron("c\(index)", user: alice, nextRun: Self.dueAt - Double(index)) }
            // Every build insert fails as if the server were restarting.
            try await f.pool.execute("""
                CREATE FUNCTION refuse_all() RETURNS trigger LANGUAGE plpgsql AS $$
                BEGIN RAISE EXCEPTION 'shutting down (test)' USING ERRCODE = '57P03'; END $$
                """)
            try await f.pool.execute("CREATE TRIGGER refuse BEFORE INSERT ON builds FOR EACH ROW EXECUTE FUNCTION refuse_all()")
            let summary = try await f.scheduler(batchSize: 2, parallelism: 1).runDue(now: Self.now)
            #expect(summary.batches.count == 1 && summary.errors == 2)
            #expect(f.log.contains("ERROR no cron of this batch could be invoked; ending this pass"))
            #expect(try await f.count("SELECT count(*) FROM cron WHERE prev_run IS NULL") == 6)
        }
    }
}
