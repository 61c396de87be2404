/// One step of Djinn's schema history.
///
/// `sql` is a multi-statement string meant to be sent as one simple query inside a
/// transaction. Each step is idempotent on its own: applied to a database that already
/// has it (for instance one migrated by Go Djinn's `mgrt` revisions), it changes nothing.
public struct Migration: Sendable, Equatable {
    /// Stable identifier recorded in `djinn_migrations`, e.g. `0001_initial`. Never renamed.
    public let id: String
    public let sql: String

    public init(id: String, sql: String) {
        self.id = id
        self.sql = sql
    }
}

/// Djinn's PostgreSQL schema after all of Go Djinn's revisions (spec §10), as ordered
/// migrations, plus the bookkeeping a migration runner needs and the per-daemon grants.
///
/// The steps follow the order of Go Djinn's revisions, so a database left at any of Go's
/// intermediate revisions converges to the same final schema as a fresh one. Every step
/// begins with `SET LOCAL client_min_messages = warning` so that re-running it does not
/// flood the client with "already exists, skipping" notices; the setting ends with the
/// transaction.
public enum DjinnSchema {
    /// Applied in this order; ids sort in the same order.
    public static let migrations: [Migration] = [
        Migration(id: "0001_initial", sql: initialSQL),
        Migration(id: "0002_namespace_webhooks", sql: namespaceWebhooksSQL),
        Migration(id: "0003_image_downloads", sql: imageDownloadsSQL),
        Migration(id: "0004_build_stages_drop_unused", sql: buildStagesDropUnusedSQL),
        Migration(id: "0005_variable_masking", sql: variableMaskingSQL),
        Migration(id: "0006_users_cleanup_bytes", sql: usersCleanupBytesSQL),
        Migration(id: "0007_bigint_sizes", sql: bigintSizesSQL),
        Migration(id: "0008_builds_pinned", sql: buildsPinnedSQL),
        Migration(id: "0009_driver_type_os", sql: driverTypeOSSQL),
        Migration(id: "0010_scheduler_indexes", sql: schedulerIndexesSQL),
    ]

    /// The runner's record of applied migrations. Ours alone (Go Djinn ignores it).
    public static let bookkeepingSQL = """
        CREATE TABLE IF NOT EXISTS djinn_migrations (
            id         TEXT PRIMARY KEY,
            applied_at TIMESTAMP NOT NULL DEFAULT NOW()
        );
        """

    /// Key for `pg_advisory_lock` held while migrating, so that concurrent runners
    /// (several daemons starting at once) apply each migration once. ASCII "djinnmig".
    public static let advisoryLockKey: Int64 = 0x646A_696E_6E6D_6967

    /// Every table Djinn's schema defines, in creation order (not `djinn_migrations`).
    /// Each has a SERIAL `id` whose sequence is `<table>_id_seq`.
    public static let tables: [String] = [
        "users", "account_tokens", "providers", "namespaces", "namespace_invites",
        "namespace_collaborators", "provider_repos", "images", "objects", "variables", "keys",
        "builds", "build_tags", "build_stages", "build_jobs", "build_objects", "build_artifacts",
        "build_variables", "build_drivers", "build_triggers", "build_keys", "cron", "cron_builds",
        "oauth_apps", "oauth_codes", "oauth_tokens", "namespace_webhooks",
        "namespace_webhook_deliveries", "image_downloads",
    ]
}

// MARK: - The steps

