import DjinnPostgres
import DjinnSchema
import DjinnTesting
import Foundation
import Logging
import Testing

@Suite struct DjinnSchemaTests {
    // MARK: Helpers

    /// Applies the migrations as a runner would: each in its own transaction under the
    /// advisory lock, recording its id. `recording: false` re-applies without recording.
    static func migrate(_ db: TestDatabase, _ migrations: [Migration] = DjinnSchema.migrations) async throws {
        try await db.psql(DjinnSchema.bookkeepingSQL)
        for migration in migrations {
            try await db.psql("""
                BEGIN;
                SELECT pg_advisory_xact_lock(\(DjinnSchema.advisoryLockKey));
                \(migration.sql)
                INSERT INTO djinn_migrations (id) VALUES ('\(migration.id)') ON CONFLICT (id) DO NOTHING;
                COMMIT;
                """)
        }
    }

    /// psql -tA output split into lines.
    static func rows(_ db: TestDatabase, _ sql: String) async throws -> [String] {
        try await db.psql(sql).split(separator: "\n").map(String.init)
    }

    /// Creates Djinn's roles (cluster-wide), tolerating another test creating them concurrently.
    static func createRoles(_ db: TestDatabase) async throws {
        for role in ExpectedGrants.roles {
            try await db.psql("""
                DO $$ BEGIN
                    CREATE ROLE \(role) NOLOGIN;
                EXCEPTION WHEN duplicate_object OR unique_violation THEN NULL;
                END $$;
                """)
        }
    }

    // MARK: Pure

    @Test func migrationIdsAreUniqueAndSorted() {
        let ids = DjinnSchema.migrations.map(\.id)
        #expect(Set(ids).count == ids.count)
        #expect(ids == ids.sorted())
        #expect(ids.first == "0001_initial")
        #expect(DjinnSchema.tables.count == Set(DjinnSchema.tables).count)
        #expect(Set(DjinnSchema.tables) == Set(ExpectedCatalog.columns.keys))
    }

    // MARK: Catalog

    @Test func freshDatabaseGetsDjinnsFinalSchemaAndReapplyingChangesNothing() async throws {
        let db = try await TestDatabase.create()
        try await Self.migrate(db)
        let firstPass = try await db.psql("SELECT table_name, column_name, data_type FROM information_schema.columns WHERE table_schema = 'public' ORDER BY 1, ordinal_position")
        // Everything again, with and without the bookkeeping, must be a no-op.
        try await Self.migrate(db)
        for migration in DjinnSchema.migrations {
            try await db.psql("BEGIN;\n\(migration.sql)\nCOMMIT;")
        }
        #expect(try await db.psql("SELECT table_name, column_name, data_type FROM information_schema.columns WHERE table_schema = 'public' ORDER BY 1, ordinal_position") == firstPass)

        try await Self.expectDjinnCatalog(db)
    }

    /// Djinn's migrations applied through the real runner, twice, as `djinnctl migrate` does.
    @Test func migratorTwiceLeavesExactlyDjinnsSchema() async throws {
        let db = try await TestDatabase.create()
        let pool = PostgresPool(configuration: db.configuration, maxConnections: 2, logger: Logger(label: "test"))
        let first = try await Migrator(pool: pool, logger: Logger(label: "test")).migrate()
        #expect(first.applied == DjinnSchema.migrations.map(\.id))
        #expect(first.alreadyApplied.isEmpty)
        let second = try await Migrator(pool: pool, logger: Logger(label: "test")).migrate()
        #expect(second.applied.isEmpty)
        #expect(second.alreadyApplied == DjinnSchema.migrations.map(\.id))
        await pool.close()
        try await Self.expectDjinnCatalog(db)
    }

