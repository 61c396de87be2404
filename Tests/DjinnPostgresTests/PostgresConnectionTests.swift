import DjinnPostgres
import DjinnTesting
import Foundation
import Testing

/// Mirrors Djinn's `status` enum (spec §10).
enum BuildStatus: String, PostgresEnum, CaseIterable {
    case queued, running, passed
    case passedWithFailures = "passed_with_failures"
    case failed, killed
    case timedOut = "timed_out"
}

@Suite struct PostgresConnectionTests {
    // MARK: Connecting

    @Test func connectsOverTCPWithScramPasswordInUTC() async throws {
        try await withConnection { connection, database in
            let rows = try await connection.query(
                "SELECT current_user AS u, current_database() AS d, current_setting('TimeZone') AS tz, "
                    + "current_setting('application_name') AS app, inet_server_addr()::text AS addr")
            let row = try #require(rows.first)
            #expect(try row.decode(String.self, column: "u") == database.endpoints.pgUser)
            #expect(try row.decode(String.self, column: "d") == database.name)
            #expect(try row.decode(String.self, column: "tz") == "UTC")
            #expect(try row.decode(String.self, column: "app") == "djinn")
            #expect(try row.decode(String?.self, column: "addr") != nil)
            let method = try await connection.query(
                "SELECT auth_method FROM pg_hba_file_rules WHERE type = 'host' LIMIT 1"
            ).first?.decode(String.self, at: 0)
            #expect(method == "scram-sha-256")
        }
    }

    @Test func connectsOverTheUnixSocketDirectory() async throws {
        let database = try await TestDatabase.create()
        let endpoints = database.endpoints
        // Djinn's addr form for a socket directory, with the port selecting the socket file.
        let config = try PostgresConfiguration(
            addr: "\(endpoints.pgSocket):\(endpoints.pgPort)", database: database.name, user: endpoints.pgUser)
        #expect(config.isUnixSocket)
        let connection = try await PostgresConnection.connect(config, logger: quietLogger)
        let addr = try await connection.query("SELECT inet_server_addr()::text").first?.decode(String?.self, at: 0)
        #expect(addr == .some(nil))  // NULL: not a network connection
        await connection.close()
    }

    @Test func wrongPasswordIsAConnectionErrorThatNeverShowsThePassword() async throws {
        let database = try await TestDatabase.create()
        var config = database.configuration
        config.password = "wrong 'secret' pw-8e1f"
        let recorder = LogRecorder()
        let error = await postgresError { _ = try await PostgresConnection.connect(config, logger: recorder.logger) }
        let failure = try #require(error)
        #expect(failure.kind == .connection)
        #expect(failure.message.contains("password authentication failed"))
        for text in [failure.description, failure.message, String(reflecting: failure)] + recorder.all {
            #expect(!text.contains("8e1f"), "\(text)")
        }
    }

    @Test func passwordWithSpacesQuotesAndBackslashesWorks() async throws {
        let database = try await TestDatabase.create()
        let role = "pw_role_\(UUID().uuidString.prefix(8).lowercased())"
        let password = #"it's a "quoted" pass\word = x;y 'z'"#
        try await database.psql("CREATE ROLE \(role) LOGIN PASSWORD \(sqlLiteral(password))")
        do {
            var config = database.configuration
            config.user = role
            config.password = password
            let connection = try await PostgresConnection.connect(config, logger: quietLogger)
            #expect(try await connection.query("SELECT current_user").first?.decode(String.self, at: 0) == role)
            await connection.close()
            config.password = "it's a"
            #expect(await postgresError { _ = try await PostgresConnection.connect(config, logger: quietLogger) }?.kind == .connection)
        } catch {
            _ = try? await database.psql("DROP ROLE \(role)")
            throw error
        }
        try await database.psql("DROP ROLE \(role)")
    }

