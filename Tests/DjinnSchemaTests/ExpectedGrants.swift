/// The privileges each Djinn role should hold, written out from spec §10 "Database roles and
/// grants" (plus USAGE on the sequences of the tables a role inserts into), independently of
/// the SQL under test. Keys are table or sequence names; values are privileges sorted and
/// comma-joined, as the catalog query in the tests prints them.
enum ExpectedGrants {
    static let roles = ["djinn_worker", "djinn_scheduler", "djinn_consumer", "djinn_curator", "djinn_server"]

    static let byRole: [String: [String: String]] = [
        "djinn_worker": [
            "builds": "SELECT,UPDATE",
            // INSERT beyond the spec's list: every further match of a glob artifact gets a row.
            "build_artifacts": "INSERT,SELECT,UPDATE",
            "build_drivers": "SELECT",
            "build_jobs": "SELECT,UPDATE",
            "build_keys": "SELECT",
            "build_objects": "SELECT,UPDATE",
            "build_stages": "SELECT",
            "build_tags": "INSERT,SELECT",
            "build_triggers": "SELECT",
            "build_variables": "SELECT",
            "images": "SELECT",
            "namespaces": "SELECT",
            "namespace_collaborators": "SELECT",
            "namespace_webhooks": "SELECT",
            // SELECT beyond the spec's list: Go grants it, and the redelivery check needs it.
            "namespace_webhook_deliveries": "INSERT,SELECT",
            "objects": "SELECT",
            "providers": "SELECT",
            "provider_repos": "SELECT",
            "users": "SELECT",
            "build_artifacts_id_seq": "USAGE",
            "build_tags_id_seq": "USAGE",
            "namespace_webhook_deliveries_id_seq": "USAGE",
        ],
        "djinn_scheduler": [
            "builds": "INSERT,SELECT",
            "build_artifacts": "INSERT,SELECT",
            "build_drivers": "INSERT,SELECT",
            "build_jobs": "INSERT,SELECT",
            "build_keys": "INSERT",
            "build_objects": "INSERT",
            "build_stages": "INSERT,SELECT",
            "build_tags": "INSERT,SELECT",
            "build_triggers": "INSERT,SELECT",
            "build_variables": "INSERT",
            "cron": "SELECT,UPDATE",
            "cron_builds": "INSERT,SELECT",
            "keys": "SELECT",
            "namespaces": "INSERT,SELECT",
            "objects": "SELECT",
            "variables": "SELECT",
            "users": "SELECT",
            "builds_id_seq": "USAGE",
            "build_artifacts_id_seq": "USAGE",
            "build_drivers_id_seq": "USAGE",
            "build_jobs_id_seq": "USAGE",
            "build_keys_id_seq": "USAGE",
            "build_objects_id_seq": "USAGE",
            "build_stages_id_seq": "USAGE",
            "build_tags_id_seq": "USAGE",
            "build_triggers_id_seq": "USAGE",
            "build_variables_id_seq": "USAGE",
            "cron_builds_id_seq": "USAGE",
            "namespaces_id_seq": "USAGE",
        ],
        "djinn_consumer": [
            "images": "SELECT",
            "namespace_webhooks": "SELECT",
            "image_downloads": "SELECT,UPDATE",
            "namespace_webhook_deliveries": "INSERT,SELECT",
            "namespace_webhook_deliveries_id_seq": "USAGE",
            // Beyond the spec's list: the `images` event names the author, owner and namespace.
            "namespaces": "SELECT",
            "users": "SELECT",
        ],
        "djinn_curator": [
            "users": "SELECT",
            "builds": "SELECT",
            "build_artifacts": "INSERT,SELECT,UPDATE",
            "build_artifacts_id_seq": "USAGE",
        ],
        "djinn_server": {
            // Everything on every Djinn table and its sequence; nothing on djinn_migrations.
            var all: [String: String] = [:]
            for table in ExpectedCatalog.columns.keys {
                all[table] = "DELETE,INSERT,SELECT,UPDATE"
                all["\(table)_id_seq"] = "USAGE"
            }
            return all
        }(),
    ]
}
