import Testing
@testable import DjinnConfig

@Suite struct ConsumerSettingsTests {
    private func errors(_ source: String) -> [String] {
        errorLines { () throws(ConfigError) in try loadConsumer(source) }
    }

    @Test func everyDirective() throws {
        let loaded = try loadConsumer("""
            pidfile "/var/run/djinn/consumer.pid"
            log warn "/var/log/djinn/consumer.log"
            parallelism 3
            attempts 9
            crypto {
                block "0123456789abcdef0123456789abcdef"
                salt "salt"
            }
            database {
                addr "localhost:5432"
                name "djinn"
                username "djinn_consumer"
                password "secret"
                ssl {
                    ca "/ssl/ca.crt"
                    cert "/ssl/c.crt"
                    key "/ssl/c.key"
                }
            }
            redis { addr "localhost:6379"; password "r" }
            store images {
                type "file"
                path "/var/lib/djinn/images"
                limit 10GB
            }
            """)
        let consumer = loaded.settings
        #expect(loaded.warnings.map(\.description) == ["consumer.conf:14:5: warning: database.ssl is deprecated, use tls instead"])
        #expect(consumer.pidfile == "/var/run/djinn/consumer.pid")
        #expect(consumer.log == LogSettings(level: .warn, file: "/var/log/djinn/consumer.log"))
        #expect(consumer.parallelism == 3)
        #expect(consumer.effectiveParallelism(cpuCount: 16) == 3)
        #expect(consumer.attempts == 9)
        #expect(consumer.crypto == CryptoSettings(block: "0123456789abcdef0123456789abcdef", salt: "salt"))
        #expect(consumer.database.tls == TLSFiles(ca: "/ssl/ca.crt", cert: "/ssl/c.crt", key: "/ssl/c.key"))
        #expect(consumer.redis == RedisSettings(addr: "localhost:6379", password: "r"))
        #expect(consumer.images == StoreSettings(type: "file", path: "/var/lib/djinn/images", limit: 10 << 30))
    }

    @Test func defaults() throws {
        let consumer = try loadConsumer(Minimal.consumer).settings
        #expect(consumer.attempts == 5)
        #expect(consumer.parallelism == 0)
        #expect(consumer.effectiveParallelism(cpuCount: 4) == 4)
        #expect(consumer.effectiveParallelism(cpuCount: 0) == 1)
        #expect(consumer.crypto == nil)
        #expect(consumer.log == LogSettings())
        #expect(try loadConsumer("attempts 0\n" + Minimal.consumer).settings.attempts == 5)
    }

    @Test func imagesStoreIsRequired() {
        #expect(errors(Minimal.services) == ["consumer.conf:1:1: images store not configured"])
    }

    @Test func otherStoresWarn() throws {
        let loaded = try loadConsumer(Minimal.consumer + "store image { type \"file\" }\n")
        #expect(loaded.warnings.map(\.description) == [#"consumer.conf:4:1: warning: unknown store "image" (did you mean "images"?), ignored"#])
    }

    @Test func negativeCounts() {
        #expect(errors("attempts -1\nparallelism -4\n" + Minimal.consumer) == [
            "consumer.conf:1:1: attempts cannot be negative",
            "consumer.conf:2:1: parallelism cannot be negative",
        ])
    }

    @Test func cryptoIsValidatedWhenPresent() {
        #expect(errors("crypto { block \"x\"; salt \"\" }\n" + Minimal.consumer) == [
            "consumer.conf:1:10: crypto block must be 16, 24, or 32 characters in length",
            "consumer.conf:1:21: crypto salt is required for AES-GCM encryption",
        ])
    }

    @Test func workerDirectivesAreUnknownHere() throws {
        let loaded = try loadConsumer(Minimal.consumer + "driver \"os\"\n")
        #expect(loaded.warnings.map(\.description) == [#"consumer.conf:4:1: warning: unknown parameter "driver""#])
    }
}

@Suite struct SchedulerSettingsTests {
    private func errors(_ source: String) -> [String] {
        errorLines { () throws(ConfigError) in try loadScheduler(source) }
    }