extension DjinnSchema {
    /// Enum types and the tables of Djinn's first revision, as they were then (later
    /// steps alter them). Types are guarded by a pg_type lookup in the current schema
    /// because CREATE TYPE has no IF NOT EXISTS.
    static let initialSQL = """
        SET LOCAL client_min_messages = warning;

        DO $$
        DECLARE
            here oid := (SELECT oid FROM pg_namespace WHERE nspname = current_schema());
        BEGIN
            IF NOT EXISTS (SELECT 1 FROM pg_type WHERE typname = 'visibility' AND typnamespace = here) THEN
                CREATE TYPE visibility AS ENUM ('private', 'internal', 'public');
            END IF;
            IF NOT EXISTS (SELECT 1 FROM pg_type WHERE typname = 'status' AND typnamespace = here) THEN
                CREATE TYPE status AS ENUM (
                    'queued', 'running', 'passed', 'passed_with_failures', 'failed', 'killed', 'timed_out'
                );
            END IF;
            -- 'os' is added by 0009_driver_type_os.
            IF NOT EXISTS (SELECT 1 FROM pg_type WHERE typname = 'driver_type' AND typnamespace = here) THEN
                CREATE TYPE driver_type AS ENUM ('ssh', 'qemu', 'docker');
            END IF;
            IF NOT EXISTS (SELECT 1 FROM pg_type WHERE typname = 'trigger_type' AND typnamespace = here) THEN
                CREATE TYPE trigger_type AS ENUM ('manual', 'push', 'pull', 'schedule');
            END IF;
            IF NOT EXISTS (SELECT 1 FROM pg_type WHERE typname = 'schedule' AND typnamespace = here) THEN
                CREATE TYPE schedule AS ENUM ('daily', 'weekly', 'monthly');
            END IF;
        END
        $$;

        -- Accounts. cleanup starts as a flag; 0006 turns it into a byte threshold.
        CREATE TABLE IF NOT EXISTS users (
            id         SERIAL PRIMARY KEY,
            email      VARCHAR NOT NULL UNIQUE,
            username   VARCHAR NOT NULL UNIQUE,
            password   BYTEA NOT NULL,
            verified   BOOLEAN NOT NULL DEFAULT FALSE,
            cleanup    BOOLEAN NOT NULL DEFAULT TRUE,
            created_at TIMESTAMP NOT NULL DEFAULT NOW(),
            updated_at TIMESTAMP NOT NULL DEFAULT NOW(),
            deleted_at TIMESTAMP
        );

        -- Server only: e-mail verification and password reset tokens.
        CREATE TABLE IF NOT EXISTS account_tokens (
            id         SERIAL PRIMARY KEY,
            user_id    INT NOT NULL REFERENCES users (id),
            token      VARCHAR NOT NULL UNIQUE,
            purpose    VARCHAR NOT NULL,
            created_at TIMESTAMP NOT NULL DEFAULT NOW(),
            expires_at TIMESTAMP NOT NULL
        );

        -- Connected Git hosting accounts (tokens encrypted by the server).
        CREATE TABLE IF NOT EXISTS providers (
            id               SERIAL PRIMARY KEY,
            user_id          INT NOT NULL REFERENCES users (id),
            provider_user_id INT,
            name             VARCHAR NOT NULL,
            access_token     BYTEA,
            refresh_token    BYTEA,
            connected        BOOLEAN NOT NULL DEFAULT FALSE,
            main_account     BOOLEAN NOT NULL DEFAULT FALSE,
            expires_at       TIMESTAMP
        );

        -- root_id and parent_id point into namespaces but carry no foreign key in Djinn.
        CREATE TABLE IF NOT EXISTS namespaces (
            id          SERIAL PRIMARY KEY,
            user_id     INT NOT NULL REFERENCES users (id),
            root_id     INT,
            parent_id   INT,
            name        VARCHAR NOT NULL,
            path        VARCHAR NOT NULL,
            description VARCHAR,
            level       INT NOT NULL,
            visibility  visibility DEFAULT 'private',
            created_at  TIMESTAMP NOT NULL DEFAULT NOW()
        );

        -- Server only: pending invitations to collaborate on a namespace.
        CREATE TABLE IF NOT EXISTS namespace_invites (
            id           SERIAL PRIMARY KEY,
            namespace_id INT NOT NULL REFERENCES namespaces (id) ON DELETE CASCADE,
            invitee_id   INT NOT NULL REFERENCES users (id) ON DELETE CASCADE,
            inviter_id   INT NOT NULL REFERENCES users (id) ON DELETE CASCADE,
            created_at   TIMESTAMP NOT NULL DEFAULT NOW()
        );

        CREATE TABLE IF NOT EXISTS namespace_collaborators (
            id           SERIAL PRIMARY KEY,
            namespace_id INT NOT NULL REFERENCES namespaces (id) ON DELETE CASCADE,
            user_id      INT NOT NULL REFERENCES users (id) ON DELETE CASCADE,
            created_at   TIMESTAMP NOT NULL DEFAULT NOW()
        );

        CREATE TABLE IF NOT EXISTS provider_repos (
            id            SERIAL PRIMARY KEY,
            user_id       INT NOT NULL REFERENCES users (id),
            provider_id   INT NOT NULL REFERENCES providers (id),
            hook_id       INT,
            repo_id       INT NOT NULL,
            provider_name VARCHAR NOT NULL,
            enabled       BOOLEAN NOT NULL DEFAULT TRUE,
            name          VARCHAR,
            href          VARCHAR
        );

        CREATE TABLE IF NOT EXISTS images (
            id           SERIAL PRIMARY KEY,
            user_id      INT NOT NULL REFERENCES users (id) ON DELETE CASCADE,
            author_id    INT NOT NULL REFERENCES users (id),
            namespace_id INT REFERENCES namespaces (id) ON DELETE SET NULL,
            driver       driver_type NOT NULL,
            hash         VARCHAR NOT NULL UNIQUE,
            name         VARCHAR NOT NULL,
            created_at   TIMESTAMP NOT NULL DEFAULT NOW()
        );

        -- size becomes BIGINT in 0007.
        CREATE TABLE IF NOT EXISTS objects (
            id           SERIAL PRIMARY KEY,
            user_id      INT NOT NULL REFERENCES users (id),
            author_id    INT NOT NULL REFERENCES users (id),
            namespace_id INT REFERENCES namespaces (id) ON DELETE SET NULL,
            hash         VARCHAR NOT NULL UNIQUE,
            name         VARCHAR NOT NULL,
            type         VARCHAR NOT NULL,
            size         INT NOT NULL,
            md5          BYTEA NOT NULL,
            sha256       BYTEA NOT NULL,
            created_at   TIMESTAMP NOT NULL DEFAULT NOW(),
            deleted_at   TIMESTAMP
        );

        CREATE TABLE IF NOT EXISTS variables (
            id           SERIAL PRIMARY KEY,
            user_id      INT NOT NULL REFERENCES users (id),
            author_id    INT NOT NULL REFERENCES users (id),
            namespace_id INT REFERENCES namespaces (id) ON DELETE SET NULL,
            key          VARCHAR NOT NULL,
            value        VARCHAR NOT NULL,
            created_at   TIMESTAMP NOT NULL DEFAULT NOW()
        );

        -- key holds the AES-GCM encrypted private key.
        CREATE TABLE IF NOT EXISTS keys (
            id           SERIAL PRIMARY KEY,
            user_id      INT NOT NULL REFERENCES users (id),
            author_id    INT NOT NULL REFERENCES users (id),
            namespace_id INT REFERENCES namespaces (id) ON DELETE SET NULL,
            name         VARCHAR NOT NULL,
            key          BYTEA NOT NULL,
            config       TEXT NOT NULL,
            created_at   TIMESTAMP NOT NULL DEFAULT NOW(),
            updated_at   TIMESTAMP NOT NULL DEFAULT NOW()
        );

        CREATE TABLE IF NOT EXISTS builds (
            id           SERIAL PRIMARY KEY,
            user_id      INT NOT NULL REFERENCES users (id),
            namespace_id INT REFERENCES namespaces (id) ON DELETE SET NULL,
            number       INT NOT NULL,
            manifest     TEXT NOT NULL,
            status       status DEFAULT 'queued',
            output       TEXT,
            secret       TEXT,
            created_at   TIMESTAMP NOT NULL DEFAULT NOW(),
            started_at   TIMESTAMP,
            finished_at  TIMESTAMP
        );

        CREATE TABLE IF NOT EXISTS build_tags (
            id         SERIAL PRIMARY KEY,
            user_id    INT NOT NULL REFERENCES users (id),
            build_id   INT NOT NULL REFERENCES builds (id) ON DELETE CASCADE,
            name       VARCHAR NOT NULL,
            created_at TIMESTAMP NOT NULL DEFAULT NOW()
        );

        -- status, started_at and finished_at are dropped again by 0004.
        CREATE TABLE IF NOT EXISTS build_stages (
            id          SERIAL PRIMARY KEY,
            build_id    INT NOT NULL REFERENCES builds (id) ON DELETE CASCADE,
            name        VARCHAR NOT NULL,
            can_fail    BOOLEAN NOT NULL,
            status      status DEFAULT 'queued',
            created_at  TIMESTAMP DEFAULT NOW(),
            started_at  TIMESTAMP,
            finished_at TIMESTAMP
        );

        CREATE TABLE IF NOT EXISTS build_jobs (
            id          SERIAL PRIMARY KEY,
            build_id    INT NOT NULL REFERENCES builds (id) ON DELETE CASCADE,
            stage_id    INT NOT NULL REFERENCES build_stages (id) ON DELETE CASCADE,
            name        VARCHAR NOT NULL,
            commands    VARCHAR NOT NULL,
            output      TEXT,
            status      status DEFAULT 'queued',
            created_at  TIMESTAMP DEFAULT NOW(),
            started_at  TIMESTAMP,
            finished_at TIMESTAMP
        );

        -- placed is never updated by Djinn.
        CREATE TABLE IF NOT EXISTS build_objects (
            id         SERIAL PRIMARY KEY,
            build_id   INT NOT NULL REFERENCES builds (id) ON DELETE CASCADE,
            object_id  INT REFERENCES objects (id) ON DELETE SET NULL,
            source     VARCHAR NOT NULL,
            name       VARCHAR NOT NULL,
            placed     BOOLEAN NOT NULL DEFAULT FALSE,
            created_at TIMESTAMP NOT NULL DEFAULT NOW()
        );

        -- size becomes BIGINT in 0007.
        CREATE TABLE IF NOT EXISTS build_artifacts (
            id         SERIAL PRIMARY KEY,
            user_id    INT NOT NULL REFERENCES users (id) ON DELETE CASCADE,
            build_id   INT NOT NULL REFERENCES builds (id) ON DELETE CASCADE,
            job_id     INT NOT NULL REFERENCES build_jobs (id),
            hash       VARCHAR NOT NULL UNIQUE,
            source     VARCHAR NOT NULL,
            name       VARCHAR NOT NULL,
            size       INT,
            md5        BYTEA,
            sha256     BYTEA,
            created_at TIMESTAMP NOT NULL DEFAULT NOW(),
            deleted_at TIMESTAMP DEFAULT NULL
        );

        CREATE TABLE IF NOT EXISTS build_variables (
            id          SERIAL PRIMARY KEY,
            build_id    INT NOT NULL REFERENCES builds (id) ON DELETE CASCADE,
            variable_id INT REFERENCES variables (id) ON DELETE SET NULL,
            key         VARCHAR NOT NULL,
            value       VARCHAR NOT NULL
        );

        CREATE TABLE IF NOT EXISTS build_drivers (
            id       SERIAL PRIMARY KEY,
            build_id INT NOT NULL REFERENCES builds (id) ON DELETE CASCADE,
            type     driver_type NOT NULL,
            config   JSON NOT NULL
        );

        CREATE TABLE IF NOT EXISTS build_triggers (
            id          SERIAL PRIMARY KEY,
            build_id    INT NOT NULL REFERENCES builds (id) ON DELETE CASCADE,
            provider_id INT REFERENCES providers (id) ON DELETE SET NULL,
            repo_id     INT REFERENCES provider_repos (id) ON DELETE SET NULL,
            type        trigger_type NOT NULL,
            comment     TEXT NOT NULL,
            data        JSON NOT NULL,
            created_at  TIMESTAMP NOT NULL DEFAULT NOW()
        );

        -- key stays encrypted as copied from keys.
        CREATE TABLE IF NOT EXISTS build_keys (
            id       SERIAL PRIMARY KEY,
            build_id INT NOT NULL REFERENCES builds (id) ON DELETE CASCADE,
            key_id   INT REFERENCES keys (id) ON DELETE SET NULL,
            name     VARCHAR NOT NULL,
            key      BYTEA NOT NULL,
            config   TEXT NOT NULL,
            location VARCHAR NOT NULL
        );

        -- Scheduled builds (spec §6.1). next_run is compared with NOW(): run in UTC.
        CREATE TABLE IF NOT EXISTS cron (
            id           SERIAL PRIMARY KEY,
            user_id      INT NOT NULL REFERENCES users (id),
            author_id    INT NOT NULL REFERENCES users (id),
            namespace_id INT REFERENCES namespaces (id),
            name         VARCHAR NOT NULL,
            schedule     schedule NOT NULL,
            manifest     TEXT NOT NULL,
            prev_run     TIMESTAMP,
            next_run     TIMESTAMP NOT NULL,
            created_at   TIMESTAMP NOT NULL DEFAULT NOW()
        );

        CREATE TABLE IF NOT EXISTS cron_builds (
            id         SERIAL PRIMARY KEY,
            cron_id    INT NOT NULL REFERENCES cron (id) ON DELETE CASCADE,
            build_id   INT NOT NULL REFERENCES builds (id) ON DELETE CASCADE,
            created_at TIMESTAMP NOT NULL DEFAULT NOW()
        );

        -- Server only: OAuth applications, authorization codes and access tokens.
        CREATE TABLE IF NOT EXISTS oauth_apps (
            id            SERIAL PRIMARY KEY,
            user_id       INT NOT NULL REFERENCES users (id),
            client_id     VARCHAR NOT NULL UNIQUE,
            client_secret BYTEA NOT NULL,
            name          VARCHAR NOT NULL,
            description   VARCHAR,
            home_uri      VARCHAR NOT NULL,
            redirect_uri  VARCHAR NOT NULL,
            created_at    TIMESTAMP NOT NULL DEFAULT NOW()
        );

        CREATE TABLE IF NOT EXISTS oauth_codes (
            id         SERIAL PRIMARY KEY,
            user_id    INT NOT NULL REFERENCES users (id),
            app_id     INT NOT NULL REFERENCES oauth_apps (id),
            code       VARCHAR NOT NULL UNIQUE,
            scope      BYTEA NOT NULL,
            expires_at TIMESTAMP NOT NULL
        );

        -- app_id is NULL for personal access tokens.
        CREATE TABLE IF NOT EXISTS oauth_tokens (
            id         SERIAL PRIMARY KEY,
            user_id    INT NOT NULL REFERENCES users (id),
            app_id     INT REFERENCES oauth_apps (id) ON DELETE CASCADE,
            name       VARCHAR,
            token      VARCHAR NOT NULL UNIQUE,
            scope      BYTEA NOT NULL,
            created_at TIMESTAMP NOT NULL DEFAULT NOW(),
            updated_at TIMESTAMP NOT NULL DEFAULT NOW()
        );
        """

