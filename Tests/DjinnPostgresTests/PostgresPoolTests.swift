import DjinnPostgres
import DjinnTesting
import Foundation
import Testing

@Suite struct PostgresPoolTests {
    /// A configuration with an application name of its own, to find its backends in pg_stat_activity.
    private func taggedConfiguration(_ database: TestDatabase) -> (PostgresConfiguration, String) {
        var config = database.configuration
        config.applicationName = "pool-\(UUID().uuidString.prefix(8).lowercased())"
        return (config, config.applicationName)
    }

    private func backends(named name: String, via monitor: PostgresConnection) async throws -> Int {
        try await monitor.query("SELECT count(*) FROM pg_stat_activity WHERE application_name = $1", [name])
            .first!.decode(Int.self, at: 0)
    }

    /// Polls `condition` for up to two seconds.
    private func eventually(_ condition: () async throws -> Bool) async rethrows -> Bool {
        for _ in 0..<100 {
            if try await condition() { return true }
            try? await Task.sleep(for: .milliseconds(20))
        }
        return false
    }

    @Test func boundedPoolServesManyUsersWithAtMostMaxBackends() async throws {
        let database = try await TestDatabase.create()
        let (config, tag) = taggedConfiguration(database)
        let pool = PostgresPool(configuration: config, maxConnections: 2, logger: quietLogger)
        let monitor = try await PostgresConnection.connect(database.configuration, logger: quietLogger)
        #expect(try await backends(named: tag, via: monitor) == 0)  // lazily opened

        let inFlight = Locked(0)
        let maxInFlight = Locked(0)
        let done = Locked(false)
        async let sampled: Int = {
            var highest = 0
            while !done.value {
                highest = max(highest, try await backends(named: tag, via: monitor))
                try await Task.sleep(for: .milliseconds(20))
            }
            return highest
        }()
        let results = try await withThrowingTaskGroup(of: Int.self) { group in
            for user in 0..<10 {
                group.addTask {
                    try await pool.withConnection { connection in
                        let now = inFlight.update { $0 += 1; return $0 }
                        maxInFlight.update { $0 = max($0, now) }
                        defer { inFlight.update { $0 -= 1 } }
                        return try await connection.query("SELECT $1::int8 FROM pg_sleep(0.1)", [user])
                            .first!.decode(Int.self, at: 0)
                    }
                }
            }
            return try await group.reduce(into: []) { $0.append($1) }
        }
        done.set(true)
        let highestBackends = try await sampled
        #expect(results.sorted() == Array(0..<10))
        #expect(maxInFlight.value == 2)
        #expect(highestBackends <= 2 && highestBackends >= 1)
        #expect(try await backends(named: tag, via: monitor) == 2)
        #expect(pool.statistics.idle == 2)

        await pool.close()
        // The server drops a closed session's row a moment after the socket closes.
        #expect(try await eventually { try await backends(named: tag, via: monitor) == 0 })
        await monitor.close()
    }

    @Test func waitersAreServedInArrivalOrder() async throws {
        let database = try await TestDatabase.create()
        let pool = PostgresPool(configuration: database.configuration, maxConnections: 1, logger: quietLogger)
        let order = Locked<[Int]>([])
        let holding = Locked(false)
        let release = Locked(false)
        try await withThrowingTaskGroup(of: Void.self) { group in
            // Holds the only connection until every waiter has queued (no sleeps to race).
            group.addTask {
                try await pool.withConnection { _ in
                    holding.set(true)
                    while !release.value { try await Task.sleep(for: .milliseconds(5)) }
                }
            }
            while !holding.value { try await Task.sleep(for: .milliseconds(5)) }
            for waiter in 1...5 {
                group.addTask {
                    try await pool.withConnection { connection in
                        order.update { $0.append(waiter) }
                        _ = try await connection.query("SELECT 1")
                    }
                }
                // The next waiter is added only once this one is queued.
                #expect(await eventually { pool.statistics.waiting == waiter })
            }
            release.set(true)
            try await group.waitForAll()
        }
        #expect(order.value == [1, 2, 3, 4, 5])
        await pool.close()
    }

