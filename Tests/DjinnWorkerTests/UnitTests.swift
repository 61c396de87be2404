import BlockingIO
import Crypto
import DjinnRunner
import Foundation
import Logging
import Testing
@testable import DjinnWorker

/// The worker's pure and file-level pieces, without PostgreSQL or Redis.
@Suite struct UnitTests {
    @Test(arguments: [
        ("a/b/c", ["a", "b", "c"]), ("/etc/passwd", ["etc", "passwd"]), ("./a//b/", ["a", "b"]), ("a/../b", ["b"]),
        ("a/b/../../c", ["c"]),
    ])
    func pathsStayBelowTheRoot(_ path: String, _ expected: [String]) {
        #expect(SafePaths.components(path) == expected)
    }

    @Test(arguments: ["", "/", ".", "..", "../x", "a/../../x", "/../etc/passwd", "a/./..", "x\0y"])
    func pathsLeavingOrNamingTheRootAreRefused(_ path: String) {
        #expect(SafePaths.components(path) == nil)
    }

    @Test func filesAreNeverCreatedThroughASymbolicLink() throws {
        let root = try scratchDirectory()
        defer { try? FileManager.default.removeItem(atPath: root) }
        let outside = try scratchDirectory()
        defer { try? FileManager.default.removeItem(atPath: outside) }
        try FileManager.default.createSymbolicLink(atPath: root + "/link", withDestinationPath: outside)
        #expect(throws: SafePathError.notADirectory("link")) {
            try SafePaths.createFile(root: root, components: ["link", "x"])
        }
        try FileManager.default.createSymbolicLink(atPath: root + "/file-link", withDestinationPath: outside + "/target")
        #expect(throws: SafePathError.symbolicLink("file-link")) {
            try SafePaths.createFile(root: root, components: ["file-link"])
        }
        #expect(try FileManager.default.contentsOfDirectory(atPath: outside).isEmpty)
        let fd = try SafePaths.createFile(root: root, components: ["new", "dir", "file"], mode: 0o600)
        close(fd)
        let attributes = try FileManager.default.attributesOfItem(atPath: root + "/new/dir/file")
        #expect((attributes[.posixPermissions] as? Int) == 0o600)
    }

    @Test func readingResolvesLinksButOnlyInsideTheRoot() throws {
        let root = try scratchDirectory()
        defer { try? FileManager.default.removeItem(atPath: root) }
        try "inside".write(toFile: root + "/file", atomically: true, encoding: .utf8)
        try FileManager.default.createSymbolicLink(atPath: root + "/inner-link", withDestinationPath: "file")
        try FileManager.default.createSymbolicLink(atPath: root + "/outer-link", withDestinationPath: "/etc/hostname")
        try FileManager.default.createDirectory(atPath: root + "/dir", withIntermediateDirectories: false)
        let opened = try SafePaths.openForReading(root: root, path: "inner-link")
        close(opened.fd)
        #expect(opened.size == 6)
        #expect(throws: SafePathError.outside("outer-link")) { try SafePaths.openForReading(root: root, path: "outer-link") }
        #expect(throws: SafePathError.notARegularFile("dir")) { try SafePaths.openForReading(root: root, path: "dir") }
        #expect(throws: SafePathError.missing("nope")) { try SafePaths.openForReading(root: root, path: "nope") }
    }

    @Test func theBuildEnvironmentHasEachNameOnceAndVariablesWin() {
        let environment = OSDriver.environment(home: "/tmp/b", variables: ["A=1", "PATH=/opt/bin", "B=x=y", "=bad", "noequals", "A=2"])
        #expect(environment == ["HOME=/tmp/b", "PATH=/opt/bin", "A=2", "B=x=y"])
    }

    @Test(arguments: [(Int64(0), 5000, 5000), (1000, 5000, 1000), (5000, 5000, 5000), (10, 0, 0)])
    func artifactsAreTruncatedToTheLimitAndHashedAsStored(_ limit: Int64, _ size: Int, _ stored: Int) throws {
        let directory = try scratchDirectory()
        defer { try? FileManager.default.removeItem(atPath: directory) }
        let content = (0..<size).map { UInt8(truncatingIfNeeded: $0 * 7) }
        _ = FileManager.default.createFile(atPath: directory + "/source", contents: Data(content))
        let file = OpenFile(descriptor: open(directory + "/source", O_RDONLY), size: Int64(size))
        let result = try ArtifactCollector.copy(file, into: directory + "/store/7", name: "hash", limit: limit)
        let kept = Array(content.prefix(stored))
        #expect(result.size == Int64(stored))
        #expect(result.truncatedFrom == (stored < size ? Int64(size) : nil))
        #expect(result.md5 == Array(Insecure.MD5.hash(data: kept)))
        #expect(result.sha256 == Array(SHA256.hash(data: kept)))
        #expect(FileManager.default.contents(atPath: directory + "/store/7/hash").map(Array.init) == kept)
        // Nothing but the stored file is left in the store directory.
        #expect(try FileManager.default.contentsOfDirectory(atPath: directory + "/store/7") == ["hash"])
    }

    @Test func killSecretsAreComparedWhole() {
        #expect(KillWatcher.constantTimeEqual(Array("abc".utf8), Array("abc".utf8)))
        #expect(!KillWatcher.constantTimeEqual(Array("abc".utf8), Array("abd".utf8)))
        #expect(!KillWatcher.constantTimeEqual(Array("abc".utf8), Array("ab".utf8)))
        #expect(KillWatcher.constantTimeEqual([], []))
    }

    @Test func outputForAClosedStreamIsDropped() {
        let sink = OutputSink(masks: ["s3cret"])
        sink.open(.job(1))
        #expect(sink.write("job one s3cret\n", to: .job(1)))
        sink.open(.job(2))
        #expect(!sink.write("late output of job one\n", to: .job(1)))
        #expect(sink.write("job two\n", to: .job(2)))
        sink.close(.job(2))
        #expect(sink.takeJobUpdate(1, final: true)?.suffix == "job one xxxxxx\n")
        #expect(sink.takeJobUpdate(2, final: true)?.suffix == "job two\n")
        #expect(sink.renderBuild() == "job one xxxxxx\njob two\n")
    }

    /// Two builds at once: each job runs in its own directory with its own environment, and
    /// the worker's own directory and environment are untouched.
    @Test func osDriversRunSideBySideWithoutTouchingTheWorker() async throws {
        let temporary = try scratchDirectory()
        defer { try? FileManager.default.removeItem(atPath: temporary) }
        let before = (FileManager.default.currentDirectoryPath, ProcessInfo.processInfo.environment["NAME"])
        let logger = Logger(label: "test", factory: { _ in SwiftLogNoOpLogHandler() })
        let sink = OutputSink(masks: [])
        try await withThrowingTaskGroup(of: (String, String).self) { group in
            for name in ["one", "two"] {
                group.addTask {
                    let driver = OSDriver(temporaryDirectory: temporary, logger: logger)
                    let id: Int64 = name == "one" ? 1 : 2
                    sink.open(.job(id))
                    try await driver.create(
                        DriverSetup(environment: ["NAME=\(name)"], keys: [], objects: []),
                        output: DriverOutput(sink: sink, stream: .job(id)))
                    let directory = try #require(driver.directory)
                    let outcome = try await driver.execute(
                        DriverJob(id: id, name: name, commands: ["sleep 0.2", "echo \"$NAME $(pwd)\" > out.txt"]),
                        output: DriverOutput(sink: sink, stream: .job(id)))
                    #expect(outcome == .passed)
                    let written = try String(contentsOfFile: directory + "/out.txt", encoding: .utf8)
                    await driver.abort()
                    await driver.destroy()
                    #expect(!FileManager.default.fileExists(atPath: directory))
                    return (written, directory)
                }
            }
            for try await (written, directory) in group {
                #expect(written.hasSuffix(" \(directory)\n"))
                #expect(written.hasPrefix("one ") || written.hasPrefix("two "))
            }
        }
        #expect(FileManager.default.currentDirectoryPath == before.0)
        #expect(ProcessInfo.processInfo.environment["NAME"] == before.1)
    }

    @Test func aFailingScriptReportsItsExitStatus() async throws {
        let temporary = try scratchDirectory()
        defer { try? FileManager.default.removeItem(atPath: temporary) }
        let driver = OSDriver(temporaryDirectory: temporary, logger: Logger(label: "test", factory: { _ in SwiftLogNoOpLogHandler() }))
        let sink = OutputSink(masks: [])
        sink.open(.job(1))
        let output = DriverOutput(sink: sink, stream: .job(1))
        try await driver.create(DriverSetup(environment: [], keys: [], objects: []), output: output)
        #expect(try await driver.execute(DriverJob(id: 1, name: "x", commands: ["echo a", "exit 4", "echo b"]), output: output)
            == .failed("exit status 4"))
        let huge = String(repeating: "x", count: OSDriver.maximumScriptBytes)
        #expect(try await driver.execute(DriverJob(id: 1, name: "x", commands: [huge]), output: output).success == false)
        await driver.abort()
        await driver.destroy()
        sink.close(.job(1))
        let text = sink.takeJobUpdate(1, final: true)?.suffix ?? ""
        #expect(text.contains("+ echo a\na\n+ exit 4\n"))
        #expect(!text.contains("echo b"))
    }

    func scratchDirectory() throws -> String {
        let path = FileManager.default.temporaryDirectory.appendingPathComponent("worker-unit-\(UUID().uuidString.prefix(8))").path
        try FileManager.default.createDirectory(atPath: path, withIntermediateDirectories: true)
        return SafePaths.realPath(path) ?? path
    }
}
