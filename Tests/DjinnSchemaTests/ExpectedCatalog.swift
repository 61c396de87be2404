/// Djinn's final schema as the catalog should show it, written out by hand from spec §10
/// and Go Djinn's revisions (schema/*, dev/20221026122549), independently of the SQL under test.
enum ExpectedCatalog {
    /// One row of information_schema.columns, as `name|type|nullable|default`.
    struct Column: CustomStringConvertible {
        var name: String
        var type: String
        var nullable: Bool
        var defaultValue: String

        var description: String { "\(name)|\(type)|\(nullable ? "YES" : "NO")|\(defaultValue)" }
    }

    // information_schema spellings; enum columns are shown by their type name.
    static let int = "integer", bigint = "bigint", varchar = "character varying", text = "text"
    static let bytea = "bytea", bool = "boolean", ts = "timestamp without time zone", json = "json"

    static func nn(_ name: String, _ type: String, _ defaultValue: String = "") -> Column {
        Column(name: name, type: type, nullable: false, defaultValue: defaultValue)
    }

    static func null(_ name: String, _ type: String, _ defaultValue: String = "") -> Column {
        Column(name: name, type: type, nullable: true, defaultValue: defaultValue)
    }

    static func serial(_ table: String) -> Column { nn("id", int, "nextval('\(table)_id_seq'::regclass)") }

    static let createdAt = nn("created_at", ts, "now()")