    /// Two runners at once (two hosts upgraded together): the advisory lock serialises
    /// them, every migration is applied exactly once.
    @Test func concurrentMigratorsApplyEachMigrationOnce() async throws {
        let db = try await TestDatabase.create()
        let reports = try await withThrowingTaskGroup(of: Migrator.Report.self) { group in
            for _ in 0..<3 {
                group.addTask {
                    let pool = PostgresPool(configuration: db.configuration, maxConnections: 1, logger: Logger(label: "test"))
                    let report = try await Migrator(pool: pool, logger: Logger(label: "test")).migrate()
                    await pool.close()
                    return report
                }
            }
            return try await group.reduce(into: []) { $0.append($1) }
        }
        #expect(reports.flatMap(\.applied).sorted() == DjinnSchema.migrations.map(\.id))
        try await Self.expectDjinnCatalog(db)
    }

    /// Tables, columns, enums, foreign keys and keys are exactly Djinn's (plus djinn_migrations).
    static func expectDjinnCatalog(_ db: TestDatabase) async throws {
        let applied = try await rows(db, "SELECT id FROM djinn_migrations ORDER BY id")
        #expect(applied == DjinnSchema.migrations.map(\.id))

        // Tables: Djinn's and our bookkeeping, nothing else.
        let tables = try await rows(db, """
            SELECT table_name FROM information_schema.tables
            WHERE table_schema = 'public' AND table_type = 'BASE TABLE' ORDER BY 1
            """)
        #expect(Set(tables) == Set(ExpectedCatalog.columns.keys).union(["djinn_migrations"]))
        #expect(tables.count == ExpectedCatalog.columns.count + 1)

        // Columns of every table, in order.
        let columnRows = try await rows(db, """
            SELECT table_name || '|' || column_name || '|'
                || CASE WHEN data_type = 'USER-DEFINED' THEN udt_name ELSE data_type END || '|'
                || is_nullable || '|' || COALESCE(column_default, '')
            FROM information_schema.columns WHERE table_schema = 'public'
            ORDER BY table_name, ordinal_position
            """)
        var actualColumns: [String: [String]] = [:]
        for row in columnRows {
            let bar = row.firstIndex(of: "|")!
            actualColumns[String(row[..<bar]), default: []].append(String(row[row.index(after: bar)...]))
        }
        for (table, expected) in ExpectedCatalog.columns.sorted(by: { $0.key < $1.key }) {
            #expect(actualColumns[table] == expected.map(\.description), "columns of \(table)")
        }
        #expect(actualColumns["djinn_migrations"] == ["id|text|NO|", "applied_at|timestamp without time zone|NO|now()"])

        // Enum types and their labels in order.
        let enumRows = try await rows(db, """
            SELECT t.typname || '|' || string_agg(e.enumlabel, ',' ORDER BY e.enumsortorder)
            FROM pg_type t JOIN pg_enum e ON e.enumtypid = t.oid
            WHERE t.typnamespace = 'public'::regnamespace GROUP BY t.typname ORDER BY 1
            """)
        let expectedEnums = ExpectedCatalog.enums.map { "\($0.key)|\($0.value.joined(separator: ","))" }.sorted()
        #expect(enumRows == expectedEnums)

        // Foreign keys with their delete rules.
        let foreignKeys = try await rows(db, """
            SELECT k.table_name || '.' || k.column_name || ' -> ' || u.table_name || '.' || u.column_name
                || ' ' || r.delete_rule
            FROM information_schema.referential_constraints r
            JOIN information_schema.key_column_usage k
                ON k.constraint_schema = r.constraint_schema AND k.constraint_name = r.constraint_name
            JOIN information_schema.constraint_column_usage u
                ON u.constraint_schema = r.unique_constraint_schema AND u.constraint_name = r.unique_constraint_name
            WHERE r.constraint_schema = 'public'
            """)
        #expect(foreignKeys.count == ExpectedCatalog.foreignKeys.count)
        #expect(Set(foreignKeys).subtracting(ExpectedCatalog.foreignKeys) == [])
        #expect(ExpectedCatalog.foreignKeys.subtracting(foreignKeys) == [])

        // Unique and primary keys, and no index that does not back one of them.
        func keys(_ type: String) async throws -> [String] {
            try await rows(db, """
                SELECT c.table_name || '.' || string_agg(k.column_name, ',' ORDER BY k.ordinal_position)
                FROM information_schema.table_constraints c
                JOIN information_schema.key_column_usage k
                    ON k.constraint_schema = c.constraint_schema AND k.constraint_name = c.constraint_name
                    AND k.table_name = c.table_name
                WHERE c.table_schema = 'public' AND c.constraint_type = '\(type)'
                GROUP BY c.table_name, c.constraint_name
                """)
        }
        let unique = try await keys("UNIQUE")
        #expect(unique.count == ExpectedCatalog.uniqueConstraints.count)
        #expect(Set(unique) == ExpectedCatalog.uniqueConstraints)
        let primary = try await keys("PRIMARY KEY")
        #expect(primary.count == ExpectedCatalog.primaryKeys.count)
        #expect(Set(primary) == ExpectedCatalog.primaryKeys)
        let indexCount = try await db.psql("SELECT count(*) FROM pg_indexes WHERE schemaname = 'public'")
        #expect(indexCount.trimmingCharacters(in: .whitespacesAndNewlines)
            == String(ExpectedCatalog.uniqueConstraints.count + ExpectedCatalog.primaryKeys.count + ExpectedCatalog.additiveIndexes.count))
        // Beyond the keys, only our own additive indexes (the scheduler's).
        let plainIndexes = try await rows(db, """
            SELECT t.relname || '(' || string_agg(a.attname, ', ' ORDER BY k.ord) || ')'
            FROM pg_index x
            JOIN pg_class t ON t.oid = x.indrelid
            JOIN pg_namespace n ON n.oid = t.relnamespace
            CROSS JOIN LATERAL unnest(x.indkey) WITH ORDINALITY AS k(attnum, ord)
            JOIN pg_attribute a ON a.attrelid = t.oid AND a.attnum = k.attnum
            WHERE n.nspname = 'public' AND NOT x.indisprimary AND NOT x.indisunique
            GROUP BY x.indexrelid, t.relname
            """)
        #expect(Set(plainIndexes) == ExpectedCatalog.additiveIndexes)
    }

    /// A database left at Djinn's early revisions (with data) is brought forward: cleanup
    /// becomes a byte threshold once, sizes survive the BIGINT change, and a re-run keeps
    /// thresholds set since.
    @Test func upgradingFromAnEarlyRevisionKeepsDataAndResetsCleanupOnce() async throws {
        let db = try await TestDatabase.create()
        let early = DjinnSchema.migrations.prefix { $0.id < "0005" }
        try await Self.migrate(db, Array(early))
        try await db.psql("""
            INSERT INTO users (email, username, password, cleanup) VALUES ('a@example.com', 'a', 'x', FALSE);
            INSERT INTO objects (user_id, author_id, hash, name, type, size, md5, sha256)
                VALUES (1, 1, 'h1', 'o', 'text/plain', 2000000000, '', '');
            """)
        try await Self.migrate(db)
        #expect(try await db.psql("SELECT cleanup, pg_typeof(cleanup) FROM users") == "1073741824|bigint\n")
        try await db.psql("UPDATE users SET cleanup = 5")
        try await db.psql("UPDATE objects SET size = size * 4")
        try await Self.migrate(db)
        #expect(try await db.psql("SELECT cleanup FROM users") == "5\n")
        #expect(try await db.psql("SELECT size FROM objects") == "8000000000\n")

        // The enum value we add is usable once committed.
        try await db.psql("""
            INSERT INTO builds (user_id, number, manifest) VALUES (1, 1, 'driver: {type: os}');
            INSERT INTO build_drivers (build_id, type, config) VALUES (1, 'os', '{"type": "os"}');
            """)
        #expect(try await db.psql("SELECT type, status, pinned FROM build_drivers JOIN builds ON builds.id = build_id") == "os|queued|f\n")
    }

    // MARK: Grants

    @Test func grantsGiveEachExistingRoleExactlyItsPrivileges() async throws {
        let db = try await TestDatabase.create()
        try await Self.createRoles(db)
        try await Self.migrate(db)
        try await db.psql(DjinnSchema.grantsSQL)
        try await db.psql(DjinnSchema.grantsSQL)

        let roleList = ExpectedGrants.roles.map { "'\($0)'" }.joined(separator: ", ")
        let rows = try await Self.rows(db, """
            SELECT r.rolname || '|' || c.relname || '|' || string_agg(a.privilege_type, ',' ORDER BY a.privilege_type)
            FROM pg_class c CROSS JOIN LATERAL aclexplode(c.relacl) a JOIN pg_roles r ON r.oid = a.grantee
            WHERE c.relnamespace = 'public'::regnamespace AND r.rolname IN (\(roleList))
            GROUP BY r.rolname, c.relname
            """)
        var actual: [String: [String: String]] = [:]
        for row in rows {
            let parts = row.split(separator: "|").map(String.init)
            actual[parts[0], default: [:]][parts[1]] = parts[2]
        }
        for role in ExpectedGrants.roles {
            #expect(actual[role] == ExpectedGrants.byRole[role], "privileges of \(role)")
        }

        // Spot checks through the access functions PostgreSQL itself uses.
        let checks = try await db.psql("""
            SELECT has_table_privilege('djinn_worker', 'builds', 'UPDATE'),
                   has_table_privilege('djinn_worker', 'builds', 'DELETE'),
                   has_table_privilege('djinn_worker', 'cron', 'SELECT'),
                   has_table_privilege('djinn_scheduler', 'build_variables', 'INSERT'),
                   has_sequence_privilege('djinn_scheduler', 'build_variables_id_seq', 'USAGE'),
                   has_table_privilege('djinn_consumer', 'image_downloads', 'UPDATE'),
                   has_table_privilege('djinn_curator', 'build_artifacts', 'INSERT'),
                   has_table_privilege('djinn_server', 'oauth_tokens', 'DELETE'),
                   has_table_privilege('djinn_server', 'djinn_migrations', 'SELECT')
            """)
        #expect(checks == "t|f|f|t|t|t|t|t|f\n")

        let connect = try await db.psql("""
            SELECT count(*) FROM pg_database d CROSS JOIN LATERAL aclexplode(d.datacl) a
            JOIN pg_roles r ON r.oid = a.grantee
            WHERE d.datname = current_database() AND a.privilege_type = 'CONNECT' AND r.rolname IN (\(roleList))
            """)
        #expect(connect == "\(ExpectedGrants.roles.count)\n")
    }

    /// Roles are cluster-wide and other tests create them, so this runs on a PostgreSQL of its own.
    @Test func grantsSkipRolesThatDoNotExist() async throws {
        let server = try await PrivateServices.start(redis: false)
        let outcome: Result<Void, Error>
        do {
            let djinnRoles = "SELECT count(*) FROM pg_roles WHERE rolname LIKE 'djinn\\_%' AND rolname <> current_user"
            #expect(try await server.endpoints.psql(database: "postgres", djinnRoles) == "0\n")
            try await server.endpoints.psql(database: "postgres", "CREATE DATABASE djinn")
            try await server.endpoints.psql(database: "djinn", DjinnSchema.bookkeepingSQL)
            for migration in DjinnSchema.migrations {
                try await server.endpoints.psql(database: "djinn", "BEGIN;\n\(migration.sql)\nCOMMIT;")
            }
            try await server.endpoints.psql(database: "djinn", DjinnSchema.grantsSQL)
            #expect(try await server.endpoints.psql(database: "postgres", djinnRoles) == "0\n")
            // Only the owner holds privileges.
            #expect(try await server.endpoints.psql(database: "djinn", """
                SELECT count(*) FROM pg_class c CROSS JOIN LATERAL aclexplode(c.relacl) a
                WHERE c.relnamespace = 'public'::regnamespace AND a.grantee <> c.relowner
                """) == "0\n")
            outcome = .success(())
        } catch {
            outcome = .failure(error)
        }
        try await server.shutdown()
        try outcome.get()
    }
}
