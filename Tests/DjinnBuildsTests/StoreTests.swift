@testable import DjinnBuilds
import DjinnManifest
import DjinnPostgres
import DjinnRedis
import DjinnTesting
import Foundation
import Testing

@Suite struct NamespaceResolutionTests {
    @Test func missingNamespacesAreCreatedWithTheirParents() async throws {
        try await BuildFixture.with { f in
            let alice = try await f.addUser("alice")
            let store = NamespaceStore(f.pool)
            let deep = try await store.resolve(NamespacePath(path: "a/b/c"), owner: alice, submitter: alice)
            let rows = try await f.rows("SELECT id, user_id, root_id, parent_id, name, path, description, level, visibility FROM namespaces ORDER BY id")
            #expect(rows.count == 3)
            let (a, b) = (rows[0][0]!, rows[1][0]!)
            let owner = String(alice.id)
            #expect(rows.map { Array($0.dropFirst()) } == [
                [owner, a, nil, "a", "a", "", "0", "private"],
                [owner, a, a, "b", "a/b", "", "1", "private"],
                [owner, a, b, "c", "a/b/c", "", "2", "private"],
            ])
            #expect(deep == NamespaceRecord(id: Int64(rows[2][0]!)!, userID: alice.id, rootID: Int64(a)!, parentID: Int64(b)!,
                                            name: "c", path: "a/b/c", level: 2, visibility: "private"))

            // Existing ones are found, and a new child inherits its parent's visibility.
            #expect(try await store.resolve(NamespacePath(path: "a/b"), owner: alice, submitter: alice).id == Int64(b)!)
            try await f.pool.execute("UPDATE namespaces SET visibility = 'public' WHERE id = $1", [Int64(b)!])
            let sibling = try await store.resolve(NamespacePath(path: "a/b/d"), owner: alice, submitter: alice)
            #expect(sibling.visibility == "public" && sibling.level == 2 && sibling.rootID == Int64(a)! && sibling.parentID == Int64(b)!)
            #expect(try await f.count("namespaces") == 4)
        }
    }

    @Test func ownerAndCollaborators() async throws {
        try await BuildFixture.with { f in
            let alice = try await f.addUser("alice")
            let bob = try await f.addUser("bob")
            let carol = try await f.addUser("carol")
            let store = NamespaceStore(f.pool)
            let team = try await store.resolve(NamespacePath(path: "team"), owner: alice, submitter: alice)
            try await f.pool.execute("INSERT INTO namespace_collaborators (namespace_id, user_id) VALUES ($1, $2)", [team.id, bob.id])

            #expect(try await store.owner(of: NamespacePath(path: "team"), submitter: bob) == bob)
            #expect(try await store.owner(of: NamespacePath(path: "team", owner: "alice"), submitter: bob) == alice)
            await #expect(throws: BuildSubmissionError.namespaceOwnerNotFound(namespace: "team@zed", owner: "zed")) {
                try await store.owner(of: NamespacePath(path: "team", owner: "zed"), submitter: bob)
            }
            // Collaborators are recorded on the root and count for every namespace below it.
            let sub = try await store.resolve(NamespacePath(path: "team/sub", owner: "alice"), owner: alice, submitter: bob)
            #expect(sub.userID == alice.id && sub.rootID == team.id)
            await #expect(throws: BuildSubmissionError.notCollaborator(namespace: "team/sub@alice", username: "carol")) {
                try await store.resolve(NamespacePath(path: "team/sub", owner: "alice"), owner: alice, submitter: carol)
            }
            #expect(try await store.canSubmit(alice, to: sub))
            #expect(try await store.canSubmit(bob, to: sub))
            #expect(try await store.canSubmit(carol, to: sub) == false)
        }
    }

    @Test func aSubmissionCreatesItsNamespaceAndOwnsTheBuildByTheOwner() async throws {
        try await BuildFixture.with { f in
            let alice = try await f.addUser("alice")
            let build = try await f.submitter().submit(BuildRequest(
                userID: alice.id, manifest: try parse("namespace: proj/api\n" + osManifest), trigger: .manual(by: alice)))
            #expect(try await f.rows("SELECT path, level FROM namespaces ORDER BY id") == [["proj", "0"], ["proj/api", "1"]])
            #expect(try await f.rows("SELECT namespace_id FROM builds")[0][0] == build.namespaceID.map(String.init))
            #expect(try await f.rows("SELECT n.path FROM builds b JOIN namespaces n ON n.id = b.namespace_id") == [["proj/api"]])
        }
    }
}