    /// Webhooks per namespace and the record of each delivery attempt (spec §4.9).
    static let namespaceWebhooksSQL = """
        SET LOCAL client_min_messages = warning;

        -- payload_url is stored lower-cased; secret is AES-GCM encrypted; events is a bitmask.
        CREATE TABLE IF NOT EXISTS namespace_webhooks (
            id           SERIAL PRIMARY KEY,
            user_id      INT NOT NULL REFERENCES users (id),
            author_id    INT NOT NULL REFERENCES users (id),
            namespace_id INT NOT NULL REFERENCES namespaces (id),
            payload_url  VARCHAR NOT NULL,
            secret       BYTEA,
            ssl          BOOLEAN NOT NULL,
            events       INT NOT NULL,
            active       BOOLEAN NOT NULL DEFAULT TRUE,
            created_at   TIMESTAMP NOT NULL DEFAULT NOW()
        );

        -- The key is (id, event_id), not id alone, as in Djinn. event_id holds the event
        -- UUID's text; duration is in Go's nanoseconds (INT, so it overflows after ~2.1 s).
        CREATE TABLE IF NOT EXISTS namespace_webhook_deliveries (
            id               SERIAL,
            webhook_id       INT NOT NULL REFERENCES namespace_webhooks (id) ON DELETE CASCADE,
            event_id         BYTEA NOT NULL,
            error            VARCHAR,
            event            INT NOT NULL,
            redelivery       BOOLEAN NOT NULL DEFAULT FALSE,
            request_headers  VARCHAR,
            request_body     VARCHAR,
            response_code    INT,
            response_headers VARCHAR,
            response_body    VARCHAR,
            duration         INT NOT NULL,
            created_at       TIMESTAMP NOT NULL DEFAULT NOW(),
            PRIMARY KEY (id, event_id)
        );
        """