    @Test func logsConnectsWithEndpointButNeverThePassword() async throws {
        let recorder = LogRecorder()
        try await withConnection(logger: recorder.logger) { connection, database in
            _ = try await connection.query("SELECT 1")
            let lines = recorder.all
            let connected = lines.first { $0.contains("connected to PostgreSQL") }
            #expect(connected?.contains("pg_host=\(database.endpoints.pgHost)") == true)
            #expect(connected?.contains("pg_port=\(database.endpoints.pgPort)") == true)
            #expect(connected?.contains("pg_database=\(database.name)") == true)
            #expect(connected?.contains("pg_user=\(database.endpoints.pgUser)") == true)
            for line in lines { #expect(!line.contains(database.endpoints.pgPassword), "\(line)") }
        }
    }

    // MARK: Values

    @Test func roundTripsEveryColumnTypeAndNulls() async throws {
        try await withConnection { connection, _ in
            try await connection.executeScript("""
                CREATE TYPE status AS ENUM ('queued', 'running', 'passed', 'passed_with_failures', 'failed', 'killed', 'timed_out');
                CREATE TABLE v (
                    id SERIAL PRIMARY KEY, i2 INT2, i4 INT4, i8 INT8, t TEXT, vc VARCHAR(64), b BOOL, f8 FLOAT8,
                    ts TIMESTAMP, tstz TIMESTAMPTZ, by BYTEA, j JSON, jb JSONB, st status, st2 status
                );
                """)
            let when = Date(timeIntervalSince1970: 1_700_000_000.123456)
            let json = #"{"image": "debian", "tags": [1, 2, "x"]}"#
            let insert = "INSERT INTO v (i2, i4, i8, t, vc, b, f8, ts, tstz, by, j, jb, st, st2) "
                + "VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14) RETURNING id"
            let id = try await connection.query(insert, [
                Int16.min, Int32.max, Int64.min, "ünïcødé ✓ 🚀", "varchar", true, 0.1,
                when, when, [UInt8]([0, 1, 254, 255]), PostgresJSON(text: json), PostgresJSON(text: json),
                BuildStatus.passedWithFailures, "timed_out",
            ]).first?.decode(Int.self, column: "id")
            let nullID = try await connection.query(insert, Array(repeating: nil, count: 14)).first?.decode(Int32.self, at: 0)

            let row = try #require(try await connection.query("SELECT * FROM v WHERE id = $1", [id]).first)
            #expect(try row.decode(Int16.self, column: "i2") == Int16.min)
            #expect(try row.decode(Int64.self, column: "i2") == Int64(Int16.min))
            #expect(try row.decode(Int32.self, column: "i4") == Int32.max)
            #expect(try row.decode(Int.self, column: "i4") == Int(Int32.max))
            #expect(try row.decode(Int64.self, column: "i8") == Int64.min)
            #expect(try row.decode(String.self, column: "t") == "ünïcødé ✓ 🚀")
            #expect(try row.decode(String.self, column: "vc") == "varchar")
            #expect(try row.decode(Bool.self, column: "b") == true)
            #expect(try row.decode(Double.self, column: "f8") == 0.1)
            #expect(try PostgresTimestamp.format(row.decode(Date.self, column: "ts")) == "2023-11-14 22:13:20.123456")
            #expect(try PostgresTimestamp.format(row.decode(Date.self, column: "tstz")) == "2023-11-14 22:13:20.123456")
            #expect(try row.decode([UInt8].self, column: "by") == [0, 1, 254, 255])
            #expect(try row.decode(Data.self, column: "by") == Data([0, 1, 254, 255]))
            #expect(try row.decode(PostgresJSON.self, column: "j").text == json)  // json keeps the text
            let jsonb = try row.decode(PostgresJSON.self, column: "jb")
            let decoded = try jsonb.decode([String: JSONValue].self)
            #expect(decoded == ["image": .string("debian"), "tags": .array([.number(1), .number(2), .string("x")])])
            #expect(try row.decode(String.self, column: "j") == json)
            #expect(try row.decode(Data.self, column: "j") == Data(json.utf8))
            #expect(try row.decode(BuildStatus.self, column: "st") == .passedWithFailures)
            #expect(try row.decode(String.self, column: "st") == "passed_with_failures")
            #expect(try row.decode(BuildStatus.self, column: "st2") == .timedOut)

            let nulls = try #require(try await connection.query("SELECT * FROM v WHERE id = $1", [nullID]).first)
            for column in ["i2", "i4", "i8"] { #expect(try nulls.decode(Int64?.self, column: column) == nil) }
            #expect(try nulls.decode(Int?.self, column: "i4") == nil)
            #expect(try nulls.decode(String?.self, column: "t") == nil)
            #expect(try nulls.decode(String?.self, column: "vc") == nil)
            #expect(try nulls.decode(Bool?.self, column: "b") == nil)
            #expect(try nulls.decode(Double?.self, column: "f8") == nil)
            #expect(try nulls.decode(Date?.self, column: "ts") == nil)
            #expect(try nulls.decode(Date?.self, column: "tstz") == nil)
            #expect(try nulls.decode([UInt8]?.self, column: "by") == nil)
            #expect(try nulls.decode(PostgresJSON?.self, column: "jb") == nil)
            #expect(try nulls.decode(BuildStatus?.self, column: "st") == nil)
            #expect(try nulls.cell(named: "t").isNull)
        }
    }

    @Test func roundTripsEveryEnumLabel() async throws {
        try await withConnection { connection, _ in
            try await connection.execute(
                "CREATE TYPE status AS ENUM ('queued', 'running', 'passed', 'passed_with_failures', 'failed', 'killed', 'timed_out')")
            for status in BuildStatus.allCases {
                let back = try await connection.query("SELECT $1::status", [status]).first?.decode(BuildStatus.self, at: 0)
                #expect(back == status)
            }
            let error = await postgresError { _ = try await connection.query("SELECT 'passed'::status").first?.decode(Bool.self, at: 0) }
            #expect(error?.kind == .decode)
            #expect(error?.message.contains("user-defined type") == true)
        }
    }

    @Test func byteaKeepsAllByteValues() async throws {
        try await withConnection { connection, _ in
            try await connection.execute("CREATE TABLE blobs (id INT PRIMARY KEY, data BYTEA NOT NULL)")
            let all = [UInt8](0...255)
            let cases: [(Int, [UInt8])] = [(1, all), (2, []), (3, [0]), (4, all.reversed() + all)]
            for (id, bytes) in cases {
                try await connection.execute("INSERT INTO blobs VALUES ($1, $2)", [id, bytes])
            }
            for (id, bytes) in cases {
                let row = try #require(try await connection.query("SELECT data, length(data) AS n FROM blobs WHERE id = $1", [id]).first)
                #expect(try row.decode([UInt8].self, column: "data") == bytes)
                #expect(try row.decode(Int.self, column: "n") == bytes.count)
            }
            // Data binds the same way; and the server agrees on the content.
            let md5 = try await connection.query("SELECT md5($1::bytea)", [Data(all)]).first?.decode(String.self, at: 0)
            let expected = try await connection.query("SELECT md5(data) FROM blobs WHERE id = 1").first?.decode(String.self, at: 0)
            #expect(md5 == expected)
        }
    }

    @Test func textKeepsUnicodeAndSpecialCharacters() async throws {
        try await withConnection { connection, _ in
            let texts = ["", " ", "ünïcødé", "日本語テキスト", "emoji 🚀👩‍👩‍👧", "tab\tnewline\nreturn\r", #"back\slash 'single' "double""#,
                         "$1 $2 ?", String(repeating: "long ", count: 20_000)]
            for text in texts {
                let back = try await connection.query("SELECT $1::text AS t, length($1::text) AS n", [text]).first
                #expect(try back?.decode(String.self, column: "t") == text)
                #expect(try back?.decode(Int.self, column: "n") == text.unicodeScalars.count)
            }
            let error = await postgresError { _ = try await connection.query("SELECT $1::text", ["nul\u{0}byte"]) }
            #expect(error?.kind == .query)
            #expect(error?.message.contains("NUL") == true)
        }
    }

    @Test func numbersAndBooleansRoundTrip() async throws {
        try await withConnection { connection, _ in
            for value in [0.0, -0.5, 1e-300, 1.7976931348623157e308, 3.141592653589793, .infinity, -.infinity] {
                #expect(try await connection.query("SELECT $1::float8", [value]).first?.decode(Double.self, at: 0) == value)
            }
            #expect(try await connection.query("SELECT $1::float8", [Double.nan]).first?.decode(Double.self, at: 0).isNaN == true)
            #expect(try await connection.query("SELECT 1.25::numeric").first?.decode(Double.self, at: 0) == 1.25)
            for value in [Int.min, -1, 0, 1, Int.max] {
                #expect(try await connection.query("SELECT $1::int8", [value]).first?.decode(Int.self, at: 0) == value)
            }
            let booleans = try #require(try await connection.query("SELECT $1::bool, $2::bool", [true, false]).first)
            #expect(try booleans.decode(Bool.self, at: 0) == true)
            #expect(try booleans.decode(Bool.self, at: 1) == false)
            // An int8 too wide for Int32 is a decode error, not a wrap-around.
            let error = await postgresError { _ = try await connection.query("SELECT 4294967296::int8 AS big").first?.decode(Int32.self, at: 0) }
            #expect(error?.kind == .decode)
            #expect(error?.message.contains("\"big\"") == true)
        }
    }

    @Test func timestampsRoundTripInUTC() async throws {
        try await withConnection { connection, _ in
            try await connection.execute("CREATE TABLE times (ts TIMESTAMP, tstz TIMESTAMPTZ)")
            let dates = [Date(timeIntervalSince1970: 0), Date(timeIntervalSince1970: 1_700_000_000.000001),
                         Date(timeIntervalSince1970: 951_782_399.999999), Date(timeIntervalSince1970: -86_400 * 365.25 * 50)]
            for date in dates {
                try await connection.execute("DELETE FROM times")
                try await connection.execute("INSERT INTO times VALUES ($1, $2)", [date, date])
                let row = try #require(try await connection.query("SELECT ts, tstz, ts::text AS tstext, extract(epoch FROM tstz)::float8 AS epoch FROM times").first)
                #expect(try PostgresTimestamp.format(row.decode(Date.self, column: "ts")) == PostgresTimestamp.format(date))
                #expect(try PostgresTimestamp.format(row.decode(Date.self, column: "tstz")) == PostgresTimestamp.format(date))
                // The server holds the same instant: UTC in, UTC out.
                #expect(try abs(row.decode(Double.self, column: "epoch") - date.timeIntervalSince1970) < 0.000_002)
            }
            // now() (timestamptz) and the Djinn column default shape (timestamp) both decode.
            let now = try await connection.query("SELECT now() AS a, now()::timestamp AS b").first
            let a = try #require(try now?.decode(Date.self, column: "a"))
            let b = try #require(try now?.decode(Date.self, column: "b"))
            #expect(abs(a.timeIntervalSince(b)) < 0.000_002)
            #expect(abs(a.timeIntervalSinceNow) < 60)
            #expect(try await connection.query("SELECT 'infinity'::timestamp").first?.decode(Date.self, at: 0) == .distantFuture)
        }
    }

    @Test func injectionLookingParametersStayData() async throws {
        try await withConnection { connection, _ in
            try await connection.execute("CREATE TABLE users (id SERIAL PRIMARY KEY, name TEXT NOT NULL)")
            let evil = "x'); DROP TABLE users; --"
            try await connection.execute("INSERT INTO users (name) VALUES ($1)", [evil])
            let also = "' OR '1'='1"
            let matched = try await connection.query("SELECT name FROM users WHERE name = $1", [also])
            #expect(matched.isEmpty)
            let names = try await connection.query("SELECT name FROM users").map { try $0.decode(String.self, column: "name") }
            #expect(names == [evil])
        }
    }

    @Test func decodeErrorsNameTheColumnAndType() async throws {
        try await withConnection { connection, _ in
            let row = try #require(try await connection.query("SELECT 42 AS answer, NULL::text AS nothing, 'x'::bytea AS blob").first)
            let mismatch = await postgresError { _ = try row.decode(String.self, column: "answer") }
            #expect(mismatch?.kind == .decode)
            #expect(mismatch?.message == "cannot decode column \"answer\" of type int4 as String")
            let null = await postgresError { _ = try row.decode(String.self, column: "nothing") }
            #expect(null?.message.contains("\"nothing\"") == true)
            #expect(null?.message.contains("NULL") == true)
            let missing = await postgresError { _ = try row.decode(Int.self, column: "question") }
            #expect(missing?.message.contains("answer, nothing, blob") == true)
            let outOfRange = await postgresError { _ = try row.decode(Int.self, at: 9) }
            #expect(outOfRange?.kind == .decode)
            let blobAsText = await postgresError { _ = try row.decode(String.self, column: "blob") }
            #expect(blobAsText?.message.contains("bytea") == true)
        }
    }

    @Test func rowsReportColumnsTagsAndCounts() async throws {
        try await withConnection { connection, _ in
            try await connection.execute("CREATE TABLE n (x INT)")
            #expect(try await connection.execute("INSERT INTO n SELECT generate_series(1, 5)") == 5)
            #expect(try await connection.execute("UPDATE n SET x = x + 1 WHERE x > 2") == 3)
            let rows = try await connection.query("SELECT x, x * 2 AS doubled FROM n ORDER BY x")
            #expect(rows.count == 5)
            #expect(rows.columns == ["x", "doubled"])
            #expect(rows.columnTypes == [.int4, .int4])
            #expect(rows.commandTag == "SELECT 5")
            #expect(rows.affectedRows == 5)
            #expect(try rows.map { try $0.decode(Int.self, at: 1) } == [2, 4, 8, 10, 12])
            #expect(try await connection.execute("DELETE FROM n") == 5)
            #expect(try await connection.query("SELECT x FROM n").isEmpty)
        }
    }

    // MARK: Errors

    @Test func serverErrorsCarrySQLState() async throws {
        try await withConnection { connection, _ in
            try await connection.execute("CREATE TABLE u (name TEXT CONSTRAINT u_name_key UNIQUE)")
            try await connection.execute("INSERT INTO u VALUES ($1)", ["a"])
            let duplicate = await postgresError { try await connection.execute("INSERT INTO u VALUES ($1)", ["a"]) }
            #expect(duplicate?.kind == .query)
            #expect(duplicate?.sqlState == PostgresError.uniqueViolation)
            #expect(duplicate?.constraint == "u_name_key")
            #expect(duplicate?.detail?.contains("already exists") == true)
            let syntax = await postgresError { _ = try await connection.query("SELEC 1") }
            #expect(syntax?.kind == .query)
            #expect(syntax?.sqlState == PostgresError.syntaxError)
            #expect(syntax?.description.hasPrefix("postgres query error 42601: syntax error") == true)
            // The session is unharmed.
            #expect(try await connection.query("SELECT 1").first?.decode(Int.self, at: 0) == 1)
            try await connection.ping()
            #expect(connection.isReusable)
        }
    }

    @Test func scriptsRunSeveralStatements() async throws {
        try await withConnection { connection, _ in
            try await connection.executeScript("""
                CREATE TABLE a (x INT);
                INSERT INTO a VALUES (1), (2);
                -- a comment
                CREATE INDEX a_x ON a (x);
                """)
            #expect(try await connection.query("SELECT count(*) FROM a").first?.decode(Int.self, at: 0) == 2)
            let error = await postgresError { try await connection.executeScript("INSERT INTO a VALUES (3); SELEC;") }
            #expect(error?.sqlState == PostgresError.syntaxError)
            // A script is one implicit transaction: the INSERT before the error is gone too.
            #expect(try await connection.query("SELECT count(*) FROM a").first?.decode(Int.self, at: 0) == 2)
        }
    }

    @Test func closedConnectionFailsWithClosed() async throws {
        let database = try await TestDatabase.create()
        let connection = try await PostgresConnection.connect(database.configuration, logger: quietLogger)
        await connection.close()
        await connection.close()  // idempotent
        let error = await postgresError { _ = try await connection.query("SELECT 1") }
        #expect(error?.kind == .closed)
        #expect(!connection.isReusable)
    }

    // MARK: Transactions

    @Test func transactionCommitsAndRollsBackOnThrow() async throws {
        struct Abort: Error {}
        try await withConnection { connection, _ in
            try await connection.execute("CREATE TABLE t (x INT)")
            let value = try await connection.withTransaction { tx in
                try await tx.execute("INSERT INTO t VALUES (1)")
                return 7
            }
            #expect(value == 7)
            await #expect(throws: Abort.self) {
                try await connection.withTransaction { tx in
                    try await tx.execute("INSERT INTO t VALUES (2)")
                    throw Abort()
                }
            }
            // A failing statement inside aborts the whole transaction.
            let error = await postgresError {
                try await connection.withTransaction { tx in
                    try await tx.execute("INSERT INTO t VALUES (3)")
                    try await tx.execute("INSERT INTO t VALUES ('not a number')")
                }
            }
            #expect(error?.sqlState == "22P02")
            // Swallowing the error does not let COMMIT pretend to succeed.
            let swallowed = await postgresError {
                try await connection.withTransaction { tx in
                    try await tx.execute("INSERT INTO t VALUES (4)")
                    _ = try? await tx.execute("INSERT INTO t VALUES ('nope')")
                }
            }
            #expect(swallowed?.sqlState == "25P02")
            let values = try await connection.query("SELECT x FROM t").map { try $0.decode(Int.self, at: 0) }
            #expect(values == [1])
            #expect(connection.isReusable)
            #expect(!connection.isInTransaction)
        }
    }

    // MARK: Threads and cancellation

    @Test func cancellingTheTaskCancelsARunningQueryPromptly() async throws {
        try await withConnection { connection, _ in
            let start = ContinuousClock.now
            let task = Task { try await connection.query("SELECT pg_sleep(120)") }
            try await Task.sleep(for: .milliseconds(300))
            task.cancel()
            let result = await task.result
            // Interrupted: far sooner than the two minutes the statement asked for.
            #expect(ContinuousClock.now - start < .seconds(60))
            #expect(throws: CancellationError.self) { try result.get() }
            // The session survives and the next statement is not cancelled by a stray request.
            #expect(try await connection.query("SELECT 1").first?.decode(Int.self, at: 0) == 1)
            try await Task.sleep(for: .milliseconds(100))
            #expect(try await connection.query("SELECT pg_sleep(0.2), 2").first?.decode(Int.self, at: 1) == 2)
        }
    }

    @Test func cancellingInsideATransactionRollsBack() async throws {
        try await withConnection { connection, _ in
            try await connection.execute("CREATE TABLE t (x INT)")
            let task = Task {
                try await connection.withTransaction { tx in
                    try await tx.execute("INSERT INTO t VALUES (1)")
                    _ = try await tx.query("SELECT pg_sleep(10)")
                }
            }
            try await Task.sleep(for: .milliseconds(300))
            task.cancel()
            await #expect(throws: CancellationError.self) { try await task.value }
            #expect(try await connection.query("SELECT count(*) FROM t").first?.decode(Int.self, at: 0) == 0)
            #expect(connection.isReusable)
        }
    }

    @Test func alreadyCancelledTaskDoesNotRunTheStatement() async throws {
        try await withConnection { connection, _ in
            try await connection.execute("CREATE TABLE t (x INT)")
            let task = Task {
                withUnsafeCurrentTask { $0?.cancel() }
                try await connection.execute("INSERT INTO t VALUES (1)")
            }
            await #expect(throws: CancellationError.self) { try await task.value }
            #expect(try await connection.query("SELECT count(*) FROM t").first?.decode(Int.self, at: 0) == 0)
        }
    }

    @Test func blockingCallsRunOffTheCooperativePool() async throws {
        // Eight statements that each finish only once all eight are running at the same
        // time. If libpq calls blocked cooperative threads (two on this machine) at most two
        // could be in flight, and every statement would hit its 20 s limit and fail.
        let database = try await TestDatabase.create()
        var connections: [PostgresConnection] = []
        for _ in 0..<8 { connections.append(try await PostgresConnection.connect(database.configuration, logger: quietLogger)) }
        let barrier = """
            DO $barrier$
            DECLARE deadline timestamptz := clock_timestamp() + interval '20 seconds';
            BEGIN
              WHILE (SELECT count(*) FROM pg_stat_activity
                     WHERE datname = current_database() AND query LIKE '%barrier-8%') < 8 LOOP
                IF clock_timestamp() > deadline THEN RAISE EXCEPTION 'only some of the eight statements ran at once'; END IF;
                PERFORM pg_sleep(0.01);
                PERFORM pg_stat_clear_snapshot();  -- pg_stat_activity is cached per transaction
              END LOOP;
            END $barrier$ /* barrier-8 */
            """
        var failure: (any Error)?
        do {
            try await withThrowingTaskGroup(of: Void.self) { group in
                for connection in connections { group.addTask { _ = try await connection.query(barrier) } }
                try await group.waitForAll()
            }
        } catch {
            failure = error
        }
        for connection in connections { await connection.close() }
        if let failure { throw failure }
    }

    @Test func concurrentStatementsOnOneConnectionAreSerialised() async throws {
        try await withConnection { connection, _ in
            try await connection.execute("CREATE TABLE t (x INT)")
            try await withThrowingTaskGroup(of: Void.self) { group in
                for i in 0..<50 { group.addTask { try await connection.execute("INSERT INTO t VALUES ($1)", [i]) } }
                try await group.waitForAll()
            }
            #expect(try await connection.query("SELECT sum(x) FROM t").first?.decode(Int.self, at: 0) == (0..<50).reduce(0, +))
        }
    }

    // MARK: Broken sessions

    @Test func terminatedIdleBackendIsReplacedBeforeTheNextStatement() async throws {
        try await withConnection { connection, database in
            let first = try #require(try await connection.backendPID())
            let admin = try await PostgresConnection.connect(database.configuration, logger: quietLogger)
            _ = try await admin.query("SELECT pg_terminate_backend($1)", [Int(first)])
            await admin.close()
            try await Task.sleep(for: .milliseconds(100))
            // The goodbye is already on the socket: the statement goes to a fresh session.
            #expect(try await connection.query("SELECT 1").first?.decode(Int.self, at: 0) == 1)
            let second = try await connection.backendPID()
            #expect(second != nil && second != first)
        }
    }

    @Test func backendKilledMidStatementFailsThatStatementOnlyAndIsNotRetried() async throws {
        try await withConnection { connection, database in
            try await connection.execute("CREATE TABLE t (x INT)")
            let pid = try #require(try await connection.backendPID())
            let task = Task { try await connection.query("INSERT INTO t SELECT 1 FROM pg_sleep(5)") }
            try await Task.sleep(for: .milliseconds(300))
            let admin = try await PostgresConnection.connect(database.configuration, logger: quietLogger)
            _ = try await admin.query("SELECT pg_terminate_backend($1)", [Int(pid)])
            await admin.close()
            let error = await postgresError { _ = try await task.value }
            #expect(error?.kind == .connection)
            #expect(!connection.isReusable)
            // Not retried behind the caller's back, and the next statement reconnects.
            #expect(try await connection.query("SELECT count(*) FROM t").first?.decode(Int.self, at: 0) == 0)
            #expect(connection.isReusable)
        }
    }

    @Test func sessionLostInsideATransactionIsNeverSilentlyContinued() async throws {
        try await withConnection { connection, database in
            try await connection.execute("CREATE TABLE t (x INT)")
            try await connection.execute("BEGIN")
            try await connection.execute("INSERT INTO t VALUES (1)")
            let pid = try #require(try await connection.backendPID())
            let admin = try await PostgresConnection.connect(database.configuration, logger: quietLogger)
            _ = try await admin.query("SELECT pg_terminate_backend($1)", [Int(pid)])
            await admin.close()
            try await Task.sleep(for: .milliseconds(100))
            let lost = await postgresError { try await connection.execute("INSERT INTO t VALUES (2)") }
            #expect(lost?.kind == .connection)
            #expect(connection.isInTransaction)
            // Still refused (as PostgreSQL refuses statements in an aborted transaction) …
            #expect(await postgresError { try await connection.execute("INSERT INTO t VALUES (3)") }?.kind == .connection)
            #expect(await postgresError { try await connection.execute("COMMIT") }?.kind == .connection)
            // … until ROLLBACK, after which a fresh session serves autocommit statements.
            try await connection.execute("ROLLBACK")
            #expect(!connection.isInTransaction)
            try await connection.execute("INSERT INTO t VALUES (4)")
            let values = try await connection.query("SELECT x FROM t").map { try $0.decode(Int.self, at: 0) }
            #expect(values == [4])
        }
    }

    @Test func serverRestartIsSurvived() async throws {
        try await withPrivatePostgres { services in
            let config = services.endpoints.postgresConfiguration(database: "postgres")
            let recorder = LogRecorder()
            let connection = try await PostgresConnection.connect(config, logger: recorder.logger)
            try await connection.execute("CREATE TABLE t (x INT)")
            let before = try await connection.backendPID()

            // Restart while idle: the next autocommit statement reconnects and succeeds.
            try await services.stopPostgres()
            try await services.startPostgres()
            try await connection.execute("INSERT INTO t VALUES (1)")
            #expect(try await connection.backendPID() != before)
            #expect(recorder.all.contains { $0.contains("reconnected to PostgreSQL") })

            // While the server is down statements fail with a connection error …
            try await services.stopPostgres()
            let down = await postgresError { _ = try await connection.query("SELECT 1") }
            #expect(down?.kind == .connection)
            #expect(await postgresError { _ = try await connection.query("SELECT 1") }?.kind == .connection)
            // … and work again once it is back.
            try await services.startPostgres()
            #expect(try await connection.query("SELECT count(*) FROM t").first?.decode(Int.self, at: 0) == 1)

            // A restart inside a transaction: refused until ROLLBACK, nothing half-applied.
            try await connection.execute("BEGIN")
            try await connection.execute("INSERT INTO t VALUES (2)")
            try await services.stopPostgres()
            try await services.startPostgres()
            #expect(await postgresError { try await connection.execute("INSERT INTO t VALUES (3)") }?.kind == .connection)
            #expect(await postgresError { try await connection.execute("COMMIT") }?.kind == .connection)
            try await connection.execute("ROLLBACK")
            #expect(try await connection.query("SELECT count(*) FROM t").first?.decode(Int.self, at: 0) == 1)

            for line in recorder.all { #expect(!line.contains(services.endpoints.pgPassword), "\(line)") }
            await connection.close()
        }
    }
}

/// A minimal JSON model for comparing jsonb output.
enum JSONValue: Decodable, Equatable {
    case string(String), number(Double), bool(Bool), array([JSONValue]), object([String: JSONValue]), null

    init(from decoder: Decoder) throws {
        let container = try decoder.singleValueContainer()
        if container.decodeNil() { self = .null }
        else if let value = try? container.decode(Bool.self) { self = .bool(value) }
        else if let value = try? container.decode(Double.self) { self = .number(value) }
        else if let value = try? container.decode(String.self) { self = .string(value) }
        else if let value = try? container.decode([JSONValue].self) { self = .array(value) }
        else { self = .object(try container.decode([String: JSONValue].self)) }
    }
}