@Suite struct BuildStoreTests {
    @Test func detailsOfASubmittedBuild() async throws {
        try await BuildFixture.with { f in
            let alice = try await f.addUser("alice")
            let manifest = try parse("""
                namespace: proj
                driver: {type: os}
                stages: [build, test]
                allow_failures: [test]
                jobs:
                  - stage: build
                    commands: [make]
                    artifacts: [bin/app => app]
                  - stage: test
                    name: Unit
                    commands: [make test]
                """)
            let build = try await f.submitter().submit(
                BuildRequest(userID: alice.id, manifest: manifest, trigger: .manual(by: alice, comment: "hi"), tags: ["x", "y"]))
            let details = try #require(try await BuildStore(f.pool).details(buildID: build.id))
            #expect(details.id == build.id && details.number == 1 && details.owner == alice)
            #expect(details.namespace == "proj@alice")
            #expect(details.status == .queued && details.output == nil && !details.pinned && details.startedAt == nil)
            #expect(details.trigger == BuildDetails.Trigger(type: .manual, comment: "hi", data: #"{"email":"alice@example.com","username":"alice"}"#))
            #expect(details.tags == ["x", "y"])
            #expect(details.driver == BuildDetails.Driver(type: "os", config: #"{"type":"os"}"#))
            #expect(details.stages.map { "\($0.name) \($0.canFail) \($0.jobs.map(\.name))" } == [
                "setup - #1 false [\"create-driver\"]", "build false [\"build.1\"]", "test true [\"unit\"]",
            ])
            #expect(details.stages.flatMap(\.jobs).allSatisfy { $0.status == .queued })
            #expect(details.artifacts.map { "\($0.jobName) \($0.source) \($0.name) \($0.size.map(String.init) ?? "nil") \($0.deleted)" } == ["build.1 bin/app app nil false"])
            #expect(try await BuildStore(f.pool).details(buildID: build.id + 100) == nil)
        }
    }

    @Test func killPublishesTheSecretOnlyForARunningBuild() async throws {
        try await BuildFixture.with { f in
            // Kill channels are not prefixed: give this database's builds ids no other test uses.
            try await f.pool.execute("SELECT setval('builds_id_seq', $1)", [Int64.random(in: 1_000_000_000...2_000_000_000)])
            let alice = try await f.addUser("alice")
            let build = try await f.submitter().submit(
                BuildRequest(userID: alice.id, manifest: try parse(osManifest), trigger: .manual(by: alice)))
            let store = BuildStore(f.pool)
            #expect(try await store.kill(buildID: build.id, redis: f.redis) == .notRunning(.queued))
            #expect(try await store.kill(buildID: build.id + 1, redis: f.redis) == nil)

            let subscriber = f.redis.makeSubscriber()
            try await subscriber.subscribe(["kill-\(build.id)"])
            try await f.pool.execute("UPDATE builds SET status = 'running' WHERE id = $1", [build.id])
            #expect(try await store.kill(buildID: build.id, redis: f.redis) == .sent(receivers: 1))
            let secret = try await f.rows("SELECT secret FROM builds")[0][0]
            for await message in subscriber.messages {
                #expect(message.channel == "kill-\(build.id)")
                #expect(message.payloadString == secret)
                break
            }
            await subscriber.close()
        }
    }
}

@Suite struct UserStoreTests {
    @Test func addAndFind() async throws {
        try await BuildFixture.with { f in
            let store = UserStore(f.pool)
            let hana = try await store.add(username: "hana", email: "hana@example.com")
            #expect(try await store.find(username: "hana") == hana)
            #expect(try await store.find(id: hana.id) == hana)
            #expect(try await store.find(username: "nobody") == nil)
            #expect(try await f.rows("SELECT password, verified, cleanup, deleted_at FROM users") == [["\\x", "t", "1073741824", nil]])
            await #expect(throws: UserError.exists(username: "hana", email: "other@example.com")) {
                try await store.add(username: "hana", email: "other@example.com")
            }
            await #expect(throws: UserError.exists(username: "other", email: "hana@example.com")) {
                try await store.add(username: "other", email: "hana@example.com")
            }
            await #expect(throws: UserError.invalidUsername("a b")) { try await store.add(username: "a b", email: "x@y") }
            await #expect(throws: UserError.invalidEmail("nope")) { try await store.add(username: "ok", email: "nope") }
            try await f.pool.execute("UPDATE users SET deleted_at = now()")
            #expect(try await store.find(username: "hana") == nil)
        }
    }
}