    @Test func everyDirective() throws {
        let loaded = try loadScheduler("""
            pidfile "/var/run/djinn/scheduler.pid"
            log error "/var/log/djinn/scheduler.log"
            interval 5m
            batch_size 250
            drivers [
                "os",
                "ssh",
                "docker",
                "qemu",
                "qemu-x86_64",
            ]
            crypto {
                block "0123456789abcdef"
                salt "salt"
            }
            database { addr "localhost:5432"; name "djinn"; username "s"; password "p" }
            redis { addr "localhost:6379" }
            """)
        let scheduler = loaded.settings
        #expect(loaded.warnings.isEmpty)
        #expect(scheduler.pidfile == "/var/run/djinn/scheduler.pid")
        #expect(scheduler.log == LogSettings(level: .error, file: "/var/log/djinn/scheduler.log"))
        #expect(scheduler.interval == .seconds(300))
        #expect(scheduler.batchSize == 250)
        #expect(scheduler.drivers == ["os", "ssh", "docker", "qemu", "qemu-x86_64"])
        #expect(scheduler.crypto == CryptoSettings(block: "0123456789abcdef", salt: "salt"))
        #expect(scheduler.database == DatabaseSettings(addr: "localhost:5432", name: "djinn", username: "s", password: "p"))
    }

    @Test func defaults() throws {
        let scheduler = try loadScheduler(Minimal.scheduler).settings
        #expect(scheduler.interval == .seconds(60))
        #expect(GoDuration.format(scheduler.interval) == "1m0s")
        #expect(scheduler.batchSize == 1000)
        #expect(scheduler.drivers.isEmpty)
        #expect(scheduler.crypto == nil)
        #expect(try loadScheduler("batch_size 0\n" + Minimal.scheduler).settings.batchSize == 1000)
    }

    @Test func driversWithoutTrailingCommaOnOneLine() throws {
        #expect(try loadScheduler("drivers [\"docker\", \"qemu-x86_64\"]\n" + Minimal.scheduler).settings.drivers == ["docker", "qemu-x86_64"])
        #expect(try loadScheduler("drivers []\n" + Minimal.scheduler).settings.drivers == [])
    }

    @Test func unknownDriverEntries() {
        #expect(errors("drivers [\n    \"docker\",\n    \"kvm\",\n    \"qemu-\",\n]\n" + Minimal.scheduler) == [
            "scheduler.conf:3:5: unknown driver: kvm",
            "scheduler.conf:4:5: unknown driver: qemu-",
        ])
        #expect(errors("drivers [\"docker\", 5]\n" + Minimal.scheduler) == ["scheduler.conf:1:20: cannot use int as string in drivers"])
        #expect(errors("drivers \"docker\"\n" + Minimal.scheduler) == ["scheduler.conf:1:1: cannot use string as array of strings for drivers"])
    }

    @Test func intervalAndBatchSize() {
        #expect(errors("interval 60\n" + Minimal.scheduler) == ["scheduler.conf:1:1: missing unit in duration 60 for interval (did you mean 60s?)"])
        #expect(errors("interval 0s\n" + Minimal.scheduler) == ["scheduler.conf:1:1: interval must be greater than zero"])
        #expect(errors("batch_size -5\n" + Minimal.scheduler) == ["scheduler.conf:1:1: batch_size cannot be negative"])
    }

    @Test func hashingNeedsOnlyASalt() throws {
        #expect(try loadScheduler("crypto { salt \"s\" }\n" + Minimal.scheduler).settings.crypto == CryptoSettings(salt: "s"))
        #expect(errors("crypto { block \"0123456789abcdef\" }\n" + Minimal.scheduler) == ["scheduler.conf:1:1: crypto salt is required for hashing"])
        #expect(errors("crypto { salt \"\" }\n" + Minimal.scheduler) == ["scheduler.conf:1:10: crypto salt is required for hashing"])
        #expect(errors("crypto { salt \"s\"; block \"short\" }\n" + Minimal.scheduler) == ["scheduler.conf:1:20: crypto block must be 16, 24, or 32 characters in length"])
    }

    @Test func requiredServices() {
        #expect(errors("") == ["scheduler.conf:1:1: database not configured", "scheduler.conf:1:1: redis not configured"])
    }
}

@Suite struct DriverFileTests {
    private func errors(_ source: String) -> [String] {
        errorLines { () throws(ConfigError) in try loadDriverFile(source) }
    }

