import DjinnBuilds
import DjinnManifest
import Foundation
import Testing

/// `BuildRows`, the pure value both build paths write.
@Suite struct BuildRowsTests {
    static let start = Date(timeIntervalSince1970: 1_700_000_000)

    @Test func queuedRowsInCreationOrder() throws {
        let manifest = try Manifest(parsing: """
            driver:
              type: qemu
              image: debian
            objects: [b.bin => /b, a.bin]
            sources: [https://example.com/r.git]
            stages: [build]
            allow_failures: ["setup - #7"]
            jobs:
              - stage: build
                commands: [make, make install]
                artifacts: [out/x => x, out/y]
            """, file: "m")
        let user = UserRecord(id: 3, username: "bob", email: "bob@example.com")
        let rows = try BuildRows.queued(
            BuildRequest(userID: 3, manifest: manifest, trigger: .manual(by: user), tags: ["a", "", "b", "a"]),
            ownerID: 9, namespaceID: 4, number: 7, start: Self.start)
        #expect(rows.ownerID == 9 && rows.submitterID == 3 && rows.namespaceID == 4 && rows.number == 7)
        #expect(rows.status == .queued && rows.output == nil && rows.finishedAt == nil && rows.copiesOwnerSecrets)
        #expect(rows.manifest == manifest.encoded())
        #expect(rows.queue == "builds_qemu-x86_64")
        #expect(rows.driver?.type == .qemu && rows.driver?.config == #"{"arch":"x86_64","image":"debian","type":"qemu"}"#)
        #expect(rows.tags.map(\.name) == ["a", "b"])
        #expect(rows.tags.allSatisfy { $0.createdAt == rows.createdAt })
        #expect(rows.objects.map(\.name) == ["a.bin", "b.bin"])
        #expect(rows.stages.map(\.name) == ["setup - #7", "build"])
        #expect(rows.stages.map(\.canFail) == [true, false])
        #expect(rows.jobs.map(\.name) == ["create-driver", "clone.0", "build.1"])
        #expect(rows.jobs.map(\.stage) == [0, 0, 1])
        #expect(rows.jobs[2].commands == "make\nmake install")
        #expect(rows.jobs[2].artifacts.map(\.source) == ["out/x", "out/y"] && rows.jobs[2].artifacts[0].name == "x")
        #expect(Set(rows.jobs[2].artifacts.map(\.hash)).count == 2 && rows.secret.count == 32)
        // build, objects, stages, then each job followed by its artifacts: 1 µs apart.
        let times = [rows.createdAt] + rows.objects.map(\.createdAt) + rows.stages.map(\.createdAt)
            + rows.jobs.flatMap { [$0.createdAt] + $0.artifacts.map(\.createdAt) }
        let micros = times.map { Int64(($0.timeIntervalSince1970 * 1_000_000).rounded()) }
        #expect(micros == (0..<Int64(times.count)).map { micros[0] + $0 })
    }

    @Test func failedRowsHaveNothingToRun() {
        let trigger = BuildTrigger(type: .schedule, comment: "c", data: ["username": "bob"])
        let rows = BuildRows.failed(
            FailedBuildRequest(userID: 3, namespaceID: nil, manifestText: "driver: [", trigger: trigger, tags: ["cron:x", "cron:x"], reason: "why"),
            number: 2, start: Self.start)
        #expect(rows.status == .failed && rows.output == "why" && rows.finishedAt == rows.createdAt)
        #expect(rows.manifest == "driver: [" && rows.ownerID == 3 && rows.submitterID == 3 && rows.number == 2)
        #expect(rows.driver == nil && rows.stages.isEmpty && rows.jobs.isEmpty && rows.objects.isEmpty && rows.queue == nil)
        #expect(!rows.copiesOwnerSecrets)
        #expect(rows.tags.map(\.name) == ["cron:x"] && rows.tags[0].createdAt > rows.createdAt)
    }
}
