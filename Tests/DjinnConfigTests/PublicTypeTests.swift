import Testing
@testable import DjinnConfig

@Suite struct DiagnosticFormatTests {
    @Test func locations() {
        #expect(SourceLocation(file: "w.conf", line: 7, column: 3).description == "w.conf:7:3")
        #expect(SourceLocation(file: "w.conf", line: 7, column: 0).description == "w.conf:7")
        #expect(SourceLocation(file: "w.conf", line: 0, column: 0).description == "w.conf")
        #expect(SourceLocation.start(of: "w.conf").description == "w.conf:1:1")
    }

    @Test func diagnosticsAndErrors() {
        let error = ConfigDiagnostic.error("unknown driver: kvm", at: SourceLocation(file: "w.conf", line: 2, column: 1))
        let warning = ConfigDiagnostic.warning(#"unknown parameter "timout""#, at: SourceLocation(file: "w.conf", line: 7, column: 1))
        #expect(error.description == "w.conf:2:1: unknown driver: kvm")
        #expect(warning.description == #"w.conf:7:1: warning: unknown parameter "timout""#)
        let configError = ConfigError(diagnostics: [warning, error])
        #expect(configError.description == "w.conf:7:1: warning: unknown parameter \"timout\"\nw.conf:2:1: unknown driver: kvm")
        #expect(configError.errors == [error])
        #expect(configError.warnings == [warning])
    }

    @Test func everyLoadErrorHasAtLeastOneError() {
        do {
            _ = try loadWorker("timout 1m\n")
            Issue.record("expected failure")
        } catch {
            #expect(!error.errors.isEmpty)
        }
    }
}

@Suite struct SettingsHelperTests {
    @Test func logLevelsAreOrdered() {
        #expect(LogLevel.allCases.sorted() == [.debug, .info, .warn, .error])
        #expect(LogLevel.debug < .info && .info < .warn && .warn < .error)
        #expect(LogSettings() == LogSettings(level: .info, file: "/dev/stdout"))
    }

    @Test func driverNames() {
        #expect(DriverKind.parse("os")! == (.os, nil))
        #expect(DriverKind.parse("qemu")! == (.qemu, nil))
        #expect(DriverKind.parse("qemu-x86_64")! == (.qemu, "x86_64"))
        #expect(DriverKind.parse("qemu-") == nil)
        #expect(DriverKind.parse("qemu-a b") == nil)
        #expect(DriverKind.parse("docker-x86_64") == nil)
        #expect(DriverKind.parse("") == nil)
    }

    @Test func hostAndPort() {
        #expect(HostPort.split("localhost:5432")! == ("localhost", "5432"))
        #expect(HostPort.split("[::1]:6379")! == ("::1", "6379"))
        #expect(HostPort.split(":5432")! == ("", "5432"))
        #expect(HostPort.split("localhost") == nil)
        #expect(HostPort.split("::1") == nil)
        #expect(HostPort.split("[::1]") == nil)
        #expect(HostPort.split("host:") == nil)
        #expect(HostPort.problem(with: "h:99999", setting: "x") == #"x must be host:port, not "h:99999""#)
        #expect(HostPort.problem(with: "h:0", setting: "x") == #"x must be host:port, not "h:0""#)
        #expect(HostPort.problem(with: "/run/postgresql", setting: "x", unixSocket: .directoryWithOptionalPort) == nil)
        #expect(HostPort.problem(with: "/run/postgresql:5433", setting: "x", unixSocket: .directoryWithOptionalPort) == nil)
        #expect(HostPort.problem(with: "/run/pg:0", setting: "x", unixSocket: .directoryWithOptionalPort) == #"x has an invalid port in "/run/pg:0""#)
        #expect(HostPort.problem(with: "/run/redis.sock", setting: "x", unixSocket: .file) == nil)
        #expect(HostPort.problem(with: "/run/redis.sock", setting: "x") == #"x must be host:port, not "/run/redis.sock""#)
        #expect(DatabaseSettings(addr: "db.internal:6432").host == "db.internal")
        #expect(DatabaseSettings(addr: "db.internal:6432").port == "6432")
    }

    @Test func providerEndpoints() {
        #expect(ProviderSettings(name: "github").endpoint == "https://api.github.com")
        #expect(ProviderSettings(name: "gitlab").endpoint == "https://gitlab.com/api/v4")
        #expect(ProviderSettings(name: "gitlab", endpoint: "https://g.example/api/v4").endpoint == "https://g.example/api/v4")
    }
}

@Suite struct RedactionTests {
    private let secrets = ["db-pass", "redis-pass", "smtp-pass", "0123456789abcdef", "the-salt", "hook-secret", "client-secret", "ssh-pass"]

    private func loadEverything() throws -> (WorkerSettings, DriverFileSettings) {
        let worker = try loadWorker(Minimal.worker + """
            crypto { block "0123456789abcdef"; salt "the-salt" }
            database { addr "db:5432"; username "u"; password "db-pass" }
            redis { addr "r:6379"; password "redis-pass" }
            smtp { addr "smtp:25"; username "mail"; password "smtp-pass" }
            provider github { secret "hook-secret"; client_secret "client-secret"; client_id "visible-id" }
            """).settings
        let drivers = try loadDriverFile("driver ssh { user \"root\"; password \"ssh-pass\" }").settings
        return (worker, drivers)
    }

    @Test func descriptionsNeverShowSecrets() throws {
        let (worker, drivers) = try loadEverything()
        for text in [
            String(describing: worker), String(reflecting: worker), "\(worker.database)", "\(worker.redis)",
            String(describing: worker.smtp), String(describing: worker.crypto), String(describing: worker.providers),
            String(describing: drivers), String(reflecting: drivers.ssh),
        ] {
            for secret in secrets { #expect(!text.contains(secret), "\(secret) in \(text)") }
        }
        let description = String(describing: worker)
        #expect(description.contains("<redacted>"))
        #expect(description.contains("db:5432"))
        #expect(description.contains("visible-id"))
    }

    @Test func dumpNeverShowsSecrets() throws {
        let (worker, drivers) = try loadEverything()
        var output = ""
        dump(worker, to: &output)
        dump(drivers, to: &output)
        for secret in secrets { #expect(!output.contains(secret), "\(secret) in dump") }
        #expect(output.contains("db:5432"))
    }

    @Test func emptySecretsShowAsEmpty() {
        #expect(RedisSettings(addr: "r:1").description == #"RedisSettings(addr: "r:1", password: "")"#)
        #expect(RedisSettings(addr: "r:1", password: "x").description == #"RedisSettings(addr: "r:1", password: <redacted>)"#)
    }
}
