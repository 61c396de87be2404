import Testing
@testable import DjinnPostgres

@Suite struct PostgresConfigurationTests {
    @Test(arguments: [
        ("localhost:5432", "localhost", 5432),
        ("db.example.com:6543", "db.example.com", 6543),
        ("10.0.0.1:5433", "10.0.0.1", 5433),
        ("db", "db", 5432),
        ("10.0.0.1", "10.0.0.1", 5432),
        ("[::1]:5433", "::1", 5433),
        ("[fe80::1%eth0]:5432", "fe80::1%eth0", 5432),
        ("[::1]", "::1", 5432),
        ("::1", "::1", 5432),
        ("/var/run/postgresql", "/var/run/postgresql", 5432),
        ("/var/run/postgresql:5433", "/var/run/postgresql", 5433),
        ("/tmp/odd:dir", "/tmp/odd:dir", 5432),
        ("/tmp/odd:dir:6000", "/tmp/odd:dir", 6000),
        (" localhost:5432 ", "localhost", 5432),
    ])
    func parsesDjinnAddr(addr: String, host: String, port: Int) throws {
        let parsed = try PostgresConfiguration.parseAddress(addr)
        #expect(parsed.host == host)
        #expect(parsed.port == port)
    }

    @Test(arguments: ["", "   ", "host:", "host:0", "host:65536", "host:abc", ":5432", "[::1", "[]:5432", "[::1]x", "[::1]:", "host:-1"])
    func rejectsBadAddr(addr: String) {
        #expect(throws: PostgresError.self) { try PostgresConfiguration.parseAddress(addr) }
        do {
            _ = try PostgresConfiguration.parseAddress(addr)
        } catch {
            #expect(error.kind == .configuration)
            #expect(error.message.contains("database addr"))
        }
    }

    @Test func addrInitialiserKeepsTheRest() throws {
        let config = try PostgresConfiguration(
            addr: "[::1]:6000", database: "djinn", user: "djinn_worker", password: "pw")
        #expect(config.host == "::1")
        #expect(config.port == 6000)
        #expect(config.database == "djinn")
        #expect(config.user == "djinn_worker")
        #expect(!config.isUnixSocket)
        #expect(try PostgresConfiguration(addr: "/run/pg", database: "d", user: "u").isUnixSocket)
    }

    @Test func tlsModeFollowsDjinnsRule() {
        typealias TLS = PostgresConfiguration.TLS
        #expect(TLS().effectiveMode == .disable)
        #expect(TLS(ca: "/ca", cert: "/cert").effectiveMode == .disable)
        #expect(TLS(ca: "/ca", key: "/key").effectiveMode == .disable)
        #expect(TLS(ca: "", cert: "/cert", key: "/key").effectiveMode == .disable)
        #expect(TLS(ca: "/ca", cert: "/cert", key: "/key").effectiveMode == .verifyFull)
        #expect(TLS(ca: "/ca", mode: .verifyCA).effectiveMode == .verifyCA)
        #expect(TLS(ca: "/ca", cert: "/cert", key: "/key", mode: .require).effectiveMode == .require)
    }

    @Test func connectionParametersCarryTLSFilesOnlyWhenTLSIsOn() {
        var config = PostgresConfiguration(host: "db", database: "djinn", user: "u", password: "p w")
        var parameters = Dictionary(uniqueKeysWithValues: config.connectionParameters.map { ($0.keyword, $0.value) })
        #expect(parameters["sslmode"] == "disable")
        #expect(parameters["sslrootcert"] == nil)
        #expect(parameters["password"] == "p w")
        #expect(parameters["host"] == "db")
        #expect(parameters["port"] == "5432")
        #expect(parameters["dbname"] == "djinn")
        #expect(parameters["options"]?.contains("TimeZone=UTC") == true)
        #expect(parameters["keepalives"] == "1")

        config.tls = .init(ca: "/etc/ca.pem", cert: "/etc/client.pem", key: "/etc/client.key")
        config.password = ""
        config.host = "/run/postgresql"
        parameters = Dictionary(uniqueKeysWithValues: config.connectionParameters.map { ($0.keyword, $0.value) })
        #expect(parameters["sslmode"] == "verify-full")
        #expect(parameters["sslrootcert"] == "/etc/ca.pem")
        #expect(parameters["sslcert"] == "/etc/client.pem")
        #expect(parameters["sslkey"] == "/etc/client.key")
        #expect(parameters["password"] == nil)
        #expect(parameters["keepalives"] == nil)  // not for unix sockets
    }

    @Test func descriptionNeverShowsThePassword() {
        let config = PostgresConfiguration(
            host: "::1", port: 5433, database: "djinn", user: "worker", password: "hunter2 'quoted'")
        #expect(config.description == "postgres://worker@[::1]:5433/djinn (sslmode=disable)")
        #expect(!String(describing: config).contains("hunter2"))
        #expect(!String(reflecting: PostgresError(kind: .connection, message: "x")).contains("hunter2"))
    }

    @Test func errorsAreScrubbedOfTheSecret() {
        let error = PostgresError(kind: .connection, message: "bad pass s3cret here", detail: "s3cret")
            .scrubbed(of: "s3cret")
        #expect(error.message == "bad pass *** here")
        #expect(error.detail == "***")
        #expect(PostgresError.scrub("text", secret: "") == "text")
        #expect(error.description == "postgres connection error: bad pass *** here (detail: ***)")
    }

    @Test func connectionFailureStates() {
        #expect(PostgresError.isConnectionFailure(sqlState: "08006"))
        #expect(PostgresError.isConnectionFailure(sqlState: "08P01"))
        #expect(PostgresError.isConnectionFailure(sqlState: "57P01"))
        #expect(!PostgresError.isConnectionFailure(sqlState: "57014"))
        #expect(!PostgresError.isConnectionFailure(sqlState: "23505"))
        #expect(!PostgresError.isConnectionFailure(sqlState: nil))
    }

    @Test func plainRollbackRecognition() {
        for sql in ["ROLLBACK", "rollback;", "  Rollback Work ; ", "ABORT", "abort transaction", "ROLLBACK TRANSACTION;"] {
            #expect(ConnectionCore.isPlainRollback(sql), "\(sql)")
        }
        for sql in ["ROLLBACK TO SAVEPOINT a", "ROLLBACK PREPARED 'x'", "COMMIT", "SELECT 'rollback'", "rollbacks"] {
            #expect(!ConnectionCore.isPlainRollback(sql), "\(sql)")
        }
    }
}
