import Testing
@testable import DjinnConfig

/// The decoding rules of spec §1.7, seen through the worker's settings.
@Suite struct DecodingTests {
    @Test func namesMatchCaseInsensitively() throws {
        let worker = try loadWorker("PIDFILE \"/run/w.pid\"\nParallelism 3\nDATABASE { ADDR \"db:5432\"; Name \"d\" }\n" + Minimal.worker).settings
        // The later `database` from Minimal replaces this one entirely; check the scalars.
        #expect(worker.pidfile == "/run/w.pid")
        #expect(worker.parallelism == 3)
        let database = try loadWorker(Minimal.worker + "DATABASE { ADDR \"db:5432\"; Name \"d\" }\n").settings.database
        #expect(database == DatabaseSettings(addr: "db:5432", name: "d"))
    }

    @Test func lastOccurrenceWins() throws {
        let worker = try loadWorker(Minimal.worker + "parallelism 2\nparallelism 5\ndriver \"docker\"\n").settings
        #expect(worker.parallelism == 5)
        #expect(worker.driverKind == .docker)
    }

    @Test func repeatedBlockReplacesTheEarlierOne() throws {
        let worker = try loadWorker(Minimal.worker + """
            database { addr "a:1"; name "first"; username "u" }
            database { addr "b:2" }
            """).settings
        #expect(worker.database == DatabaseSettings(addr: "b:2"))
    }

    @Test func labelledParametersGroupIntoAMapAndTheSameLabelAgainWins() throws {
        let worker = try loadWorker(Minimal.worker + """
            store artifacts { type "file"; path "/one"; limit 1KB }
            store artifacts { type "file"; path "/two" }
            provider github { secret "a" }
            provider gitlab { endpoint "https://git.example.com/api/v4" }
            provider github { secret "b" }
            """).settings
        #expect(worker.artifacts == StoreSettings(path: "/two"))
        #expect(worker.objects.path == "/var/lib/djinn/objects")
        #expect(worker.providers["github"]?.secret == "b")
        #expect(worker.providers["gitlab"]?.endpoint == "https://git.example.com/api/v4")
    }

    @Test func aBlockCanStandForTheMap() throws {
        let worker = try loadWorker(Minimal.services + """
            driver "os"
            store {
                artifacts { type "file"; path "/a" }
                objects { type "file"; path "/o" }
            }
            log {
                debug "/var/log/djinn/debug.log"
            }
            """).settings
        #expect(worker.artifacts.path == "/a")
        #expect(worker.objects.path == "/o")
        #expect(worker.log == LogSettings(level: .debug, file: "/var/log/djinn/debug.log"))
    }

    @Test func labelWithoutValueCreatesAnEntryWithDefaults() throws {
        let worker = try loadWorker(Minimal.worker + "provider gitlab\n").settings
        #expect(worker.providers == ["gitlab": ProviderSettings(name: "gitlab", endpoint: "https://gitlab.com/api/v4")])
    }

