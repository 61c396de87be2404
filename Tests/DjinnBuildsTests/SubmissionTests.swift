import DjinnBuilds
import DjinnJobs
import DjinnManifest
import DjinnPostgres
import DjinnQueue
import DjinnRedis
import DjinnTesting
import Foundation
import Testing

extension BuildFixture {
    /// Every column of every row as text (nil for NULL), for whole-row comparisons.
    func rows(_ sql: String, _ parameters: [(any PostgresBindable)?] = []) async throws -> [[String?]] {
        try await pool.query(sql, parameters).map { row in
            try (0..<row.columns.count).map { index in
                let cell = try row.cell(at: index)
                return cell.isNull ? nil : cell.text
            }
        }
    }
}

func hex(_ text: String) -> String { hex(Array(text.utf8)) }
func hex(_ bytes: [UInt8]) -> String { bytes.map { ($0 < 16 ? "0" : "") + String($0, radix: 16) }.joined() }

let everyFeatureManifest = """
    namespace: web/frontend@alice
    driver:
      type: docker
      image: golang:1.21
      workspace: /go
    env:
      - GOFLAGS=-mod=vendor
      - EMPTY=
    objects:
      - data.tar => /tmp/data.tar
      - config.yml
      - gone.bin => /tmp/gone
    sources:
      - https://github.com/x/app v1.0 => src
      - git@github.com:x/lib.git
    stages:
      - build
      - test
    allow_failures:
      - test
    jobs:
      - stage: build
        commands:
          - make
          - make check
        artifacts:
          - bin/app => app
          - dist/
      - stage: test
        name: Unit Tests!
        commands: [go test]
      - stage: test
        commands: [go vet]
      - stage: build
        name: Build & Test!
        commands: ["true"]
    """