    /// Every Djinn table with its columns in order.
    static let columns: [String: [Column]] = [
        "users": [
            serial("users"), nn("email", varchar), nn("username", varchar), nn("password", bytea),
            nn("verified", bool, "false"), nn("cleanup", bigint, "1073741824"), createdAt,
            nn("updated_at", ts, "now()"), null("deleted_at", ts),
        ],
        "account_tokens": [
            serial("account_tokens"), nn("user_id", int), nn("token", varchar), nn("purpose", varchar),
            createdAt, nn("expires_at", ts),
        ],
        "providers": [
            serial("providers"), nn("user_id", int), null("provider_user_id", int), nn("name", varchar),
            null("access_token", bytea), null("refresh_token", bytea), nn("connected", bool, "false"),
            nn("main_account", bool, "false"), null("expires_at", ts),
        ],
        "namespaces": [
            serial("namespaces"), nn("user_id", int), null("root_id", int), null("parent_id", int),
            nn("name", varchar), nn("path", varchar), null("description", varchar), nn("level", int),
            null("visibility", "visibility", "'private'::visibility"), createdAt,
        ],
        "namespace_invites": [
            serial("namespace_invites"), nn("namespace_id", int), nn("invitee_id", int),
            nn("inviter_id", int), createdAt,
        ],
        "namespace_collaborators": [
            serial("namespace_collaborators"), nn("namespace_id", int), nn("user_id", int), createdAt,
        ],
        "provider_repos": [
            serial("provider_repos"), nn("user_id", int), nn("provider_id", int), null("hook_id", int),
            nn("repo_id", int), nn("provider_name", varchar), nn("enabled", bool, "true"),
            null("name", varchar), null("href", varchar),
        ],
        "images": [
            serial("images"), nn("user_id", int), nn("author_id", int), null("namespace_id", int),
            nn("driver", "driver_type"), nn("hash", varchar), nn("name", varchar), createdAt,
        ],
        "image_downloads": [
            serial("image_downloads"), nn("image_id", int), nn("source", varchar), null("error", varchar),
            createdAt, null("started_at", ts), null("finished_at", ts),
        ],
        "objects": [
            serial("objects"), nn("user_id", int), nn("author_id", int), null("namespace_id", int),
            nn("hash", varchar), nn("name", varchar), nn("type", varchar), nn("size", bigint),
            nn("md5", bytea), nn("sha256", bytea), createdAt, null("deleted_at", ts),
        ],
        "variables": [
            serial("variables"), nn("user_id", int), nn("author_id", int), null("namespace_id", int),
            nn("key", varchar), nn("value", varchar), createdAt, null("masked", bool, "false"),
        ],
        "keys": [
            serial("keys"), nn("user_id", int), nn("author_id", int), null("namespace_id", int),
            nn("name", varchar), nn("key", bytea), nn("config", text), createdAt, nn("updated_at", ts, "now()"),
        ],
        "builds": [
            serial("builds"), nn("user_id", int), null("namespace_id", int), nn("number", int),
            nn("manifest", text), null("status", "status", "'queued'::status"), null("output", text),
            null("secret", text), createdAt, null("started_at", ts), null("finished_at", ts),
            null("pinned", bool, "false"),
        ],
        "build_tags": [
            serial("build_tags"), nn("user_id", int), nn("build_id", int), nn("name", varchar), createdAt,
        ],
        "build_stages": [
            serial("build_stages"), nn("build_id", int), nn("name", varchar), nn("can_fail", bool),
            null("created_at", ts, "now()"),
        ],
        "build_jobs": [
            serial("build_jobs"), nn("build_id", int), nn("stage_id", int), nn("name", varchar),
            nn("commands", varchar), null("output", text), null("status", "status", "'queued'::status"),
            null("created_at", ts, "now()"), null("started_at", ts), null("finished_at", ts),
        ],
        "build_objects": [
            serial("build_objects"), nn("build_id", int), null("object_id", int), nn("source", varchar),
            nn("name", varchar), nn("placed", bool, "false"), createdAt,
        ],
        "build_artifacts": [
            serial("build_artifacts"), nn("user_id", int), nn("build_id", int), nn("job_id", int),
            nn("hash", varchar), nn("source", varchar), nn("name", varchar), null("size", bigint),
            null("md5", bytea), null("sha256", bytea), createdAt, null("deleted_at", ts),
        ],
        "build_variables": [
            serial("build_variables"), nn("build_id", int), null("variable_id", int), nn("key", varchar),
            nn("value", varchar), null("masked", bool, "false"),
        ],
        "build_drivers": [
            serial("build_drivers"), nn("build_id", int), nn("type", "driver_type"), nn("config", json),
        ],
        "build_triggers": [
            serial("build_triggers"), nn("build_id", int), null("provider_id", int), null("repo_id", int),
            nn("type", "trigger_type"), nn("comment", text), nn("data", json), createdAt,
        ],
        "build_keys": [
            serial("build_keys"), nn("build_id", int), null("key_id", int), nn("name", varchar),
            nn("key", bytea), nn("config", text), nn("location", varchar),
        ],
        "cron": [
            serial("cron"), nn("user_id", int), nn("author_id", int), null("namespace_id", int),
            nn("name", varchar), nn("schedule", "schedule"), nn("manifest", text), null("prev_run", ts),
            nn("next_run", ts), createdAt,
        ],
        "cron_builds": [
            serial("cron_builds"), nn("cron_id", int), nn("build_id", int), createdAt,
        ],
        "namespace_webhooks": [
            serial("namespace_webhooks"), nn("user_id", int), nn("author_id", int), nn("namespace_id", int),
            nn("payload_url", varchar), null("secret", bytea), nn("ssl", bool), nn("events", int),
            nn("active", bool, "true"), createdAt,
        ],
        "namespace_webhook_deliveries": [
            serial("namespace_webhook_deliveries"), nn("webhook_id", int), nn("event_id", bytea),
            null("error", varchar), nn("event", int), nn("redelivery", bool, "false"),
            null("request_headers", varchar), null("request_body", varchar), null("response_code", int),
            null("response_headers", varchar), null("response_body", varchar), nn("duration", int), createdAt,
        ],
        "oauth_apps": [
            serial("oauth_apps"), nn("user_id", int), nn("client_id", varchar), nn("client_secret", bytea),
            nn("name", varchar), null("description", varchar), nn("home_uri", varchar),
            nn("redirect_uri", varchar), createdAt,
        ],
        "oauth_codes": [
            serial("oauth_codes"), nn("user_id", int), nn("app_id", int), nn("code", varchar),
            nn("scope", bytea), nn("expires_at", ts),
        ],
        "oauth_tokens": [
            serial("oauth_tokens"), nn("user_id", int), null("app_id", int), null("name", varchar),
            nn("token", varchar), nn("scope", bytea), createdAt, nn("updated_at", ts, "now()"),
        ],
    ]

    /// Enum types with their labels in sort order. 'os' is ours in every database (Go: dev only).
    static let enums: [String: [String]] = [
        "visibility": ["private", "internal", "public"],
        "status": ["queued", "running", "passed", "passed_with_failures", "failed", "killed", "timed_out"],
        "driver_type": ["ssh", "qemu", "docker", "os"],
        "trigger_type": ["manual", "push", "pull", "schedule"],
        "schedule": ["daily", "weekly", "monthly"],
    ]