    @Test func transactionsCommitAndRollBackOnThrow() async throws {
        struct Abort: Error {}
        let database = try await TestDatabase.create()
        let pool = PostgresPool(configuration: database.configuration, maxConnections: 2, logger: quietLogger)
        try await pool.execute("CREATE TABLE t (x INT)")
        let inserted = try await pool.withTransaction { tx in
            try await tx.execute("INSERT INTO t VALUES ($1), ($2)", [1, 2])
        }
        #expect(inserted == 2)
        await #expect(throws: Abort.self) {
            try await pool.withTransaction { tx in
                try await tx.execute("INSERT INTO t VALUES (3)")
                throw Abort()
            }
        }
        let values = try await pool.query("SELECT x FROM t ORDER BY x").map { try $0.decode(Int.self, at: 0) }
        #expect(values == [1, 2])
        #expect(pool.statistics.idle == 1)
        #expect(pool.statistics.leased == 0)
        await pool.close()
    }

    @Test func transactionLeftOpenIsRolledBackAndTheConnectionReused() async throws {
        struct Abort: Error {}
        let database = try await TestDatabase.create()
        let pool = PostgresPool(configuration: database.configuration, maxConnections: 1, logger: quietLogger)
        try await pool.execute("CREATE TABLE t (x INT)")
        let first = try await pool.withConnection { try await $0.backendPID() }
        await #expect(throws: Abort.self) {
            try await pool.withConnection { connection in
                try await connection.execute("BEGIN")
                try await connection.execute("INSERT INTO t VALUES (1)")
                throw Abort()
            }
        }
        try await pool.withConnection { connection async throws in
            #expect(try await connection.backendPID() == first)
            #expect(!connection.isInTransaction)
            #expect(try await connection.query("SELECT count(*) FROM t").first?.decode(Int.self, at: 0) == 0)
        }
        await pool.close()
    }

    @Test func brokenConnectionIsReplaced() async throws {
        let database = try await TestDatabase.create()
        let (config, tag) = taggedConfiguration(database)
        let pool = PostgresPool(configuration: config, maxConnections: 1, logger: quietLogger)
        let monitor = try await PostgresConnection.connect(database.configuration, logger: quietLogger)
        try await pool.execute("CREATE TABLE t (x INT)")
        let error = await postgresError {
            try await pool.withTransaction { tx in
                try await tx.execute("INSERT INTO t VALUES (1)")
                let pid = try #require(try await tx.backendPID())
                _ = try await monitor.query("SELECT pg_terminate_backend($1)", [Int(pid)])
                try await Task.sleep(for: .milliseconds(100))
                try await tx.execute("INSERT INTO t VALUES (2)")
            }
        }
        #expect(error?.kind == .connection)
        // The dead connection was closed rather than put back …
        #expect(await eventually { pool.statistics.idle == 0 && pool.statistics.closing == 0 })
        #expect(try await backends(named: tag, via: monitor) == 0)
        // … and the pool opens a fresh one on demand.
        #expect(try await pool.query("SELECT count(*) FROM t").first?.decode(Int.self, at: 0) == 0)
        #expect(try await backends(named: tag, via: monitor) == 1)
        await pool.close()
        await monitor.close()
    }

    @Test func closeFailsWaitersAndWaitsForLeasedConnections() async throws {
        let database = try await TestDatabase.create()
        let (config, tag) = taggedConfiguration(database)
        let pool = PostgresPool(configuration: config, maxConnections: 1, logger: quietLogger)
        let holding = Locked(false)
        let holder = Task {
            try await pool.withConnection { connection in
                holding.set(true)
                try await Task.sleep(for: .milliseconds(300))
                return try await connection.query("SELECT 5").first!.decode(Int.self, at: 0)
            }
        }
        while !holding.value { try await Task.sleep(for: .milliseconds(5)) }
        let waiter = Task { try await pool.query("SELECT 1") }
        #expect(await eventually { pool.statistics.waiting == 1 })
        await pool.close()
        // The holder finished its work; close() returned only after its connection closed.
        #expect(try await holder.value == 5)
        let waiterError = await postgresError { _ = try await waiter.value }
        #expect(waiterError?.kind == .closed)
        #expect(await postgresError { _ = try await pool.query("SELECT 1") }?.kind == .closed)
        let monitor = try await PostgresConnection.connect(database.configuration, logger: quietLogger)
        #expect(try await backends(named: tag, via: monitor) == 0)
        await monitor.close()
        await pool.close()  // idempotent
    }

    @Test func cancelledWaiterGivesUpPromptly() async throws {
        let database = try await TestDatabase.create()
        let pool = PostgresPool(configuration: database.configuration, maxConnections: 1, logger: quietLogger)
        let holding = Locked(false)
        let holder = Task {
            try await pool.withConnection { _ in
                holding.set(true)
                try await Task.sleep(for: .seconds(1))
            }
        }
        while !holding.value { try await Task.sleep(for: .milliseconds(5)) }
        let waiter = Task { try await pool.query("SELECT 1") }
        #expect(await eventually { pool.statistics.waiting == 1 })
        waiter.cancel()
        await #expect(throws: CancellationError.self) { _ = try await waiter.value }
        #expect(pool.statistics.waiting == 0)
        try await holder.value
        #expect(try await pool.query("SELECT 2").first?.decode(Int.self, at: 0) == 2)
        await pool.close()
    }

    @Test func unreachableServerFailsCallersInsteadOfHanging() async throws {
        let endpoints = try await TestServices.endpoints()
        // The socket directory exists but nothing listens on this port's socket file.
        let config = PostgresConfiguration(host: endpoints.pgSocket, port: 1, database: "postgres", user: endpoints.pgUser)
        let pool = PostgresPool(configuration: config, maxConnections: 2, logger: quietLogger)
        let start = ContinuousClock.now
        try await withThrowingTaskGroup(of: PostgresError.Kind?.self) { group in
            for _ in 0..<5 { group.addTask { await postgresError { _ = try await pool.query("SELECT 1") }?.kind } }
            for try await kind in group { #expect(kind == .connection) }
        }
        // Bounded, not hanging (generous: the suite shares two cores).
        #expect(ContinuousClock.now - start < .seconds(60))
        #expect(pool.statistics.opening == 0)
        await pool.close()
    }

    @Test func poolSurvivesAServerRestart() async throws {
        try await withPrivatePostgres { services in
            let config = services.endpoints.postgresConfiguration(database: "postgres")
            let pool = PostgresPool(configuration: config, maxConnections: 2, logger: quietLogger)
            try await withThrowingTaskGroup(of: Void.self) { group in
                for _ in 0..<2 { group.addTask { _ = try await pool.query("SELECT pg_sleep(0.1)") } }
                try await group.waitForAll()
            }
            #expect(pool.statistics.idle == 2)
            try await services.stopPostgres()
            try await services.startPostgres()
            // Both idle connections notice the restart before sending and reconnect.
            try await withThrowingTaskGroup(of: Int.self) { group in
                for i in 0..<4 { group.addTask { try await pool.query("SELECT $1::int", [i]).first!.decode(Int.self, at: 0) } }
                var seen: [Int] = []
                for try await value in group { seen.append(value) }
                #expect(seen.sorted() == [0, 1, 2, 3])
            }
            await pool.close()
        }
    }
}
