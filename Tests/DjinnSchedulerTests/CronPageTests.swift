import DjinnBuilds
import DjinnJobs
import DjinnManifest
import DjinnPostgres
import DjinnTesting
import Foundation
import Testing
@testable import DjinnScheduler

/// The page path: one transaction per page, its fallback, and rows equal to the single-build path.
@Suite struct CronPageTests {
    static let dueAt = utc("2023-11-07 00:00:00")
    static let now = utc("2023-11-07 00:00:30")

    /// Invalid crons in a page are failed builds written in the page's own transaction: the
    /// page does not fall back, the valid crons are built, numbers follow the cron order.
    @Test func aPageWithInvalidCronsAmongValidOnesIsStillOneTransaction() async throws {
        try await SchedulerFixture.with { f in
            let alice = try await f.addUser("alice")
            let crons = [
                try await f.addCron("ok 1", user: alice, nextRun: Self.dueAt - 70),
                try await f.addCron("broken", user: alice, manifest: "driver: [unclosed\n", nextRun: Self.dueAt - 60),
                try await f.addCron("ok 2", user: alice, nextRun: Self.dueAt - 50),
                try await f.addCron("docker", user: alice, manifest: "driver:\n  type: docker\n  image: x\n  workspace: /w\n", nextRun: Self.dueAt - 40),
                try await f.addCron("ghost ns", user: alice, manifest: "namespace: team@ghost\n" + osManifest, nextRun: Self.dueAt - 30),
                try await f.addCron("own ns", user: alice, manifest: "namespace: team/sub\n" + osManifest, nextRun: Self.dueAt - 20),
                try await f.addCron("ok 3", user: alice, nextRun: Self.dueAt - 10),
            ]
            let summary = try await f.scheduler(batchSize: 10, parallelism: 1, clock: { Self.now }).runDue(now: Self.now)
            #expect(summary.batches.map(\.loaded) == [7])
            #expect(summary.submitted == 4 && summary.failed == 3 && summary.errors == 0)
            #expect(!f.log.contains("could not be written in one transaction"))

            let builds = try await f.rows("""
                SELECT b.number, b.status, b.output, b.namespace_id IS NOT NULL FROM cron_builds cb JOIN builds b ON b.id = cb.build_id
                ORDER BY cb.cron_id
                """)
            #expect(builds.map { $0[0] } == ["1", "2", "3", "4", "5", "6", "7"])
            #expect(builds.map { $0[1] } == ["queued", "failed", "queued", "failed", "failed", "queued", "queued"])
            #expect(builds[1][2]?.hasPrefix("invalid manifest: cron \(crons[1]) (broken):") == true)
            #expect(builds[3][2] == "driver error: docker - driver disabled")
            #expect(builds[4][2] == "namespace team@ghost: invalid owner: no user ghost")
            #expect(builds.map { $0[3] } == ["f", "f", "f", "f", "f", "t", "f"])
            // The valid namespaced cron created its namespace and its parent.
            #expect(try await f.rows("SELECT path, level FROM namespaces ORDER BY id") == [["team", "0"], ["team/sub", "1"]])
            #expect(try await f.count("SELECT count(*) FROM cron WHERE next_run = '2023-11-08 00:00:00' AND prev_run IS NOT NULL") == 7)
            #expect(try await f.queuedBuilds().map(\.buildID) == [1, 3, 6, 7])
            #expect(f.log.contains("ERROR cron \(crons[3]) (docker): driver error: docker - driver disabled; recorded as failed build 4; next run Wed Nov 8 00:00:00 2023"))
        }
    }