    /// Image download jobs handled by djinn-consumer (spec §7).
    static let imageDownloadsSQL = """
        SET LOCAL client_min_messages = warning;

        CREATE TABLE IF NOT EXISTS image_downloads (
            id          SERIAL PRIMARY KEY,
            image_id    INT NOT NULL REFERENCES images (id) ON DELETE CASCADE,
            source      VARCHAR NOT NULL,
            error       VARCHAR,
            created_at  TIMESTAMP NOT NULL DEFAULT NOW(),
            started_at  TIMESTAMP,
            finished_at TIMESTAMP
        );
        """

    /// A stage's status and times were never used: only jobs carry them.
    static let buildStagesDropUnusedSQL = """
        SET LOCAL client_min_messages = warning;

        ALTER TABLE build_stages
            DROP COLUMN IF EXISTS status,
            DROP COLUMN IF EXISTS started_at,
            DROP COLUMN IF EXISTS finished_at;
        """

    /// Masked variables keep their value encrypted; the flag is copied into each build.
    /// Nullable, as in Djinn.
    static let variableMaskingSQL = """
        SET LOCAL client_min_messages = warning;

        ALTER TABLE variables ADD COLUMN IF NOT EXISTS masked BOOLEAN DEFAULT FALSE;
        ALTER TABLE build_variables ADD COLUMN IF NOT EXISTS masked BOOLEAN DEFAULT FALSE;
        """