    @Test func stringsLoseBackslashesAndExpandVariables() throws {
        let loaded = try loadWorker(Minimal.worker + #"""
            pidfile "C:\\run\\w.pid"
            database {
                addr "${DB_HOST}:5432"
                name "${env:DB_NAME}"
                username "$USER"
                password "${DB_PASSWORD}"
            }
            redis { addr "localhost:6379"; password "pre\"${UNSET}\"post" }
            """#, environment: ["DB_HOST": "db.internal", "DB_NAME": "djinn", "DB_PASSWORD": "s3cret", "USER": "root"])
        #expect(loaded.settings.pidfile == "C:runw.pid")
        #expect(loaded.settings.database == DatabaseSettings(addr: "db.internal:5432", name: "djinn", username: "$USER", password: "s3cret"))
        #expect(loaded.settings.redis.password == #"pre""post"#)
    }

    @Test func durationsFromLiteralsAndStrings() throws {
        for (text, seconds) in [("1h30m", 5400.0), ("1.5h", 5400), ("90s", 90), ("\"2m\"", 120), ("\"${T}\"", 45), ("500ms", 0.5)] {
            let worker = try loadWorker(Minimal.worker + "timeout \(text)\n", environment: ["T": "45s"]).settings
            #expect(worker.timeout == .milliseconds(Int64(seconds * 1000)), "\(text)")
        }
    }

    @Test func sizesArePowersOf1024() throws {
        for (text, bytes) in [("10B", Int64(10)), ("1KB", 1024), ("50MB", 52_428_800), ("2GB", 2_147_483_648), ("1TB", 1 << 40), ("52428800", 52_428_800), ("0", 0)] {
            let worker = try loadWorker(Minimal.worker + "store artifacts { type \"file\"; path \"/a\"; limit \(text) }\n").settings
            #expect(worker.artifacts.limit == bytes, "\(text)")
        }
    }

    @Test func unknownParametersWarnWithASuggestion() throws {
        let loaded = try loadWorker(Minimal.worker + """
            timout 30m
            colour "blue"
            database {
                addr "localhost:5432"
                adr "x"
            }
            store objects { type "file"; path "/o"; limt 1KB }
            """)
        #expect(loaded.warnings.map(\.description) == [
            #"worker.conf:6:1: warning: unknown parameter "timout" (did you mean "timeout"?)"#,
            #"worker.conf:7:1: warning: unknown parameter "colour""#,
            #"worker.conf:10:5: warning: unknown parameter "database.adr" (did you mean "database.addr"?)"#,
            #"worker.conf:12:41: warning: unknown parameter "store.objects.limt" (did you mean "store.objects.limit"?)"#,
        ])
        #expect(loaded.settings.timeout == .seconds(1800))
    }

    @Test func includeInsideABlockIsJustAnUnknownParameter() throws {
        let loaded = try loadWorker(Minimal.worker + "redis { addr \"r:1\"; include \"x.conf\" }\n")
        #expect(loaded.warnings.map(\.description) == [#"worker.conf:6:21: warning: unknown parameter "redis.include""#])
    }

    @Test func deprecatedSSLWarnsAndFillsWhatTLSLeavesEmpty() throws {
        let loaded = try loadWorker(Minimal.worker + """
            database {
                addr "localhost:5432"
                tls { cert "/tls/cert.pem" }
                ssl { ca "/ssl/ca.pem"; cert "/ssl/cert.pem"; key "/ssl/key.pem" }
            }
            """)
        #expect(loaded.warnings.map(\.description) == ["worker.conf:9:5: warning: database.ssl is deprecated, use tls instead"])
        #expect(loaded.settings.database.tls == TLSFiles(ca: "/ssl/ca.pem", cert: "/tls/cert.pem", key: "/ssl/key.pem"))
    }

    @Test func noTLSBlockMeansNoTLS() throws {
        #expect(try loadWorker(Minimal.worker).settings.database.tls == nil)
        let tls = try loadWorker(Minimal.worker + "database { addr \"h:1\"; tls { ca \"/ca\" } }\n").settings.database.tls
        #expect(tls == TLSFiles(ca: "/ca"))
    }

    @Test func warningsDoNotStopTheLoadButAppearWithErrors() {
        let lines = failures { () throws(ConfigError) in try loadWorker(Minimal.worker + "timout 1m\ntimeout 0s\n") }
        #expect(lines == [
            #"worker.conf:6:1: warning: unknown parameter "timout" (did you mean "timeout"?)"#,
            "worker.conf:7:1: timeout must be greater than zero",
        ])
    }

    @Test func syntaxErrorsFailTheLoadBeforeDecoding() {
        // The syntax error is all that is reported: no "not configured" cascade.
        let lines = failures { () throws(ConfigError) in try loadWorker("database {\n addr \"h:1\" name \"x\"\n}\n") }
        #expect(lines == ["worker.conf:2:13: expected newline or }"])
    }

    @Test func scannerErrorsFailTheLoad() {
        #expect(failures { () throws(ConfigError) in try loadWorker(Minimal.worker + "pidfile @ \"x\"\n") }
            == ["worker.conf:6:9: unexpected character '@' (U+0040)"])
        #expect(failures { () throws(ConfigError) in try loadWorker(Minimal.worker + "pidfile \"x\u{0}\"\n") }
            == ["worker.conf:6:11: invalid NUL byte"])
        #expect(failures { () throws(ConfigError) in try loadWorker(Minimal.worker + "pidfile \"x\n") }
            == ["worker.conf:6:9: unexpected newline in string"])
        #expect(failures { () throws(ConfigError) in try loadWorker(Minimal.worker + "parallelism 1.2.3\n") }
            == ["worker.conf:6:16: invalid point in float"])
    }

    @Test func missingFile() {
        let lines = failures { () throws(ConfigError) in
            try WorkerSettings.load(path: "nope.conf", environment: [:], fileSystem: .inMemory([:]))
        }
        #expect(lines == ["nope.conf: cannot read file: no such file or directory"])
    }
}