    /// A page whose transaction fails (here: the database rejects one cron's driver row) is
    /// rolled back whole and its crons are invoked again one transaction each: the bad one
    /// becomes a failed build, every other one gets exactly one build.
    @Test func aPageThatFailsFallsBackToOneTransactionPerCron() async throws {
        try await SchedulerFixture.with { f in
            try await f.refuseDriverRows(marked: [("permanent", "22003", "value out of range (test)")])
            let alice = try await f.addUser("alice")
            let bob = try await f.addUser("bob")
            let bad = osManifest.replacingOccurrences(of: "type: os", with: "type: os\n  marker: permanent")
            var crons: [Int64] = []
            for index in 0..<6 {
                crons.append(try await f.addCron(
                    "c\(index)", user: index % 2 == 0 ? alice : bob, manifest: index == 2 ? bad : osManifest,
                    nextRun: Self.dueAt - Double(10 - index)))
            }
            let summary = try await f.scheduler(batchSize: 10, parallelism: 2, clock: { Self.now }).runDue(now: Self.now)
            #expect(summary.batches.map(\.loaded) == [6])
            #expect(summary.submitted == 5 && summary.failed == 1 && summary.errors == 0, "\(summary.outcomes)")
            #expect(f.log.contains("ERROR a batch of 6 cron(s) could not be written in one transaction: "))
            #expect(f.log.contains("invoking them one transaction each"))
            #expect(summary.outcomes.contains {
                if case .failed(crons[2], _, "the database rejected the build: value out of range (test)") = $0 { true } else { false }
            })
            #expect(try await f.count("SELECT count(*) FROM cron_builds") == 6)
            #expect(try await f.count("SELECT count(DISTINCT cron_id) FROM cron_builds") == 6)
            #expect(try await f.count("SELECT count(*) FROM builds WHERE status = 'queued'") == 5)
            #expect(try await f.count("SELECT count(*) FROM cron WHERE prev_run IS NOT NULL") == 6)
            let numbers = try await f.rows("SELECT user_id, array_agg(number ORDER BY number)::text FROM builds GROUP BY user_id ORDER BY user_id")
            #expect(numbers == [["\(alice.id)", "{1,2,3}"], ["\(bob.id)", "{1,2,3}"]])
            #expect(try await f.queuedBuilds().count == 5)
        }
    }

    /// The page path and the single-build path (`BuildSubmitter.submit`, `createFailed`) write
    /// the same rows for the same cron: every column of every table a build touches, except
    /// random tokens, with timestamps compared as offsets from the build's `created_at`. Each
    /// path runs in a database of its own set up identically.
    @Test func pageRowsEqualTheSingleBuildPath() async throws {
        let manifestText = """
            namespace: web/frontend@alice
            driver:
              type: os
            env:
              - GOFLAGS=-mod=vendor
              - QUOTED="a,b" {c} \\ d
            objects:
              - data.tar => /tmp/data.tar
              - config.yml
            sources:
              - https://github.com/x/app v1.0 => src
            stages: [build, test]
            allow_failures: [test]
            jobs:
              - stage: build
                commands: [make, make check]
                artifacts:
                  - bin/app => app
                  - dist/
              - stage: test
                name: Unit Tests!
                commands: [go test]

            """
        func setUp(_ f: SchedulerFixture) async throws -> (valid: CronRecord, invalid: CronRecord, bob: UserRecord) {
            let alice = try await f.addUser("alice")
            let bob = try await f.addUser("bob")
            let web = try await f.pool.query("""
                INSERT INTO namespaces (user_id, name, path, level, visibility) VALUES ($1, 'web', 'web', 0, 'internal') RETURNING id
                """, [alice.id])[0].decode(Int64.self, at: 0)
            try await f.pool.execute("UPDATE namespaces SET root_id = id WHERE id = $1", [web])
            try await f.pool.execute("INSERT INTO namespace_collaborators (namespace_id, user_id) VALUES ($1, $2)", [web, bob.id])
            try await f.pool.execute("""
                INSERT INTO variables (user_id, author_id, namespace_id, key, value, masked)
                VALUES ($1, $1, NULL, 'ALICE', 'a', false), ($1, $1, NULL, 'ALICE_SECRET', 'c2VjcmV0', true), ($2, $2, NULL, 'BOB', 'b', NULL)
                """, [alice.id, bob.id])
            try await f.pool.execute("""
                INSERT INTO keys (user_id, author_id, namespace_id, name, key, config)
                VALUES ($1, $1, NULL, 'id_rsa', '\\x0102', 'Host x'), ($2, $2, NULL, 'bobs', '\\x09', '')
                """, [alice.id, bob.id])
            try await f.pool.execute("""
                INSERT INTO objects (user_id, author_id, namespace_id, hash, name, type, size, md5, sha256)
                VALUES ($1, $1, NULL, 'h1', 'data.tar', 'application/octet-stream', 3, '\\x00', '\\x00'),
                       ($1, $1, $2, 'h2', 'config.yml', 'text/plain', 3, '\\x00', '\\x00')
                """, [alice.id, web])
            try await f.addCron("nightly", user: bob, manifest: manifestText, nextRun: Self.dueAt - 1)
            try await f.addCron("broken one", user: bob, manifest: "driver: [\n", nextRun: Self.dueAt)
            let crons = try await CronStore(f.pool).list(userID: bob.id)
            return (crons[0], crons[1], bob)
        }

        let tables = [
            "SELECT id, user_id, namespace_id, number, manifest, status, output, started_at, finished_at - created_at, pinned FROM builds ORDER BY id",
            "SELECT t.id, t.build_id, provider_id, repo_id, type, comment, data::text, t.created_at - b.created_at FROM build_triggers t JOIN builds b ON b.id = t.build_id ORDER BY t.id",
            "SELECT t.id, t.user_id, build_id, name, t.created_at - b.created_at FROM build_tags t JOIN builds b ON b.id = t.build_id ORDER BY t.id",
            "SELECT id, build_id, type, config::text FROM build_drivers ORDER BY id",
            "SELECT id, build_id, variable_id, key, value, masked FROM build_variables ORDER BY id",
            "SELECT id, build_id, key_id, name, key, config, location FROM build_keys ORDER BY id",
            "SELECT o.id, build_id, object_id, source, o.name, placed, o.created_at - b.created_at FROM build_objects o JOIN builds b ON b.id = o.build_id ORDER BY o.id",
            "SELECT s.id, build_id, name, can_fail, s.created_at - b.created_at FROM build_stages s JOIN builds b ON b.id = s.build_id ORDER BY s.id",
            "SELECT j.id, build_id, stage_id, j.name, commands, j.output, j.status, j.created_at - b.created_at FROM build_jobs j JOIN builds b ON b.id = j.build_id ORDER BY j.id",
            "SELECT a.id, a.user_id, build_id, job_id, source, a.name, a.created_at - b.created_at FROM build_artifacts a JOIN builds b ON b.id = a.build_id ORDER BY a.id",
            "SELECT id, user_id, root_id, parent_id, name, path, level, visibility FROM namespaces ORDER BY id",
        ]

        var pageRows: [[[String?]]] = []
        try await SchedulerFixture.with { f in
            _ = try await setUp(f)
            let summary = try await f.scheduler(batchSize: 10, parallelism: 1, clock: { Self.now }).runDue(now: Self.now)
            #expect(summary.submitted == 1 && summary.failed == 1)
            #expect(!f.log.contains("could not be written in one transaction"))
            for sql in tables { pageRows.append(try await f.rows(sql)) }
        }
        var singleRows: [[[String?]]] = []
        try await SchedulerFixture.with { f in
            let (valid, invalid, bob) = try await setUp(f)
            let submitter = f.submitter()
            let manifest = try Manifest(parsing: valid.manifest, file: "x")
            _ = try await submitter.submit(CronInvocation.request(for: valid, owner: bob, manifest: manifest))
            let reason = try #require(pageFailureReason(invalid, bob))
            _ = try await f.pool.withTransaction { connection in
                try await submitter.createFailed(FailedBuildRequest(
                    userID: invalid.userID, namespaceID: invalid.namespaceID, manifestText: invalid.manifest,
                    trigger: CronInvocation.trigger(for: invalid, owner: bob), tags: [CronInvocation.tag(forCronNamed: invalid.name)],
                    reason: reason), on: connection)
            }
            for sql in tables { singleRows.append(try await f.rows(sql)) }
        }
        #expect(pageRows.count == tables.count)
        for (index, sql) in tables.enumerated() {
            #expect(pageRows[index] == singleRows[index], "\(sql)")
        }
        // The comparison covered real rows, not empty tables.
        #expect(pageRows.map(\.count) == [2, 2, 2, 1, 4, 1, 1, 3, 4, 2, 2])
    }

    func pageFailureReason(_ cron: CronRecord, _ owner: UserRecord) -> String? {
        if case .failure(let rejection) = CronScheduler.prepare(cron, owner: owner, enabledDrivers: ["os"]) { rejection.reason } else { nil }
    }
}
