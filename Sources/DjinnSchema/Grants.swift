/// The table privileges one of Djinn's database roles needs (spec §10, Go's perms revisions).
struct RoleGrants: Sendable {
    var role: String
    var select: [String] = []
    var insert: [String] = []
    var update: [String] = []
    var delete: [String] = []

    /// INSERTs draw ids from the table's SERIAL sequence, which needs USAGE.
    var sequences: [String] { insert.map { "\($0)_id_seq" } }
}

extension DjinnSchema {
    static let buildTables = [
        "builds", "build_artifacts", "build_drivers", "build_jobs", "build_keys", "build_objects",
        "build_stages", "build_tags", "build_triggers", "build_variables",
    ]

    static let roleGrants: [RoleGrants] = [
        // Runs builds. SELECT on the deliveries too: the redelivery flag (spec §4.9) looks for
        // an earlier row of the same event, and Go grants it.
        RoleGrants(
            role: "djinn_worker",
            select: buildTables + [
                "images", "namespaces", "namespace_collaborators", "namespace_webhooks",
                "namespace_webhook_deliveries", "objects", "providers", "provider_repos", "users",
            ],
            // build_artifacts: each further file a glob artifact matches gets a row (spec §5.3).
            insert: ["build_artifacts", "build_tags", "namespace_webhook_deliveries"],
            update: ["builds", "build_artifacts", "build_jobs", "build_objects"]
        ),
        // Turns due crons into builds. Go forgets the build_keys and build_variables sequences.
        RoleGrants(
            role: "djinn_scheduler",
            select: [
                "builds", "build_artifacts", "build_drivers", "build_jobs", "build_stages", "build_tags",
                "build_triggers", "cron", "cron_builds", "keys", "namespaces", "objects", "variables", "users",
            ],
            insert: buildTables + ["cron_builds", "namespaces"],
            update: ["cron"]
        ),
        // Downloads images. users and namespaces beyond the spec's list: the `images` event
        // payload names the image's author, owner and namespace.
        RoleGrants(
            role: "djinn_consumer",
            select: ["images", "image_downloads", "namespaces", "namespace_webhooks", "namespace_webhook_deliveries", "users"],
            insert: ["namespace_webhook_deliveries"],
            update: ["image_downloads"]
        ),
        // Deletes old artifacts. Go forgets the build_artifacts sequence.
        RoleGrants(
            role: "djinn_curator",
            select: ["users", "builds", "build_artifacts"],
            insert: ["build_artifacts"],
            update: ["build_artifacts"]
        ),
        // The Go web server: everything on Djinn's tables (not on djinn_migrations).
        RoleGrants(role: "djinn_server", select: tables, insert: tables, update: tables, delete: tables),
    ]

    /// One DO block granting each of Djinn's roles that exists (djinn_worker, djinn_scheduler,
    /// djinn_consumer, djinn_curator, djinn_server) CONNECT on the current database and its
    /// table and sequence privileges. Missing roles are skipped; no role is ever created.
    /// Run after the migrations; re-running is harmless. Privileges granted by other means
    /// are left alone (nothing is revoked).
    public static let grantsSQL: String = {
        var lines = ["DO $$", "BEGIN"]
        for grants in roleGrants {
            lines.append("    IF EXISTS (SELECT 1 FROM pg_roles WHERE rolname = '\(grants.role)') THEN")
            // The database name is not known in advance, hence EXECUTE.
            lines.append("        EXECUTE format('GRANT CONNECT ON DATABASE %I TO \(grants.role)', current_database());")
            for (privilege, names) in [
                ("SELECT", grants.select), ("INSERT", grants.insert),
                ("UPDATE", grants.update), ("DELETE", grants.delete),
            ] where !names.isEmpty {
                lines.append("        GRANT \(privilege) ON TABLE \(names.joined(separator: ", ")) TO \(grants.role);")
            }
            if !grants.sequences.isEmpty {
                lines.append("        GRANT USAGE ON SEQUENCE \(grants.sequences.joined(separator: ", ")) TO \(grants.role);")
            }
            lines.append("    END IF;")
        }
        lines += ["END", "$$;"]
        return lines.joined(separator: "\n") + "\n"
    }()
}
