import Foundation
import Testing
@testable import DjinnConfig

@Suite struct IncludeTests {
    private let database = "database { addr \"db:5432\"; name \"included\" }\n"
    private let redis = "redis { addr \"redis:6379\" }\n"
    private let stores = "store artifacts { type \"file\"; path \"/a\" }\nstore objects { type \"file\"; path \"/o\" }\n"

    @Test func relativeToTheIncludingFile() throws {
        let loaded = try loadWorker(
            "driver \"os\"\ninclude \"db.conf\"\ninclude [\"redis.conf\", \"stores.conf\",]\n",
            file: "conf/worker.conf",
            others: ["conf/db.conf": database, "conf/redis.conf": redis, "conf/stores.conf": stores]
        )
        #expect(loaded.files == ["conf/worker.conf", "conf/db.conf", "conf/redis.conf", "conf/stores.conf"])
        #expect(loaded.settings.database == DatabaseSettings(addr: "db:5432", name: "included"))
        #expect(loaded.settings.redis.addr == "redis:6379")
        #expect(loaded.settings.objects.path == "/o")
    }

    @Test func nestedIncludesResolveAgainstTheirOwnDirectory() throws {
        let loaded = try loadWorker(
            "driver \"os\"\ninclude \"services/all.conf\"\n",
            file: "conf/worker.conf",
            others: [
                "conf/services/all.conf": "include [\"db.conf\", \"../stores.conf\"]\n" + redis,
                "conf/services/db.conf": database,
                "conf/stores.conf": stores,
            ]
        )
        #expect(loaded.files == ["conf/worker.conf", "conf/services/all.conf", "conf/services/db.conf", "conf/services/../stores.conf"])
        #expect(loaded.settings.database.name == "included")
    }

    @Test func fallsBackToTheCurrentDirectory() throws {
        // The current directory of `memory(…)` is /etc/djinn.
        let loaded = try loadWorker(
            "driver \"os\"\ninclude \"shared.conf\"\n" + redis + stores,
            file: "/opt/djinn/worker.conf",
            others: ["/etc/djinn/shared.conf": database]
        )
        #expect(loaded.files == ["/opt/djinn/worker.conf", "shared.conf"])
        #expect(loaded.settings.database.name == "included")
    }

    @Test func besideTheIncluderWinsOverTheCurrentDirectory() throws {
        let loaded = try loadWorker(
            "driver \"os\"\ninclude \"db.conf\"\n" + redis + stores,
            file: "/opt/djinn/worker.conf",
            others: ["/opt/djinn/db.conf": database, "/etc/djinn/db.conf": "database { addr \"wrong:1\" }\n"]
        )
        #expect(loaded.settings.database.addr == "db:5432")
    }

    @Test func absolutePaths() throws {
        let loaded = try loadWorker(
            "driver \"os\"\ninclude \"/srv/db.conf\"\n" + redis + stores,
            others: ["/srv/db.conf": database]
        )
        #expect(loaded.files == ["worker.conf", "/srv/db.conf"])
    }

    @Test func includedParametersAreSplicedInPlace() throws {
        let loaded = try loadWorker(
            "parallelism 1\ninclude \"p.conf\"\nparallelism 3\ntimeout 5m\ninclude \"t.conf\"\n" + Minimal.worker,
            others: ["p.conf": "parallelism 2\n", "t.conf": "timeout 7m\n"]
        )
        #expect(loaded.settings.parallelism == 3)
        #expect(loaded.settings.timeout == .seconds(420))
    }

