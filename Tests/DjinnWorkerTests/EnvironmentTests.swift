import Crypto
import DjinnTesting
import DjinnWorker
import Foundation
import Testing

/// What a build gets to work with: variables (masked ones decrypted and hidden in every stored
/// byte), keys, objects at their destination, artifacts collected into the store, its own
/// directory and environment even with builds in parallel.
@Suite struct EnvironmentTests {
    @Test func maskedVariablesNeverReachStoredOutputAndKeysArePlacedWithAnSSHConfig() async throws {
        try await WorkerFixture.with { f in
            let secret = "hunter2-supersecret"
            try await f.addVariable("SECRET", secret, masked: true)
            try await f.addVariable("PLAIN", "plain-value")
            try await f.addKey("deploy", "KEY-BODY-LINE\n", config: "Host example.com\n  IdentityFile ~/.ssh/deploy")
            let build = try await f.submit("""
                driver:
                  type: os
                stages: [build]
                jobs:
                  - stage: build
                    name: show
                    commands:
                      - echo "secret is $SECRET and plain is $PLAIN"
                      - echo "$SECRET" >&2
                      - printf 'hunter2-'; sleep 0.3; printf 'supersecret\\n'
                      - env | sort
                      - cat ~/.ssh/config
                      - stat -c '%a %n' ~/.ssh ~/.ssh/deploy
                      - cat ~/.ssh/deploy
                  - stage: build
                    name: fails-with-secret
                    commands:
                      - echo "$SECRET"
                      - exit 1
                """)
            let finished = try await f.withService { _ in try await f.waitFinished(build.id) }
            #expect(finished.status == "failed")
            let stored = finished.storedText
            #expect(!stored.contains(secret), "the secret was stored")
            let show = try #require(finished.job("show")?.output)
            #expect(show.contains("secret is xxxxxx and plain is plain-value"), "\(show)")
            #expect(show.contains("\nxxxxxx\n"))
            #expect(show.contains("PLAIN=plain-value"))
            #expect(show.contains("SECRET=xxxxxx"))
            #expect(!show.contains("DJINN_PG_"), "the worker's environment leaked into the build")
            #expect(show.contains("PATH=\(OSDriver.defaultPath)\n"))
            #expect(show.contains("\nStrictHostKeyChecking no\nUserKnownHostsFile /dev/null\n\nHost example.com\n  IdentityFile ~/.ssh/deploy\n"))
            #expect(show.contains("700 "), "~/.ssh is 0700: \(show)")
            #expect(show.contains("600 "), "the key is 0600")
            #expect(show.contains("KEY-BODY-LINE"))
            #expect(finished.job("create-driver")?.output?.contains("Placing key deploy => ~/.ssh/deploy") == true)
        }
    }

    @Test func objectsArePlacedAtTheirDestinationInsideTheBuildDirectory() async throws {
        try await WorkerFixture.with { f in
            try await f.addObject("config.txt", "config-content\n")
            try await f.addObject("data.bin", "data-content\n")
            try await f.addObject("escape.txt", "must not escape\n")
            try await f.addObject("gone.txt", "deleted later\n")
            let escapeTarget = f.directory.appendingPathComponent("escaped.txt").path
            let build = try await f.submit("""
                driver:
                  type: os
                objects:
                  - config.txt => conf/app.txt
                  - data.bin => /etc/data.bin
                  - escape.txt => ../../escaped.txt
                  - gone.txt => gone.txt
                stages: [build]
                jobs:
                  - stage: build
                    commands:
                      - cat conf/app.txt
                      - cat etc/data.bin
                      - test ! -e gone.txt
                """)
            try await f.pool.execute("UPDATE objects SET deleted_at = now() WHERE name = 'gone.txt'")
            let finished = try await f.withService { _ in try await f.waitFinished(build.id) }
            #expect(finished.status == "passed", "\(finished)")
            let job = try #require(finished.job("build.1")?.output)
            #expect(job.contains("config-content"))
            #expect(job.contains("data-content"))
            let driver = try #require(finished.job("create-driver")?.output)
            #expect(driver.contains("Placing object config.txt => conf/app.txt\n"))
            #expect(driver.contains("Placing object escape.txt => ../../escaped.txt\nobject error: ../../escaped.txt is outside the build directory\n"), "\(driver)")
            #expect(driver.contains("object error: object gone.txt no longer exists"))
            #expect(!FileManager.default.fileExists(atPath: escapeTarget))
        }
    }