@Suite struct SubmissionTests {
    /// A build submitted by a collaborator to a namespace of another user, using every feature:
    /// every row and column written is checked.
    @Test func everyRowOfABuildUsingEveryFeature() async throws {
        try await BuildFixture.with { f in
            let alice = try await f.addUser("alice")
            let bob = try await f.addUser("bob")
            let carol = try await f.addUser("carol")

            // alice's namespaces web (bob collaborates on it), web/frontend and other.
            let web = try await f.insert("""
                INSERT INTO namespaces (user_id, name, path, level, visibility) VALUES ($1, 'web', 'web', 0, 'internal') RETURNING id
                """, [alice.id])
            try await f.pool.execute("UPDATE namespaces SET root_id = id WHERE id = $1", [web])
            let frontend = try await f.insert("""
                INSERT INTO namespaces (user_id, root_id, parent_id, name, path, level, visibility)
                VALUES ($1, $2, $2, 'frontend', 'web/frontend', 1, 'internal') RETURNING id
                """, [alice.id, web])
            let other = try await f.insert("""
                INSERT INTO namespaces (user_id, name, path, level) VALUES ($1, 'other', 'other', 0) RETURNING id
                """, [alice.id])
            try await f.pool.execute("UPDATE namespaces SET root_id = id WHERE id = $1", [other])
            try await f.pool.execute("INSERT INTO namespace_collaborators (namespace_id, user_id) VALUES ($1, $2)", [web, bob.id])

            func variable(_ user: UserRecord, _ namespace: Int64?, _ key: String, _ value: String, masked: Bool?) async throws -> Int64 {
                try await f.insert("""
                    INSERT INTO variables (user_id, author_id, namespace_id, key, value, masked) VALUES ($1, $2, $3, $4, $5, $6) RETURNING id
                    """, [user.id, bob.id, namespace, key, value, masked])
            }
            let v1 = try await variable(alice, nil, "ALICE_VAR", "a", masked: false)
            let v2 = try await variable(alice, nil, "ALICE_SECRET", "c2VjcmV0Y2lwaGVydGV4dA==", masked: true)
            _ = try await variable(alice, other, "OTHER", "x", masked: false)
            _ = try await variable(bob, nil, "BOB", "x", masked: false)
            let v5 = try await variable(alice, frontend, "NS_VAR", "n", masked: nil)
            let v6 = try await variable(alice, frontend, "NS_SECRET", "bWFza2Vk", masked: true)

            func key(_ user: UserRecord, _ namespace: Int64?, _ name: String, _ bytes: [UInt8], _ config: String) async throws -> Int64 {
                try await f.insert("""
                    INSERT INTO keys (user_id, author_id, namespace_id, name, key, config) VALUES ($1, $1, $2, $3, $4, $5) RETURNING id
                    """, [user.id, namespace, name, bytes, config])
            }
            let k1 = try await key(alice, nil, "id_rsa", [1, 2, 3], "Host github.com\n  IdentityFile /root/.ssh/id_rsa")
            let k2 = try await key(alice, frontend, "deploy", [0xff, 0x00], "")
            _ = try await key(alice, other, "elsewhere", [9], "")
            _ = try await key(carol, nil, "carols", [9], "")

            func object(_ user: UserRecord, _ namespace: Int64?, _ name: String, deleted: Bool = false) async throws -> Int64 {
                try await f.insert("""
                    INSERT INTO objects (user_id, author_id, namespace_id, hash, name, type, size, md5, sha256, deleted_at)
                    VALUES ($1, $1, $2, $3, $4, 'application/octet-stream', 3, '\\x00', '\\x00', $5) RETURNING id
                    """, [user.id, namespace, UUID().uuidString, name, deleted ? Date() : nil])
            }
            let dataTar = try await object(alice, nil, "data.tar")
            let configYml = try await object(alice, frontend, "config.yml")
            _ = try await object(alice, other, "config.yml")  // another namespace: Djinn's query matched it
            _ = try await object(carol, nil, "data.tar")
            _ = try await object(alice, nil, "gone.bin", deleted: true)
            _ = try await object(alice, frontend, "unlisted")
            let namespacesBefore = try await f.count("namespaces")

            let manifest = try parse(everyFeatureManifest)
            let before = Date()
            let build = try await f.submitter().submit(BuildRequest(
                userID: bob.id, manifest: manifest, trigger: .manual(by: bob, comment: "from the test"),
                tags: ["ci", "", "nightly", "ci"]))
            #expect(build.number == 1)
            #expect(build.userID == alice.id)
            #expect(build.namespaceID == frontend)
            #expect(build.queue == "builds_docker")

            let id = String(build.id)
            let builds = try await f.rows("""
                SELECT id, user_id, namespace_id, number, manifest, status, output, started_at, finished_at, pinned FROM builds
                """)
            #expect(builds == [[id, String(alice.id), String(frontend), "1", manifest.encoded(), "queued", nil, nil, nil, "f"]])
            let buildRow = try await f.pool.query("SELECT secret, created_at FROM builds")[0]
            let secret = try buildRow.decode(String.self, column: "secret")
            #expect(secret.count == 32 && secret.allSatisfy { "0123456789abcdef".contains($0) })
            let createdAt = try buildRow.decode(Date.self, column: "created_at")
            #expect(createdAt >= before.addingTimeInterval(-1) && createdAt <= Date().addingTimeInterval(1))
            let createdText = try await f.rows("SELECT created_at FROM builds")[0][0]

            #expect(try await f.rows("SELECT build_id, provider_id, repo_id, type, comment, data::text, created_at FROM build_triggers") == [
                [id, nil, nil, "manual", "from the test", #"{"email":"bob@example.com","username":"bob"}"#, createdText],
            ])
            #expect(try await f.rows("SELECT user_id, build_id, name, created_at FROM build_tags ORDER BY id") == [
                [String(bob.id), id, "ci", createdText], [String(bob.id), id, "nightly", createdText],
            ])
            #expect(try await f.rows("SELECT build_id, type, config::text FROM build_drivers") == [
                [id, "docker", #"{"image":"golang:1.21","type":"docker","workspace":"/go"}"#],
            ])
            #expect(try await f.rows("SELECT build_id, variable_id, key, value, masked FROM build_variables ORDER BY id") == [
                [id, String(v1), "ALICE_VAR", "a", "f"],
                [id, String(v2), "ALICE_SECRET", "c2VjcmV0Y2lwaGVydGV4dA==", "t"],
                [id, String(v5), "NS_VAR", "n", "f"],
                [id, String(v6), "NS_SECRET", "bWFza2Vk", "t"],
                [id, nil, "GOFLAGS", "-mod=vendor", "f"],
                [id, nil, "EMPTY", "", "f"],
            ])
            #expect(try await f.rows("SELECT build_id, key_id, name, key, config, location FROM build_keys ORDER BY id") == [
                [id, String(k1), "id_rsa", "\\x010203", "Host github.com\n  IdentityFile /root/.ssh/id_rsa", "/root/.ssh/id_rsa"],
                [id, String(k2), "deploy", "\\xff00", "", "/root/.ssh/deploy"],
            ])
            #expect(try await f.rows("SELECT build_id, object_id, source, name, placed FROM build_objects ORDER BY id") == [
                [id, String(configYml), "config.yml", "config.yml", "f"],
                [id, String(dataTar), "/tmp/data.tar", "data.tar", "f"],
            ])

            let stages = try await f.rows("SELECT id, build_id, name, can_fail FROM build_stages ORDER BY created_at")
            #expect(stages.map { Array($0.dropFirst()) } == [[id, "setup - #1", "f"], [id, "build", "f"], [id, "test", "t"]])
            let stageIDs = Dictionary(uniqueKeysWithValues: stages.map { ($0[2]!, $0[0]!) })
            let jobs = try await f.rows("""
                SELECT id, build_id, stage_id, name, commands, output, status, started_at, finished_at FROM build_jobs ORDER BY created_at
                """)
            let setup = stageIDs["setup - #1"], buildStage = stageIDs["build"], test = stageIDs["test"]
            #expect(jobs.map { Array($0.dropFirst()) } == [
                [id, setup, "create-driver", "", nil, "queued", nil, nil],
                [id, setup, "clone.0", "mkdir -p src\ngit clone -q https://github.com/x/app src\ncd src\ngit checkout v1.0", nil, "queued", nil, nil],
                [id, setup, "clone.1", "mkdir -p lib\ngit clone -q git@github.com:x/lib.git lib\ncd lib\ngit checkout ", nil, "queued", nil, nil],
                [id, buildStage, "build.1", "make\nmake check", nil, "queued", nil, nil],
                [id, test, "unit-tests", "go test", nil, "queued", nil, nil],
                [id, test, "test.2", "go vet", nil, "queued", nil, nil],
                [id, buildStage, "build-test", "true", nil, "queued", nil, nil],
            ])
            // Creation order is execution order, also by created_at (what the worker sorts on).
            #expect(try await f.rows("SELECT count(DISTINCT created_at) FROM build_stages") == [["3"]])
            #expect(try await f.rows("SELECT count(DISTINCT created_at) FROM build_jobs") == [["7"]])
            #expect(try await f.rows("SELECT name FROM build_jobs ORDER BY id").map { $0[0] } == jobs.map { $0[3] })

            let buildJob = jobs[3][0]
            let artifacts = try await f.rows("""
                SELECT user_id, build_id, job_id, source, name, size, md5, sha256, deleted_at, hash FROM build_artifacts ORDER BY id
                """)
            #expect(artifacts.map { Array($0.dropLast()) } == [
                [String(alice.id), id, buildJob, "bin/app", "app", nil, nil, nil, nil],
                [String(alice.id), id, buildJob, "dist/", "dist", nil, nil, nil, nil],
            ])
            let hashes = artifacts.compactMap { $0.last! }
            #expect(Set(hashes).count == 2 && hashes.allSatisfy { $0.count == 32 })
            #expect(try await f.count("namespaces") == namespacesBefore)

            let queued = try await f.queuedBuilds("builds_docker")
            #expect(queued.count == 1)
            #expect(queued.first?.payload == BuildPayload(host: "https://djinn.example", buildID: build.id))
            #expect(queued.first?.envelope.attempt == 0)
            // curlyq's two keys, plus the enqueue time our queue inspector reads (Go ignores it).
            #expect(try await f.redisKeys() == [
                f.prefix + "builds_docker:active", f.prefix + "builds_docker:data", f.prefix + "builds_docker:enqueued_at",
            ])
        }
    }

    @Test func theQueueMessageIsTheEnvelopeAndGobPayloadGoWrites() async throws {
        try await BuildFixture.with { f in
            let user = try await f.addUser("dave")
            let build = try await f.submitter(host: "djinn-scheduler").submit(
                BuildRequest(userID: user.id, manifest: try parse(osManifest), trigger: .manual(by: user)))
            #expect(build.queue == "builds_os")

            let ids = try await f.redis.command(["LRANGE", f.prefix + "builds_os:active", 0, -1]).strings ?? []
            #expect(ids.count == 1)
            let id = try #require(ids.first ?? nil)
            #expect(id.count == 36 && id == id.lowercased() && UUID(uuidString: id) != nil && id[id.index(id.startIndex, offsetBy: 14)] == "4")
            let message = try #require(try await f.redis.command(["HGET", f.prefix + "builds_os:data", id]).bytes)
            let envelope = try Envelope(decoding: message)
            #expect(envelope == Envelope(id: id, data: BuildPayload(host: "djinn-scheduler", buildID: build.id).gobEncoded(), attempt: 0))
            #expect(message == envelope.encoded())
            // The payload bytes are exactly Go's: the constant type message, then the value.
            let payload = try BuildPayload(gob: envelope.data)
            #expect(payload == BuildPayload(host: "djinn-scheduler", buildID: build.id))
            // Spec §3.6 fixture: the 43-byte type message, then `16 ff82 01 0f "djinn-scheduler" 01 02 00`.
            #expect(build.id == 1)
            let typeMessage = "2aff8103010107" + hex("Payload") + "01ff820001020104" + hex("Host") + "010c000107" + hex("BuildID") + "0104000000"
            let valueMessage = "16ff82010f" + hex("djinn-scheduler") + "010200"
            #expect(hex(envelope.data) == typeMessage + valueMessage)
        }
    }

    @Test func qemuGoesToItsArchQueueWithArchForced() async throws {
        try await BuildFixture.with { f in
            let user = try await f.addUser("erin")
            let manifest = try parse("driver:\n  type: qemu\n  image: debian/12\n")
            let build = try await f.submitter().submit(BuildRequest(userID: user.id, manifest: manifest, trigger: .manual(by: user)))
            #expect(build.queue == "builds_qemu-x86_64")
            #expect(try await f.rows("SELECT type, config::text FROM build_drivers") == [
                ["qemu", #"{"arch":"x86_64","image":"debian/12","type":"qemu"}"#],
            ])
            #expect(try await f.rows("SELECT manifest FROM builds") == [["driver:\n  arch: x86_64\n  image: debian/12\n  type: qemu\n"]])
            #expect(try await f.queuedBuilds("builds_qemu-x86_64").map(\.payload.buildID) == [build.id])
            // A job-less manifest still gets its setup stage and create-driver job.
            #expect(try await f.rows("SELECT s.name, j.name FROM build_jobs j JOIN build_stages s ON s.id = j.stage_id") == [
                ["setup - #1", "create-driver"],
            ])
        }
    }

    @Test func numbersArePerOwner() async throws {
        try await BuildFixture.with { f in
            let alice = try await f.addUser("alice")
            let bob = try await f.addUser("bob")
            let submitter = f.submitter()
            let manifest = try parse(osManifest)
            var inAliceNamespace = manifest
            inAliceNamespace.namespace = "team@alice"
            let web = try await f.insert(
                "INSERT INTO namespaces (user_id, name, path, level) VALUES ($1, 'team', 'team', 0) RETURNING id", [alice.id])
            try await f.pool.execute("UPDATE namespaces SET root_id = id WHERE id = $1", [web])
            try await f.pool.execute("INSERT INTO namespace_collaborators (namespace_id, user_id) VALUES ($1, $2)", [web, bob.id])

            let a1 = try await submitter.submit(BuildRequest(userID: alice.id, manifest: manifest, trigger: .manual(by: alice)))
            let b1 = try await submitter.submit(BuildRequest(userID: bob.id, manifest: manifest, trigger: .manual(by: bob)))
            let a2 = try await submitter.submit(BuildRequest(userID: bob.id, manifest: inAliceNamespace, trigger: .manual(by: bob)))
            let b2 = try await submitter.submit(BuildRequest(userID: bob.id, manifest: manifest, trigger: .manual(by: bob)))
            #expect([a1.number, b1.number, a2.number, b2.number] == [1, 1, 2, 2])
            #expect([a1.userID, b1.userID, a2.userID, b2.userID] == [alice.id, bob.id, alice.id, bob.id])
        }
    }

    @Test func fiftyConcurrentSubmissionsGetFiftyConsecutiveNumbers() async throws {
        try await BuildFixture.with(maxConnections: 10) { f in
            let user = try await f.addUser("busy")
            let submitter = f.submitter()
            let manifest = try parse(osManifest)
            let builds = try await withThrowingTaskGroup(of: CreatedBuild.self) { group in
                for _ in 0..<50 {
                    group.addTask {
                        try await submitter.submit(BuildRequest(userID: user.id, manifest: manifest, trigger: .manual(by: user)))
                    }
                }
                return try await group.reduce(into: []) { $0.append($1) }
            }
            #expect(builds.map(\.number).sorted() == Array(1...50))
            #expect(Set(builds.map(\.id)).count == 50)
            #expect(try await f.rows("SELECT number FROM builds ORDER BY number").map { Int($0[0]!)! } == Array(1...50))
            #expect(Set(try await f.queuedBuilds("builds_os").map(\.payload.buildID)) == Set(builds.map(\.id)))
        }
    }

    @Test func enqueueFailureAfterCommitMarksTheBuildFailed() async throws {
        try await BuildFixture.with { f in
            let user = try await f.addUser("frank")
            let submitter = f.submitter(enqueuer: FailingEnqueuer())
            do {
                _ = try await submitter.submit(BuildRequest(userID: user.id, manifest: try parse(osManifest), trigger: .manual(by: user)))
                Issue.record("submitted")
            } catch let error as BuildSubmissionError {
                guard case .enqueueFailed(let id, let number, let queue, let reason, let marked) = error else {
                    Issue.record("\(error)")
                    return
                }
                #expect(number == 1 && queue == "builds_os" && reason == "connection refused (test)" && marked)
                #expect(error.description == "build \(id) (#1) was created but could not be queued on builds_os: connection refused (test); it is marked failed")
                let rows = try await f.rows("SELECT id, status, output, finished_at IS NOT NULL FROM builds")
                #expect(rows == [[String(id), "failed", "could not queue the build on builds_os: connection refused (test)", "t"]])
            }
        }
    }
}