    @Test func everyDriverSetting() throws {
        let loaded = try loadDriverFile("""
            driver os {}
            driver ssh {
                addr "10.0.0.5:22"
                user "djinn"
                password "ssh-secret"
                key "/etc/djinn/id_ed25519"
                timeout 2m
            }
            driver docker {
                host "tcp://docker.internal:2375"
                version "1.41"
                image "debian:stable"
                workspace "/workspace"
            }
            driver qemu {
                arch "x86_64"
                cpus 2
                memory 4096
                disks "/var/lib/djinn/images"
                image "debian/stable"
            }
            """)
        #expect(loaded.warnings.isEmpty)
        #expect(loaded.settings.ssh == SSHDriverSettings(
            addr: "10.0.0.5:22", user: "djinn", password: "ssh-secret", key: "/etc/djinn/id_ed25519", timeout: .seconds(120)))
        #expect(loaded.settings.docker == DockerDriverSettings(
            host: "tcp://docker.internal:2375", version: "1.41", image: "debian:stable", workspace: "/workspace"))
        #expect(loaded.settings.qemu == QEMUDriverSettings(
            arch: "x86_64", cpus: 2, memory: 4096, disks: "/var/lib/djinn/images", image: "debian/stable"))
    }

    @Test func emptyFileHasNoDrivers() throws {
        let settings = try loadDriverFile("# nothing configured").settings
        #expect(settings.ssh == nil && settings.docker == nil && settings.qemu == nil)
    }

    @Test func driverWithoutBlockGivesDefaults() throws {
        let loaded = try loadDriverFile("driver qemu\ndriver ssh\n")
        #expect(loaded.settings.qemu == QEMUDriverSettings())
        #expect(loaded.settings.ssh == SSHDriverSettings(timeout: .seconds(60)))
        #expect(loaded.settings.docker == nil)
    }

    @Test func sshTimeoutAsStringOrLiteral() throws {
        #expect(try loadDriverFile("driver ssh { timeout \"90s\" }").settings.ssh?.timeout == .seconds(90))
        #expect(try loadDriverFile("driver ssh { timeout 1m30s }").settings.ssh?.timeout == .seconds(90))
        #expect(errors("driver ssh { timeout 60 }") == ["driver.conf:1:14: missing unit in duration 60 for driver.ssh.timeout (did you mean 60s?)"])
        #expect(errors("driver ssh { timeout \"sixty\" }") == [#"driver.conf:1:14: invalid duration "sixty" for driver.ssh.timeout"#])
    }

    @Test func sshKnownHostsIsAnOptionalFile() throws {
        let loaded = try loadDriverFile("driver ssh {\n\tuser \"build\"\n\tknown_hosts \"/etc/djinn/known_hosts\"\n}\n")
        #expect(loaded.warnings.isEmpty)
        #expect(loaded.settings.ssh == SSHDriverSettings(user: "build", knownHosts: "/etc/djinn/known_hosts"))
        // Left out: empty, which means host keys are not checked.
        #expect(try loadDriverFile("driver ssh { user \"build\" }").settings.ssh?.knownHosts == "")
        #expect(try loadDriverFile("driver ssh { known_hosts \"${env:KH}\" }", environment: ["KH": "/srv/kh"]).settings.ssh?.knownHosts == "/srv/kh")
        #expect(errors("driver ssh { known_hosts 5 }") == ["driver.conf:1:14: cannot use int as string for driver.ssh.known_hosts"])
        let typo = try loadDriverFile("driver ssh { known_host \"/k\" }")
        #expect(typo.warnings.map(\.description) == [
            #"driver.conf:1:14: warning: unknown parameter "driver.ssh.known_host" (did you mean "driver.ssh.known_hosts"?)"#,
        ])
        #expect(SSHDriverSettings(knownHosts: "/etc/djinn/known_hosts").description.contains(#"knownHosts: "/etc/djinn/known_hosts""#))
    }

    @Test func mapFormOfTheDriverBlock() throws {
        let settings = try loadDriverFile("driver {\n    docker { host \"unix:///d.sock\" }\n}").settings
        #expect(settings.docker?.host == "unix:///d.sock")
    }

    @Test func unknownDriversAndSettingsWarn() throws {
        let loaded = try loadDriverFile("driver dokcer { host \"x\" }\ndriver qemu { cpu 2 }\nworkspace \"/w\"\n")
        #expect(loaded.warnings.map(\.description) == [
            #"driver.conf:1:1: warning: unknown driver "dokcer" (did you mean "docker"?), ignored"#,
            #"driver.conf:2:15: warning: unknown parameter "driver.qemu.cpu" (did you mean "driver.qemu.cpus"?)"#,
            #"driver.conf:3:1: warning: unknown parameter "workspace""#,
        ])
        #expect(loaded.settings.docker == nil)
    }

    @Test func typeErrors() {
        #expect(errors("driver qemu { cpus \"2\"; memory 2GB }") == [
            "driver.conf:1:15: cannot use string as int for driver.qemu.cpus",
            "driver.conf:1:25: cannot use size as int for driver.qemu.memory",
        ])
        #expect(errors("driver qemu { cpus -1 }") == ["driver.conf:1:15: driver.qemu.cpus cannot be negative"])
        #expect(errors("driver docker \"x\"") == ["driver.conf:1:1: cannot use string as block for driver.docker"])
    }
}
