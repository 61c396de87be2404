import DjinnJobs
import DjinnManifest
import DjinnPostgres
import Foundation
import Testing
@testable import DjinnBuilds

@Suite struct BuildPlanTests {
    @Test(arguments: [
        ("Build & Test!", "build-test"),
        ("Unit Tests.1", "unit-tests.1"),
        ("  spaced  out  ", "spaced-out"),
        ("--already--slugged--", "already-slugged"),
        ("a/b\\c:d", "a-b-c-d"),
        ("Ünïcode ✓ name", "n-code-name"),
        ("v1.2.3", "v1.2.3"),
        ("UPPER", "upper"),
        ("!!!", ""),
        ("", ""),
    ])
    func slug(_ name: String, _ expected: String) {
        #expect(BuildPlan.slug(name) == expected)
    }

    @Test func setupStageComesFirstWithCreateDriverAndOneCloneJobPerSource() throws {
        let manifest = try Manifest(parsing: """
            driver: {type: os}
            sources:
              - https://github.com/a/one
              - https://github.com/a/two.git main => there
            stages: [setup, build]
            allow_failures: [build, "setup - #7"]
            """)
        let plan = BuildPlan(manifest: manifest, buildNumber: 7)
        #expect(plan.stages == [
            BuildPlan.Stage(name: "setup - #7", canFail: true), BuildPlan.Stage(name: "setup", canFail: false),
            BuildPlan.Stage(name: "build", canFail: true),
        ])
        #expect(plan.jobs == [
            BuildPlan.Job(stage: "setup - #7", name: "create-driver", commands: [], artifacts: []),
            BuildPlan.Job(stage: "setup - #7", name: "clone.0", commands: [
                "mkdir -p one", "git clone -q https://github.com/a/one one", "cd one", "git checkout ",
            ], artifacts: []),
            BuildPlan.Job(stage: "setup - #7", name: "clone.1", commands: [
                "mkdir -p there", "git clone -q https://github.com/a/two.git there", "cd there", "git checkout main",
            ], artifacts: []),
        ])
    }

    /// Default names number the jobs of each run of one stage, as Djinn does (so a stage whose
    /// jobs are not together gets the same default name twice); jobs are keyed by id, so that
    /// is harmless.
    @Test func defaultJobNames() {
        let manifest = Manifest(driver: ["type": "os"], stages: ["Build Stage", "test"], jobs: [
            Job(stage: "Build Stage"), Job(stage: "Build Stage", name: "Named"), Job(stage: "Build Stage"),
            Job(stage: "test"), Job(stage: "undeclared"), Job(stage: "test"),
            Job(stage: "Build Stage"), Job(stage: "test", name: "?!"),
        ])
        let plan = BuildPlan(manifest: manifest, buildNumber: 1)
        #expect(plan.jobs.dropFirst().map { "\($0.stage)/\($0.name)" } == [
            "Build Stage/build-stage.1", "Build Stage/named", "Build Stage/build-stage.3",
            "test/test.1", "test/test.2",
            "Build Stage/build-stage.1", "test/test.1",
        ])
    }

    @Test func artifactsAreSortedAsTheManifestStoresThem() {
        let manifest = Manifest(driver: ["type": "os"], stages: ["s"], jobs: [
            Job(stage: "s", commands: ["a", "b"], artifacts: Passthrough(["z": "1", "a/b": "b", "a": "2"])),
        ])
        #expect(BuildPlan(manifest: manifest, buildNumber: 1).jobs.last?.artifacts == [
            BuildPlan.Artifact(source: "a", name: "2"), BuildPlan.Artifact(source: "a/b", name: "b"),
            BuildPlan.Artifact(source: "z", name: "1"),
        ])
    }

    @Test func queueKeys() throws {
        #expect(BuildQueue.key(for: ["type": "os"]) == "os")
        #expect(BuildQueue.key(for: ["type": "docker", "image": "x"]) == "docker")
        #expect(BuildQueue.key(for: ["type": "qemu"]) == "qemu-x86_64")
        #expect(BuildQueue.key(for: ["type": "qemu", "arch": "aarch64"]) == "qemu-aarch64")
        #expect(BuildQueue.key(for: [:]) == "")
        #expect(BuildQueue.name(forKey: "qemu-x86_64") == "builds_qemu-x86_64")
        #expect(BuildQueue.driverType(forKey: "qemu-x86_64") == .qemu)
        #expect(BuildQueue.driverType(forKey: "qemu-aarch64") == nil)

        try BuildQueue.check(key: "os", enabled: ["os"])
        #expect(throws: BuildSubmissionError.driverDisabled("ssh")) { try BuildQueue.check(key: "ssh", enabled: ["os"]) }
        #expect(throws: BuildSubmissionError.driverDisabled("qemu-x86_64")) { try BuildQueue.check(key: "qemu-x86_64", enabled: []) }
        #expect(throws: BuildSubmissionError.unknownDriver("")) { try BuildQueue.check(key: "", enabled: [""]) }
        #expect(BuildSubmissionError.driverDisabled("ssh").description == "driver error: ssh - driver disabled")
        #expect(BuildSubmissionError.unknownDriver("kvm").description == "driver error: kvm - unknown driver")
    }

    @Test func goJSON() {
        #expect(GoJSON.object([:]) == "{}")
        #expect(GoJSON.object(["username": "bob", "email": "bob@example.com"]) == #"{"email":"bob@example.com","username":"bob"}"#)
        #expect(GoJSON.object(["b": "1", "B": "2", "a": "<&>\"\\\n\t\u{1}\u{2028}é"])
            == #"{"B":"2","a":"\u003c\u0026\u003e\"\\\n\t\u0001\u2028é","b":"1"}"#)
    }

    @Test func timestampsStrictlyIncreaseByOneMicrosecond() {
        var clock = TimestampSequence(start: Date(timeIntervalSince1970: 1_700_000_000.123456))
        let stamps = (0..<1000).map { _ in PostgresTimestamp.format(clock.next()) }
        #expect(stamps.first == "2023-11-14 22:13:20.123456")
        #expect(stamps[999] == "2023-11-14 22:13:20.124455")
        #expect(Set(stamps).count == 1000 && stamps == stamps.sorted())
    }

    @Test func randomHex() {
        let tokens = (0..<100).map { _ in RandomHex.make(byteCount: 16) }
        #expect(Set(tokens).count == 100)
        #expect(tokens.allSatisfy { $0.count == 32 && $0.allSatisfy { "0123456789abcdef".contains($0) } })
    }
}