/// Each refused submission leaves no row and no queue entry.
@Suite struct RefusedSubmissionTests {
    /// Runs `submission` on a fixture with two users and a namespace of alice's; checks it fails
    /// with `expected` and changed nothing.
    func expectNothingWritten(
        _ manifestText: String, enabled: Set<String> = ["docker", "os", "qemu-x86_64", "ssh"], submitter submitterName: String = "bob",
        setUp: (BuildFixture) async throws -> Void = { _ in }, expected: String
    ) async throws {
        try await BuildFixture.with { f in
            let alice = try await f.addUser("alice")
            let bob = try await f.addUser("bob")
            let team = try await f.insert(
                "INSERT INTO namespaces (user_id, name, path, level) VALUES ($1, 'team', 'team', 0) RETURNING id", [alice.id])
            try await f.pool.execute("UPDATE namespaces SET root_id = id WHERE id = $1", [team])
            try await f.pool.execute(
                "INSERT INTO variables (user_id, author_id, key, value) VALUES ($1, $1, 'V', 'v'), ($2, $2, 'V', 'v')", [alice.id, bob.id])
            try await setUp(f)
            let before = try await f.buildRowCounts()
            let user = submitterName == "alice" ? alice : bob
            do {
                _ = try await f.submitter(enabled: enabled).submit(
                    BuildRequest(userID: user.id, manifest: try parse(manifestText), trigger: .manual(by: user), tags: ["t"]))
                Issue.record("submitted")
            } catch {
                #expect("\(error)".contains(expected), "\(error)")
            }
            #expect(try await f.buildRowCounts() == before)
            #expect(try await f.redisKeys() == [])
        }
    }