    /// users.cleanup changes from an on/off flag to the artifact byte total above which
    /// djinn-curator cleans up (default 1 GiB). As in Djinn, every existing user gets the
    /// default. Only done while the column is still boolean, so re-running keeps the
    /// thresholds users have set since.
    static let usersCleanupBytesSQL = """
        SET LOCAL client_min_messages = warning;

        DO $$
        DECLARE
            cleanup_type text := (
                SELECT data_type FROM information_schema.columns
                WHERE table_schema = current_schema() AND table_name = 'users' AND column_name = 'cleanup'
            );
        BEGIN
            IF cleanup_type = 'boolean' THEN
                ALTER TABLE users
                    ALTER COLUMN cleanup DROP DEFAULT,
                    ALTER COLUMN cleanup TYPE BIGINT USING cleanup::INT::BIGINT,
                    ALTER COLUMN cleanup SET DEFAULT 1073741824;
                UPDATE users SET cleanup = 1073741824;
            ELSIF cleanup_type = 'integer' THEN
                ALTER TABLE users ALTER COLUMN cleanup TYPE BIGINT;
            END IF;
        END
        $$;
        """

    /// Object and artifact sizes can exceed 2 GiB. Guarded so that a re-run does not take
    /// the ACCESS EXCLUSIVE lock an ALTER COLUMN TYPE needs.
    static let bigintSizesSQL = """
        SET LOCAL client_min_messages = warning;

        DO $$
        BEGIN
            IF (SELECT data_type FROM information_schema.columns
                WHERE table_schema = current_schema() AND table_name = 'objects' AND column_name = 'size') = 'integer' THEN
                ALTER TABLE objects ALTER COLUMN size TYPE BIGINT;
            END IF;
            IF (SELECT data_type FROM information_schema.columns
                WHERE table_schema = current_schema() AND table_name = 'build_artifacts' AND column_name = 'size') = 'integer' THEN
                ALTER TABLE build_artifacts ALTER COLUMN size TYPE BIGINT;
            END IF;
        END
        $$;
        """