    /// Every foreign key as `table.column -> table.column DELETE_RULE`.
    static let foreignKeys: Set<String> = [
        "account_tokens.user_id -> users.id NO ACTION",
        "providers.user_id -> users.id NO ACTION",
        "namespaces.user_id -> users.id NO ACTION",
        "namespace_invites.namespace_id -> namespaces.id CASCADE",
        "namespace_invites.invitee_id -> users.id CASCADE",
        "namespace_invites.inviter_id -> users.id CASCADE",
        "namespace_collaborators.namespace_id -> namespaces.id CASCADE",
        "namespace_collaborators.user_id -> users.id CASCADE",
        "provider_repos.user_id -> users.id NO ACTION",
        "provider_repos.provider_id -> providers.id NO ACTION",
        "images.user_id -> users.id CASCADE",
        "images.author_id -> users.id NO ACTION",
        "images.namespace_id -> namespaces.id SET NULL",
        "image_downloads.image_id -> images.id CASCADE",
        "objects.user_id -> users.id NO ACTION",
        "objects.author_id -> users.id NO ACTION",
        "objects.namespace_id -> namespaces.id SET NULL",
        "variables.user_id -> users.id NO ACTION",
        "variables.author_id -> users.id NO ACTION",
        "variables.namespace_id -> namespaces.id SET NULL",
        "keys.user_id -> users.id NO ACTION",
        "keys.author_id -> users.id NO ACTION",
        "keys.namespace_id -> namespaces.id SET NULL",
        "builds.user_id -> users.id NO ACTION",
        "builds.namespace_id -> namespaces.id SET NULL",
        "build_tags.user_id -> users.id NO ACTION",
        "build_tags.build_id -> builds.id CASCADE",
        "build_stages.build_id -> builds.id CASCADE",
        "build_jobs.build_id -> builds.id CASCADE",
        "build_jobs.stage_id -> build_stages.id CASCADE",
        "build_objects.build_id -> builds.id CASCADE",
        "build_objects.object_id -> objects.id SET NULL",
        "build_artifacts.user_id -> users.id CASCADE",
        "build_artifacts.build_id -> builds.id CASCADE",
        "build_artifacts.job_id -> build_jobs.id NO ACTION",
        "build_variables.build_id -> builds.id CASCADE",
        "build_variables.variable_id -> variables.id SET NULL",
        "build_drivers.build_id -> builds.id CASCADE",
        "build_triggers.build_id -> builds.id CASCADE",
        "build_triggers.provider_id -> providers.id SET NULL",
        "build_triggers.repo_id -> provider_repos.id SET NULL",
        "build_keys.build_id -> builds.id CASCADE",
        "build_keys.key_id -> keys.id SET NULL",
        "cron.user_id -> users.id NO ACTION",
        "cron.author_id -> users.id NO ACTION",
        "cron.namespace_id -> namespaces.id NO ACTION",
        "cron_builds.cron_id -> cron.id CASCADE",
        "cron_builds.build_id -> builds.id CASCADE",
        "namespace_webhooks.user_id -> users.id NO ACTION",
        "namespace_webhooks.author_id -> users.id NO ACTION",
        "namespace_webhooks.namespace_id -> namespaces.id NO ACTION",
        "namespace_webhook_deliveries.webhook_id -> namespace_webhooks.id CASCADE",
        "oauth_apps.user_id -> users.id NO ACTION",
        "oauth_codes.user_id -> users.id NO ACTION",
        "oauth_codes.app_id -> oauth_apps.id NO ACTION",
        "oauth_tokens.user_id -> users.id NO ACTION",
        "oauth_tokens.app_id -> oauth_apps.id CASCADE",
    ]

    /// Every UNIQUE constraint as `table.columns`.
    /// Not Djinn's: the scheduler's indexes (migration 0010), written out independently.
    static let additiveIndexes: Set<String> = ["cron(next_run, id)", "builds(user_id, number)"]

    static let uniqueConstraints: Set<String> = [
        "users.email", "users.username", "images.hash", "objects.hash", "build_artifacts.hash",
        "account_tokens.token", "oauth_apps.client_id", "oauth_codes.code", "oauth_tokens.token",
    ]

    /// Every primary key as `table.columns`: `id`, except the deliveries' (id, event_id).
    static var primaryKeys: Set<String> {
        var keys = Set(columns.keys.map { "\($0).id" })
        keys.remove("namespace_webhook_deliveries.id")
        keys.insert("namespace_webhook_deliveries.id,event_id")
        keys.insert("djinn_migrations.id")
        return keys
    }
}