    @Test func unknownDriver() async throws {
        try await expectNothingWritten(
            "driver:\n  type: qemu\n  image: x\n  arch: aarch64\n", expected: "driver error: qemu-aarch64 - unknown driver")
        #expect(throws: BuildSubmissionError.unknownDriver("kvm")) {
            try BuildQueue.check(key: "kvm", enabled: ["kvm"])
        }
    }

    @Test func disabledDriver() async throws {
        try await expectNothingWritten(osManifest, enabled: ["docker"], expected: "driver error: os - driver disabled")
    }

    @Test func namespaceOwnerThatDoesNotExist() async throws {
        try await expectNothingWritten(
            "namespace: team@nobody\n" + osManifest, expected: "namespace team@nobody: invalid owner: no user nobody")
    }

    @Test func notACollaborator() async throws {
        try await expectNothingWritten("namespace: team@alice\n" + osManifest, expected: "cannot submit to namespace team@alice: bob is not a collaborator")
    }

    /// Creating a namespace under another user's tree is refused too, and the namespaces that
    /// were created on the way are rolled back.
    @Test func notACollaboratorOfANewSubNamespace() async throws {
        try await expectNothingWritten(
            "namespace: team/new/deeper@alice\n" + osManifest, expected: "cannot submit to namespace team/new/deeper@alice: bob is not a collaborator")
    }

    @Test func databaseErrorHalfwayThrough() async throws {
        try await expectNothingWritten(osManifest + "\n    artifacts: [out.txt]\n", submitter: "alice", setUp: { f in
            try await f.db.psql("""
                CREATE FUNCTION refuse() RETURNS trigger LANGUAGE plpgsql AS $$
                BEGIN RAISE EXCEPTION 'artifact store is read-only (test)'; END $$;
                CREATE TRIGGER refuse BEFORE INSERT ON build_artifacts FOR EACH ROW EXECUTE FUNCTION refuse();
                """)
        }, expected: "artifact store is read-only (test)")
    }

    @Test func unknownSubmitter() async throws {
        try await BuildFixture.with { (f: BuildFixture) async throws in
            await #expect(throws: BuildSubmissionError.userNotFound(999)) {
                try await f.submitter().submit(BuildRequest(userID: 999, manifest: try parse(osManifest), trigger: BuildTrigger(type: .manual)))
            }
            #expect(try await f.count("builds") == 0)
            #expect(try await f.redisKeys() == [])
        }
    }
}