    @Test func includeSelf() {
        #expect(failures { () throws(ConfigError) in try loadWorker("include \"worker.conf\"\n" + Minimal.worker) }
            == ["worker.conf:1:9: cannot include self"])
        #expect(failures { () throws(ConfigError) in try loadWorker("include \"./conf/../worker.conf\"\n" + Minimal.worker) }
            == ["worker.conf:1:9: cannot include self"])
    }

    @Test func includeCycle() {
        let lines = failures { () throws(ConfigError) in
            try loadWorker(
                "include \"a.conf\"\n" + Minimal.worker,
                others: ["a.conf": "include \"b.conf\"\n", "b.conf": "\ninclude \"worker.conf\"\n"]
            )
        }
        #expect(lines == ["b.conf:2:9: include cycle: worker.conf -> a.conf -> b.conf -> worker.conf"])
    }

    @Test func includingTheSameFileTwice() {
        let lines = failures { () throws(ConfigError) in
            try loadWorker(
                "include [\"a.conf\", \"b.conf\"]\n" + Minimal.worker,
                others: ["a.conf": "parallelism 1\n", "b.conf": "include \"a.conf\"\n"]
            )
        }
        #expect(lines == ["b.conf:1:9: a.conf already included from worker.conf"])
    }

    @Test func missingIncludedFile() {
        #expect(failures { () throws(ConfigError) in try loadWorker(Minimal.worker + "include \"nope.conf\"\n") }
            == [#"worker.conf:6:9: cannot include "nope.conf": no such file or directory"#])
        #expect(failures { () throws(ConfigError) in try loadWorker(Minimal.worker + "include [\"a.conf\", \"nope.conf\"]\n", others: ["a.conf": ""]) }
            == [#"worker.conf:6:20: cannot include "nope.conf": no such file or directory"#])
    }

    @Test func malformedIncludes() {
        #expect(failures { () throws(ConfigError) in try loadWorker(Minimal.worker + "include 5\n") }
            == ["worker.conf:6:9: include expects a string or an array of strings, not an int"])
        #expect(failures { () throws(ConfigError) in try loadWorker(Minimal.worker + "include { a 1 }\n") }
            == ["worker.conf:6:9: include expects a string or an array of strings, not a block"])
        #expect(failures { () throws(ConfigError) in try loadWorker(Minimal.worker + "include [\"a.conf\", 1m]\n", others: ["a.conf": ""]) }
            == ["worker.conf:6:20: expected string literal in include array"])
        #expect(failures { () throws(ConfigError) in try loadWorker(Minimal.worker + "include other \"a.conf\"\n", others: ["a.conf": ""]) }
            == [#"worker.conf:6:9: unexpected name "other" after include, expected a string or an array of strings"#])
        #expect(failures { () throws(ConfigError) in try loadWorker(Minimal.worker + "include\n") }
            == ["worker.conf:6:8: unexpected newline"])
    }

    @Test func syntaxErrorsNameTheIncludedFile() {
        let lines = failures { () throws(ConfigError) in
            try loadWorker(
                "timeout 1.2.3\ninclude \"conf.d/db.conf\"\nparallelism @ 2\n" + Minimal.worker,
                others: ["conf.d/db.conf": "database {\n    addr \"h:1\" name \"x\"\n}\n"]
            )
        }
        #expect(lines == [
            "worker.conf:1:12: invalid point in float",
            "conf.d/db.conf:2:16: expected newline or }",
            "worker.conf:3:13: unexpected character '@' (U+0040)",
        ])
    }

    @Test func decodeDiagnosticsNameTheIncludedFile() {
        let lines = failures { () throws(ConfigError) in
            try loadWorker(
                "include \"db.conf\"\n" + Minimal.worker + "database { addr \"h:1\" }\n",
                others: ["db.conf": "\n\ndatabase {\n    adr \"x\"\n}\n\ntimeout 90\n"]
            )
        }
        #expect(lines == [
            #"db.conf:4:5: warning: unknown parameter "database.adr" (did you mean "database.addr"?)"#,
            "db.conf:3:1: database.addr not configured",
            "db.conf:7:1: missing unit in duration 90 for timeout (did you mean 90s?)",
        ])
    }

    @Test func syntaxOnlyParseOfADocument() throws {
        let document = try ConfigParser.parse(
            path: "main.conf",
            fileSystem: .inMemory(["main.conf": "a 1\ninclude \"b.conf\"\nc 3\n", "b.conf": "b 2\n"])
        )
        #expect(document.parameters.map(\.name.text) == ["a", "b", "c"])
        #expect(document.parameters[1].location == SourceLocation(file: "b.conf", line: 1, column: 1))
        #expect(document.files == ["main.conf", "b.conf"])
    }

    // MARK: Real files

    private func temporaryDirectory() throws -> String {
        let path = FileManager.default.temporaryDirectory.appendingPathComponent("djinn-config-\(UUID().uuidString)").path
        try FileManager.default.createDirectory(atPath: path + "/conf/sub", withIntermediateDirectories: true)
        return path
    }

    private func write(_ text: String, to path: String) throws {
        try text.write(toFile: path, atomically: true, encoding: .utf8)
    }

    @Test func realFilesRelativeToTheIncluder() throws {
        let root = try temporaryDirectory()
        defer { try? FileManager.default.removeItem(atPath: root) }
        try write("driver \"os\"\ninclude \"sub/services.conf\"\n" + stores, to: root + "/conf/worker.conf")
        try write("include \"db.conf\"\n" + redis, to: root + "/conf/sub/services.conf")
        try write(database, to: root + "/conf/sub/db.conf")

        let loaded = try WorkerSettings.load(path: root + "/conf/worker.conf", environment: [:])
        #expect(loaded.files == [root + "/conf/worker.conf", root + "/conf/sub/services.conf", root + "/conf/sub/db.conf"])
        #expect(loaded.settings.database.name == "included")
    }

    @Test func realFilesFallBackToTheCurrentDirectory() throws {
        let root = try temporaryDirectory()
        defer { try? FileManager.default.removeItem(atPath: root) }
        try write("driver \"os\"\ninclude \"common.conf\"\n" + stores, to: root + "/conf/worker.conf")
        try write(database + redis, to: root + "/common.conf")
        // The process's directory is shared by parallel tests: give the loader its own.
        let fileSystem = ConfigFileSystem(currentDirectory: root, read: ConfigFileSystem.local.read)

        let loaded = try WorkerSettings.load(path: "conf/worker.conf", environment: [:], fileSystem: fileSystem)
        #expect(loaded.files == ["conf/worker.conf", "common.conf"])
        #expect(loaded.settings.redis.addr == "redis:6379")
    }

    @Test func realFileErrors() throws {
        let root = try temporaryDirectory()
        defer { try? FileManager.default.removeItem(atPath: root) }
        try write("include \"sub\"\ninclude \"missing.conf\"\n", to: root + "/conf/worker.conf")
        let lines = failures { () throws(ConfigError) in try WorkerSettings.load(path: root + "/conf/worker.conf", environment: [:]) }
        #expect(lines == [
            "\(root)/conf/worker.conf:1:9: cannot include \"sub\": is a directory",
            "\(root)/conf/worker.conf:2:9: cannot include \"missing.conf\": no such file or directory",
        ])
        let missing = failures { () throws(ConfigError) in try ConsumerSettings.load(path: root + "/nope.conf", environment: [:]) }
        #expect(missing == ["\(root)/nope.conf: cannot read file: no such file or directory"])
    }
}