    @Test func artifactsAreStoredWithHashesAndTruncatedAtTheLimitAndNeverReadFromOutside() async throws {
        try await WorkerFixture.with { f in
            let build = try await f.submit("""
                driver:
                  type: os
                stages: [build]
                jobs:
                  - stage: build
                    name: make
                    commands:
                      - echo small-content > small.txt
                      - yes 0123456789 | head -c 5000 > big.bin
                      - mkdir -p out && printf nested > out/nested.txt
                      - ln -s /etc/hostname leak
                      - ln -s out/nested.txt via-link
                    artifacts:
                      - small.txt => small.txt
                      - big.bin => big.bin
                      - out/nested.txt => nested.txt
                      - leak => leak
                      - ../../../../../etc/hostname => escape
                      - /etc/hostname => absolute
                      - via-link => via-link
                """)
            let finished = try await f.withService(f.settings(artifactLimit: 1000)) { _ in try await f.waitFinished(build.id) }
            #expect(finished.status == "passed", "\(finished)")
            let output = try #require(finished.job("make")?.output)
            #expect(output.contains("Collecting artifact small.txt => small.txt\n"))
            #expect(output.contains("artifact big.bin truncated to its first 1000 of 5000 bytes (artifacts store limit)"), "\(output)")
            #expect(output.contains("Collecting artifact leak => leak\nartifact error: leak is outside the build directory\n"), "\(output)")
            #expect(output.contains("artifact error: ../../../../../etc/hostname is outside the build directory"))
            #expect(output.contains("artifact error: /etc/hostname: no such file or directory"))

            let rows = try await f.pool.query(
                "SELECT name, hash, size, md5, sha256 FROM build_artifacts WHERE build_id = $1 ORDER BY name", [build.id])
            var stored: [String: (hash: String, size: Int64?, md5: [UInt8]?, sha256: [UInt8]?)] = [:]
            for row in rows {
                stored[try row.decode(String.self, column: "name")] = (
                    try row.decode(String.self, column: "hash"), try row.decode(Int64?.self, column: "size"),
                    try row.decode([UInt8]?.self, column: "md5"), try row.decode([UInt8]?.self, column: "sha256"))
            }
            let big = Array(String(repeating: "0123456789\n", count: 500).utf8.prefix(1000))
            let expected: [String: [UInt8]] = [
                "small.txt": Array("small-content\n".utf8), "big.bin": big, "nested.txt": Array("nested".utf8),
                "via-link": Array("nested".utf8),
            ]
            for (name, content) in expected {
                let row = try #require(stored[name], "\(name)")
                #expect(row.size == Int64(content.count), "\(name)")
                #expect(row.md5 == Array(Insecure.MD5.hash(data: content)), "\(name)")
                #expect(row.sha256 == Array(SHA256.hash(data: content)), "\(name)")
                let file = f.artifactsPath + "/\(f.user.id)/\(row.hash)"
                #expect(FileManager.default.contents(atPath: file).map(Array.init) == content, "\(name)")
            }
            for name in ["leak", "escape", "absolute"] {
                #expect(stored[name]?.size == nil, "\(name) must not be stored")
                #expect(stored[name].map { !FileManager.default.fileExists(atPath: f.artifactsPath + "/\(f.user.id)/\($0.hash)") } == true)
            }
        }
    }

    @Test func fourBuildsRunInParallelEachInItsOwnDirectoryAndEnvironment() async throws {
        try await WorkerFixture.with { f in
            var builds: [Int64] = []
            for index in 1...4 {
                builds.append(try await f.submit("""
                    driver:
                      type: os
                    env:
                      - NAME=build-\(index)
                    stages: [build]
                    jobs:
                      - stage: build
                        commands:
                          - echo "$NAME" > name.txt
                          - sleep 2
                          - echo "name=$(cat name.txt) env=$NAME home=$HOME pwd=$(pwd)"
                    """).id)
            }
            var states: [WorkerFixture.BuildState] = []
            try await f.withService(f.settings(parallelism: 4)) { _ in
                for id in builds { states.append(try await f.waitFinished(id)) }
            }
            var homes: Set<String> = []
            for (index, state) in states.enumerated() {
                #expect(state.status == "passed", "\(state)")
                let output = try #require(state.job("build.1")?.output)
                let line = try #require(output.split(separator: "\n").first { $0.hasPrefix("name=") })
                #expect(line.hasPrefix("name=build-\(index + 1) env=build-\(index + 1) home="), "\(line)")
                let parts = line.split(separator: " ")
                let home = String(parts[2].dropFirst("home=".count))
                #expect(String(parts[3]) == "pwd=" + home)
                homes.insert(home)
            }
            #expect(homes.count == 4)
            // They overlapped: every build started before any finished.
            let lastStart = states.compactMap(\.startedAt).max()!
            let firstFinish = states.compactMap(\.finishedAt).min()!
            #expect(lastStart < firstFinish, "the builds ran one after another")
        }
    }

    @Test func aBuildWhoseDriverCannotBeCreatedFailsWithTheReason() async throws {
        try await WorkerFixture.with { f in
            try await f.addVariable("SECRET", "cannot-be-read", masked: true)
            let build = try await f.submit("""
                driver:
                  type: os
                stages: [build]
                jobs:
                  - stage: build
                    commands: [echo never]
                """)
            let finished = try await f.withService(f.settings(crypto: false)) { _ in try await f.waitFinished(build.id) }
            #expect(finished.status == "failed")
            let reason = "cannot decrypt masked variable SECRET: the worker has no crypto block\n"
            #expect(finished.job("create-driver")?.status == "failed")
            #expect(finished.job("create-driver")?.output?.hasSuffix(reason) == true)
            #expect(finished.job("build.1")?.status == "failed")
            #expect(finished.job("build.1")?.startedAt == nil)
            #expect(finished.output?.contains(reason) == true)
        }
    }
}