    /// Pinned builds are kept by the curator. Nullable, as in Djinn.
    static let buildsPinnedSQL = """
        SET LOCAL client_min_messages = warning;

        ALTER TABLE builds ADD COLUMN IF NOT EXISTS pinned BOOLEAN DEFAULT FALSE;
        """

    /// Djinn adds 'os' only in its development revisions, so production Go databases
    /// reject os builds. We add it everywhere because our local stack runs os builds.
    /// (ADD VALUE works inside a transaction since PostgreSQL 12; the new label is only
    /// usable after commit, which this step does not need.)
    static let driverTypeOSSQL = """
        SET LOCAL client_min_messages = warning;

        ALTER TYPE driver_type ADD VALUE IF NOT EXISTS 'os';
        """

    /// Ours, additive (Go Djinn has no such indexes and ignores them). Without them the
    /// scheduler's due-cron page (`next_run <= now ORDER BY next_run, id`) sorts the whole
    /// table, and every build's number (`MAX(number) WHERE user_id = …`, taken under the
    /// owner's lock) scans every build, so creating builds slows down as builds accumulate.
    static let schedulerIndexesSQL = """
        SET LOCAL client_min_messages = warning;

        CREATE INDEX IF NOT EXISTS cron_next_run_id_idx ON cron (next_run, id);
        CREATE INDEX IF NOT EXISTS builds_user_id_number_idx ON builds (user_id, number);
        """
}
