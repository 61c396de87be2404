import Testing
@testable import DjinnConfig

@Suite struct WorkerSettingsTests {
    @Test func everyDirective() throws {
        let loaded = try loadWorker("""
            pidfile "/var/run/djinn/worker.pid"
            log debug "/var/log/djinn/worker.log"
            parallelism 8
            driver "qemu-aarch64"
            timeout 1h30m
            crypto {
                block "0123456789abcdef01234567"
                salt "salt"
                hash "hash-key"
                auth "auth-key"
            }
            database {
                addr "[::1]:5432"
                name "djinn"
                username "djinn_worker"
                password "secret"
                tls {
                    ca "/ssl/ca.crt"
                    cert "/ssl/client.crt"
                    key "/ssl/client.key"
                }
            }
            redis {
                addr "localhost:6379"
                password "redis-secret"
            }
            smtp {
                addr "smtp.example.com:587"
                ca "/etc/ssl/cert.pem"
                admin "noreply@djinn-ci.com"
                username "postmaster"
                password "mail-secret"
            }
            store artifacts {
                type "file"
                path "/var/lib/djinn/artifacts"
                limit 50MB
            }
            store objects {
                type "file"
                path "/var/lib/djinn/objects"
                limit 1GB
            }
            provider github {
                secret "gh-secret"
                endpoint "https://github.example.com/api/v3"
                oauth2_endpoint "https://github.example.com/login/oauth"
                client_id "gh-id"
                client_secret "gh-client-secret"
            }
            provider gitlab {
                client_id "gl-id"
            }
            """)
        #expect(loaded.warnings.isEmpty)
        let worker = loaded.settings
        #expect(worker.pidfile == "/var/run/djinn/worker.pid")
        #expect(worker.log == LogSettings(level: .debug, file: "/var/log/djinn/worker.log"))
        #expect(worker.parallelism == 8)
        #expect(worker.effectiveParallelism(cpuCount: 2) == 8)
        #expect(worker.driver == "qemu-aarch64")
        #expect(worker.driverKind == .qemu)
        #expect(worker.qemuArch == "aarch64")
        #expect(worker.timeout == .seconds(5400))
        #expect(worker.crypto == CryptoSettings(block: "0123456789abcdef01234567", salt: "salt", hash: "hash-key", auth: "auth-key"))
        #expect(worker.database == DatabaseSettings(
            addr: "[::1]:5432", name: "djinn", username: "djinn_worker", password: "secret",
            tls: TLSFiles(ca: "/ssl/ca.crt", cert: "/ssl/client.crt", key: "/ssl/client.key")))
        #expect(worker.database.host == "::1")
        #expect(worker.database.port == "5432")
        #expect(worker.redis == RedisSettings(addr: "localhost:6379", password: "redis-secret"))
        #expect(worker.smtp == SMTPSettings(
            addr: "smtp.example.com:587", ca: "/etc/ssl/cert.pem", admin: "noreply@djinn-ci.com",
            username: "postmaster", password: "mail-secret"))
        #expect(worker.artifacts == StoreSettings(type: "file", path: "/var/lib/djinn/artifacts", limit: 52_428_800))
        #expect(worker.objects == StoreSettings(type: "file", path: "/var/lib/djinn/objects", limit: 1 << 30))
        #expect(worker.providers == [
            "github": ProviderSettings(
                name: "github", secret: "gh-secret", endpoint: "https://github.example.com/api/v3",
                oauth2Endpoint: "https://github.example.com/login/oauth", clientID: "gh-id", clientSecret: "gh-client-secret"),
            "gitlab": ProviderSettings(name: "gitlab", endpoint: "https://gitlab.com/api/v4", clientID: "gl-id"),
        ])
    }

    @Test func defaults() throws {
        let worker = try loadWorker(Minimal.worker).settings
        #expect(worker.pidfile == "")
        #expect(worker.log == LogSettings(level: .info, file: "/dev/stdout"))
        #expect(worker.parallelism == 0)
        #expect(worker.effectiveParallelism(cpuCount: 6) == 6)
        #expect(worker.timeout == .seconds(30 * 60))
        #expect(worker.crypto == nil)
        #expect(worker.smtp == nil)
        #expect(worker.providers.isEmpty)
        #expect(worker.artifacts.limit == 0)
    }

    @Test(arguments: [
        ("os", DriverKind.os, String?.none), ("ssh", .ssh, nil), ("docker", .docker, nil), ("qemu", .qemu, nil),
        ("qemu-x86_64", .qemu, "x86_64"), ("qemu-riscv64", .qemu, "riscv64"),
    ])
    func drivers(name: String, kind: DriverKind, arch: String?) throws {
        let worker = try loadWorker(Minimal.workerWithoutDriver + "driver \"\(name)\"\n").settings
        #expect(worker.driver == name)
        #expect(worker.driverKind == kind)
        #expect(worker.qemuArch == arch)
    }

    @Test func severalLogEntriesTheLowestLevelWins() throws {
        let loaded = try loadWorker("""
            log warn "/var/log/warn.log"
            log debug "/var/log/debug.log"
            log error "/var/log/error.log"
            """ + "\n" + Minimal.worker)
        #expect(loaded.settings.log == LogSettings(level: .debug, file: "/var/log/debug.log"))
        #expect(loaded.warnings.map(\.description) == [
            "worker.conf:1:1: warning: log warn ignored: only the lowest level given (debug) is used",
            "worker.conf:3:1: warning: log error ignored: only the lowest level given (debug) is used",
        ])
    }

    @Test func logWithoutFileMeansStandardOutput() throws {
        #expect(try loadWorker("log warn\n" + Minimal.worker).settings.log == LogSettings(level: .warn, file: "/dev/stdout"))
    }

    // MARK: Errors

    private func errors(_ source: String, environment: [String: String] = [:]) -> [String] {
        errorLines { () throws(ConfigError) in try loadWorker(source, environment: environment) }
    }

    @Test func unknownDriver() {
        #expect(errors("driver \"kvm\"\n" + Minimal.workerWithoutDriver) == ["worker.conf:1:1: unknown driver: kvm"])
        #expect(errors("driver \"qemu-\"\n" + Minimal.workerWithoutDriver) == ["worker.conf:1:1: unknown driver: qemu-"])
        #expect(errors("driver \"qemu-x86/64\"\n" + Minimal.workerWithoutDriver) == ["worker.conf:1:1: unknown driver: qemu-x86/64"])
        #expect(errors("driver \"QEMU\"\n" + Minimal.workerWithoutDriver) == ["worker.conf:1:1: unknown driver: QEMU"])
    }

    @Test func driverIsRequired() {
        #expect(errors(Minimal.workerWithoutDriver) == ["worker.conf:1:1: driver not configured"])
    }

    @Test func timeoutErrors() {
        #expect(errors("timeout 90\n" + Minimal.worker) == ["worker.conf:1:1: missing unit in duration 90 for timeout (did you mean 90s?)"])
        #expect(errors("timeout 1.5\n" + Minimal.worker) == ["worker.conf:1:1: missing unit in duration 1.5 for timeout (did you mean 1.5s?)"])
        #expect(errors("timeout 10mm\n" + Minimal.worker) == [#"worker.conf:1:1: invalid duration "10mm" for timeout: unknown unit "mm" in duration"#])
        #expect(errors("timeout \"soon\"\n" + Minimal.worker) == [#"worker.conf:1:1: invalid duration "soon" for timeout"#])
        #expect(errors("timeout \"90\"\n" + Minimal.worker) == [#"worker.conf:1:1: invalid duration "90" for timeout: missing unit in duration"#])
        #expect(errors("timeout 0s\n" + Minimal.worker) == ["worker.conf:1:1: timeout must be greater than zero"])
        #expect(errors("timeout \"0\"\n" + Minimal.worker) == ["worker.conf:1:1: timeout must be greater than zero"])
        #expect(errors("timeout -5s\n" + Minimal.worker) == ["worker.conf:1:1: timeout must be greater than zero"])
        #expect(errors("timeout 10K\n" + Minimal.worker) == [#"worker.conf:1:9: invalid size "10K" (did you mean 10KB?)"#])
        #expect(errors("timeout 1KB\n" + Minimal.worker) == ["worker.conf:1:1: cannot use size as duration for timeout"])
    }

    @Test func parallelismErrors() {
        #expect(errors("parallelism -1\n" + Minimal.worker) == ["worker.conf:1:1: parallelism cannot be negative"])
        #expect(errors("parallelism \"4\"\n" + Minimal.worker) == ["worker.conf:1:1: cannot use string as int for parallelism"])
        #expect(errors("parallelism 99999999999999999999\n" + Minimal.worker) == ["worker.conf:1:1: integer 99999999999999999999 out of range for parallelism"])
        #expect(errors("parallelism 2KB\n" + Minimal.worker) == ["worker.conf:1:1: cannot use size as int for parallelism"])
        #expect(errors("parallelism 1.5\n" + Minimal.worker) == ["worker.conf:1:1: cannot use float as int for parallelism"])
        #expect(errors("parallelism [1]\n" + Minimal.worker) == ["worker.conf:1:1: cannot use array as int for parallelism"])
        #expect(errors("parallelism { a 1 }\n" + Minimal.worker) == ["worker.conf:1:1: cannot use block as int for parallelism"])
        #expect(errors("parallelism true\n" + Minimal.worker) == ["worker.conf:1:1: cannot use bool as int for parallelism"])
    }

    @Test func cryptoBlockLength() {
        #expect(errors("crypto {\n    block \"short\"\n    salt \"s\"\n}\n" + Minimal.worker)
            == ["worker.conf:2:5: crypto block must be 16, 24, or 32 characters in length"])
        #expect(errors("crypto { salt \"s\" }\n" + Minimal.worker)
            == ["worker.conf:1:1: crypto block must be 16, 24, or 32 characters in length"])
        #expect(errors("crypto { block \"0123456789abcdef0\"; salt \"s\" }\n" + Minimal.worker)
            == ["worker.conf:1:10: crypto block must be 16, 24, or 32 characters in length"])
    }

    @Test func cryptoSalt() {
        #expect(errors("crypto {\n    block \"0123456789abcdef\"\n    salt \"\"\n}\n" + Minimal.worker)
            == ["worker.conf:3:5: crypto salt is required for AES-GCM encryption"])
        #expect(errors("crypto { block \"0123456789abcdef\" }\n" + Minimal.worker)
            == ["worker.conf:1:1: crypto salt is required for AES-GCM encryption"])
        #expect(errors("crypto { salt \"${EMPTY}\"; block \"0123456789abcdef\" }\n" + Minimal.worker)
            == ["worker.conf:1:10: crypto salt is required for AES-GCM encryption"])
        #expect(errors("crypto {}\n" + Minimal.worker) == [
            "worker.conf:1:1: crypto block must be 16, 24, or 32 characters in length",
            "worker.conf:1:1: crypto salt is required for AES-GCM encryption",
        ])
    }

    @Test func storeErrors() {
        #expect(errors(Minimal.worker + "store artifacts {\n    type \"s3\"\n    path \"/a\"\n}\n")
            == ["worker.conf:7:5: unknown store type: s3"])
        #expect(errors(Minimal.worker + "store artifacts { path \"/a\" }\n")
            == ["worker.conf:6:1: store.artifacts.type not configured"])
        #expect(errors(Minimal.worker + "store objects\n")
            == ["worker.conf:6:1: store.objects.type not configured"])
        #expect(errors(Minimal.worker + "store objects { type \"file\"; limit -1 }\n")
            == ["worker.conf:6:30: store.objects.limit cannot be negative"])
        #expect(errors(Minimal.worker + "store objects { type \"file\"; limit 99999999TB }\n")
            == ["worker.conf:6:30: size 99999999TB out of range for store.objects.limit"])
        #expect(errors(Minimal.worker + "store objects { type \"file\"; limit \"1KB\" }\n")
            == ["worker.conf:6:30: cannot use string as int or size for store.objects.limit"])
        #expect(errors(Minimal.worker + "store objects \"/o\"\n")
            == ["worker.conf:6:1: cannot use string as block for store.objects"])
        #expect(errors(Minimal.worker + "store \"/o\"\n")
            == ["worker.conf:6:1: cannot use string as labelled block for store (write store LABEL {...})"])
    }

    @Test func missingRequiredStores() {
        let source = Minimal.services + "driver \"os\"\nstore artifacts { type \"file\" }\n"
        #expect(errors(source) == ["worker.conf:1:1: objects store not configured"])
        #expect(errors(Minimal.services + "driver \"os\"\n") == [
            "worker.conf:1:1: artifacts store not configured",
            "worker.conf:1:1: objects store not configured",
        ])
    }

    @Test func misspelledStoreLabelWarnsAndStillCountsAsMissing() {
        let lines = failures { () throws(ConfigError) in
            try loadWorker(Minimal.services + "driver \"os\"\nstore artifact { type \"file\" }\nstore objects { type \"file\" }\n")
        }
        #expect(lines == [
            #"worker.conf:4:1: warning: unknown store "artifact" (did you mean "artifacts"?), ignored"#,
            "worker.conf:1:1: artifacts store not configured",
        ])
    }

    @Test func extraStoreLabelOnlyWarns() throws {
        let loaded = try loadWorker(Minimal.worker + "store images { type \"file\" }\n")
        #expect(loaded.warnings.map(\.description) == [#"worker.conf:6:1: warning: unknown store "images", ignored"#])
    }

    @Test func unknownProvider() {
        #expect(errors(Minimal.worker + "provider bitbucket { secret \"x\" }\n") == ["worker.conf:6:1: unknown provider: bitbucket"])
        #expect(errors(Minimal.worker + "provider GitHub\n") == [#"worker.conf:6:1: unknown provider: GitHub (did you mean "github"?)"#])
        #expect(errors(Minimal.worker + "provider gitlap {}\n") == [#"worker.conf:6:1: unknown provider: gitlap (did you mean "gitlab"?)"#])
    }

    @Test func unknownLogLevel() {
        #expect(errors("log verbose \"/var/log/x\"\n" + Minimal.worker) == ["worker.conf:1:1: unknown log level verbose"])
        #expect(errors("log INFO \"/var/log/x\"\n" + Minimal.worker) == [#"worker.conf:1:1: unknown log level INFO (did you mean "info"?)"#])
        #expect(errors("log info 5\n" + Minimal.worker) == ["worker.conf:1:1: cannot use int as string for log.info"])
        #expect(errors("log \"/var/log/x\"\n" + Minimal.worker) == [#"worker.conf:1:1: cannot use string as labelled string for log (write log LABEL "...")"#])
    }

    @Test func labelOnANonMapSetting() {
        #expect(errors("pidfile foo \"/run/x.pid\"\n" + Minimal.worker) == [#"worker.conf:1:9: unexpected label "foo" on pidfile"#])
        #expect(errors(Minimal.worker + "database main { addr \"h:1\" }\n") == [#"worker.conf:6:10: unexpected label "main" on database"#])
        #expect(errors("log { info foo \"x\" }\n" + Minimal.worker) == [#"worker.conf:1:12: unexpected label "foo" on log.info"#])
    }

    @Test func typeMismatches() {
        #expect(errors("pidfile 5\n" + Minimal.worker) == ["worker.conf:1:1: cannot use int as string for pidfile"])
        #expect(errors("driver os\n" + Minimal.workerWithoutDriver) == [#"worker.conf:1:8: unexpected label "os" on driver"#])
        #expect(errors(Minimal.worker + "database \"postgres://x\"\n") == ["worker.conf:6:1: cannot use string as block for database"])
        #expect(errors(Minimal.worker + "redis { addr 6379 }\n") == ["worker.conf:6:9: cannot use int as string for redis.addr"])
        #expect(errors(Minimal.worker + "smtp [\"a\"]\n") == ["worker.conf:6:1: cannot use array as block for smtp"])
    }

    @Test func requiredServices() {
        #expect(errors("driver \"os\"\nstore artifacts { type \"file\" }\nstore objects { type \"file\" }\n") == [
            "worker.conf:1:1: database not configured",
            "worker.conf:1:1: redis not configured",
        ])
        #expect(errors(Minimal.worker + "database {\n    name \"djinn\"\n}\nredis {}\n") == [
            "worker.conf:6:1: database.addr not configured",
            "worker.conf:9:1: redis.addr not configured",
        ])
    }

    @Test func addressesMustBeHostAndPort() {
        #expect(errors(Minimal.worker + "database { addr \"localhost\" }\n") == [#"worker.conf:6:12: database addr must be host:port or a unix-socket directory, not "localhost""#])
        #expect(errors(Minimal.worker + "redis { addr \"localhost:redis\" }\n") == [#"worker.conf:6:9: redis addr must be host:port or a unix-socket path, not "localhost:redis""#])
        #expect(errors(Minimal.worker + "smtp { addr \"::1\" }\n") == [#"worker.conf:6:8: smtp addr must be host:port, not "::1""#])
        #expect(errors(Minimal.worker + "smtp { ca \"/ca.pem\" }\n") == ["worker.conf:6:1: smtp.addr not configured"])
    }

    @Test func unknownExpansionPrefixNeverEchoesTheValue() {
        let lines = errors(Minimal.worker + "database {\n    addr \"h:1\"\n    password \"hunter2${vault:db/password}\"\n}\n")
        #expect(lines == [#"worker.conf:8:5: unknown expansion prefix "vault" in database.password (use ${NAME} or ${env:NAME})"#])
        #expect(!lines.joined().contains("hunter2"))
    }

    @Test func typeErrorOnPasswordNeverEchoesTheValue() {
        let lines = errors(Minimal.worker + "redis { addr \"r:1\"; password 123456789 }\n")
        #expect(lines == ["worker.conf:6:21: cannot use int as string for redis.password"])
        #expect(!lines.joined().contains("123456789"))
    }

    @Test func unterminatedExpansionWarns() throws {
        let loaded = try loadWorker(Minimal.worker + "pidfile \"/run/${HOME\"\n", environment: ["HOME": "/root"])
        #expect(loaded.settings.pidfile == "/run/")
        #expect(loaded.warnings.map(\.description) == ["worker.conf:6:1: warning: unterminated ${ in pidfile: the text from it to the end of the string is dropped"])
    }

    @Test func allErrorsAreCollected() {
        let lines = errors("""
            parallelism -2
            driver "kvm"
            timeout 90
            log trace "/x"
            crypto { block "abc"; salt "" }
            provider bitbucket
            """)
        #expect(lines == [
            "worker.conf:1:1: parallelism cannot be negative",
            "worker.conf:2:1: unknown driver: kvm",
            "worker.conf:3:1: missing unit in duration 90 for timeout (did you mean 90s?)",
            "worker.conf:4:1: unknown log level trace",
            "worker.conf:5:10: crypto block must be 16, 24, or 32 characters in length",
            "worker.conf:5:23: crypto salt is required for AES-GCM encryption",
            "worker.conf:6:1: unknown provider: bitbucket",
            "worker.conf:1:1: database not configured",
            "worker.conf:1:1: redis not configured",
            "worker.conf:1:1: artifacts store not configured",
            "worker.conf:1:1: objects store not configured",
        ])
    }
}
