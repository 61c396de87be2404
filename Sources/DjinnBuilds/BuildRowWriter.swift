import DjinnJobs
import DjinnPostgres
import Foundation

/// Writes the rows of any number of builds with two statements, whatever their number: one
/// takes the ids of the new builds, stages and jobs from their sequences, one inserts every
/// row of every table (`INSERT … SELECT FROM unnest($n::type[], …)` per table, as data-modifying
/// CTEs of one statement; the foreign keys are checked at its end).
///
/// Why: each statement costs a round trip, a thread hop and a parse and plan; a build of even
/// a tiny manifest takes about ten inserts, so writing them one by one costs far more than
/// the rows themselves (docs/benchmarks.md, "Scheduler").
///
/// Rows are inserted in the order of `builds`, so ids grow in creation order as they did when
/// each build was written on its own (copied variables and keys by their source id, then the
/// manifest's env; objects by name, then id). Run it inside the caller's transaction, holding
/// the owners' locks the numbers were taken under.
public enum BuildRowWriter {
    /// Writes `builds` and returns their ids, in order.
    public static func write(_ builds: [BuildRows], on connection: PostgresConnection) async throws -> [Int64] {
        guard !builds.isEmpty else { return [] }
        let stageCount = builds.reduce(0) { $0 + $1.stages.count }
        let jobCount = builds.reduce(0) { $0 + $1.jobs.count }
        let ids = try await allocateIDs(builds: builds.count, stages: stageCount, jobs: jobCount, on: connection)
        var columns = Columns()
        var nextStage = 0
        var nextJob = 0
        for (index, build) in builds.enumerated() {
            let buildID = ids.builds[index]
            let firstStage = nextStage
            nextStage += build.stages.count
            columns.add(build, id: buildID, stageIDs: ids.stages[firstStage..<nextStage], jobIDs: ids.jobs[nextJob..<(nextJob + build.jobs.count)])
            nextJob += build.jobs.count
        }
        try await connection.execute(insertSQL, columns.parameters)
        return ids.builds
    }

    /// New ids from the tables' own sequences (what their SERIAL default would take), so that
    /// stages, jobs and artifacts can name their build, stage and job in the same statement.
    static func allocateIDs(builds: Int, stages: Int, jobs: Int, on connection: PostgresConnection) async throws
        -> (builds: [Int64], stages: [Int64], jobs: [Int64])
    {
        let row = try await connection.query("""
            SELECT array_to_string(ARRAY(SELECT nextval('builds_id_seq') FROM generate_series(1, $1::int)), ','),
                   array_to_string(ARRAY(SELECT nextval('build_stages_id_seq') FROM generate_series(1, $2::int)), ','),
                   array_to_string(ARRAY(SELECT nextval('build_jobs_id_seq') FROM generate_series(1, $3::int)), ',')
            """, [builds, stages, jobs])[0]
        func ids(_ column: Int, count: Int) throws -> [Int64] {
            let list = try row.decode(String.self, at: column).split(separator: ",").compactMap { Int64($0) }.sorted()
            guard list.count == count else {
                throw PostgresError(kind: .query, message: "expected \(count) ids from a sequence, got \(list.count)")
            }
            return list
        }
        return (try ids(0, count: builds), try ids(1, count: stages), try ids(2, count: jobs))
    }

    /// The statement's array parameters, one per column of each table.
    struct Columns {
        var buildIDs: [Int64] = [], owners: [Int64] = [], namespaces: [Int64?] = [], numbers: [Int64] = []
        var manifests: [String] = [], statuses: [String] = [], outputs: [String?] = [], secrets: [String] = []
        var createdAts: [Date] = [], finishedAts: [Date?] = []
        var triggerProviders: [Int64?] = [], triggerRepos: [Int64?] = [], triggerTypes: [String] = []
        var triggerComments: [String] = [], triggerData: [String] = []
        var tagUsers: [Int64] = [], tagBuilds: [Int64] = [], tagNames: [String] = [], tagCreatedAts: [Date] = []
        var driverBuilds: [Int64] = [], driverTypes: [String] = [], driverConfigs: [String] = []
        var scopeBuilds: [Int64] = [], scopeOwners: [Int64] = [], scopeNamespaces: [Int64?] = []
        var envBuilds: [Int64] = [], envKeys: [String] = [], envValues: [String] = []
        var objectBuilds: [Int64] = [], objectOwners: [Int64] = [], objectNamespaces: [Int64?] = []
        var objectNames: [String] = [], objectDestinations: [String] = [], objectCreatedAts: [Date] = []
        var stageIDs: [Int64] = [], stageBuilds: [Int64] = [], stageNames: [String] = [], stageCanFail: [Bool] = []
        var stageCreatedAts: [Date] = []
        var jobIDs: [Int64] = [], jobBuilds: [Int64] = [], jobStages: [Int64] = [], jobNames: [String] = []
        var jobCommands: [String] = [], jobCreatedAts: [Date] = []
        var artifactUsers: [Int64] = [], artifactBuilds: [Int64] = [], artifactJobs: [Int64] = [], artifactHashes: [String] = []
        var artifactSources: [String] = [], artifactNames: [String] = [], artifactCreatedAts: [Date] = []

        mutating func add(_ build: BuildRows, id: Int64, stageIDs newStageIDs: ArraySlice<Int64>, jobIDs newJobIDs: ArraySlice<Int64>) {
            buildIDs.append(id)
            owners.append(build.ownerID)
            namespaces.append(build.namespaceID)
            numbers.append(build.number)
            manifests.append(build.manifest)
            statuses.append(build.status.rawValue)
            outputs.append(build.output)
            secrets.append(build.secret)
            createdAts.append(build.createdAt)
            finishedAts.append(build.finishedAt)

            let trigger = build.trigger
            triggerProviders.append(trigger.providerID)
            triggerRepos.append(trigger.repoID)
            triggerTypes.append(trigger.type.rawValue)
            triggerComments.append(trigger.comment)
            triggerData.append(GoJSON.object(trigger.data))

            for tag in build.tags {
                tagUsers.append(build.submitterID)
                tagBuilds.append(id)
                tagNames.append(tag.name)
                tagCreatedAts.append(tag.createdAt)
            }
            if let driver = build.driver {
                driverBuilds.append(id)
                driverTypes.append(driver.type.rawValue)
                driverConfigs.append(driver.config)
            }
            if build.copiesOwnerSecrets {
                scopeBuilds.append(id)
                scopeOwners.append(build.ownerID)
                scopeNamespaces.append(build.namespaceID)
            }
            for entry in build.environment {
                envBuilds.append(id)
                envKeys.append(entry.key)
                envValues.append(entry.value)
            }
            for object in build.objects {
                objectBuilds.append(id)
                objectOwners.append(build.ownerID)
                objectNamespaces.append(build.namespaceID)
                objectNames.append(object.name)
                objectDestinations.append(object.destination)
                objectCreatedAts.append(object.createdAt)
            }
            let stageIDList = Array(newStageIDs)
            for (index, stage) in build.stages.enumerated() {
                stageIDs.append(stageIDList[index])
                stageBuilds.append(id)
                stageNames.append(stage.name)
                stageCanFail.append(stage.canFail)
                stageCreatedAts.append(stage.createdAt)
            }
            for (job, jobID) in zip(build.jobs, newJobIDs) {
                jobIDs.append(jobID)
                jobBuilds.append(id)
                jobStages.append(stageIDList[job.stage])
                jobNames.append(job.name)
                jobCommands.append(job.commands)
                jobCreatedAts.append(job.createdAt)
                for artifact in job.artifacts {
                    artifactUsers.append(build.ownerID)
                    artifactBuilds.append(id)
                    artifactJobs.append(jobID)
                    artifactHashes.append(artifact.hash)
                    artifactSources.append(artifact.source)
                    artifactNames.append(artifact.name)
                    artifactCreatedAts.append(artifact.createdAt)
                }
            }
        }

        /// In the order of `insertSQL`'s `$n`.
        var parameters: [(any PostgresBindable)?] {
            [
                PostgresArray(buildIDs), PostgresArray(owners), PostgresArray(namespaces), PostgresArray(numbers),
                PostgresArray(manifests), PostgresArray(statuses), PostgresArray(outputs), PostgresArray(secrets),
                PostgresArray(createdAts), PostgresArray(finishedAts),
                PostgresArray(triggerProviders), PostgresArray(triggerRepos), PostgresArray(triggerTypes),
                PostgresArray(triggerComments), PostgresArray(triggerData),
                PostgresArray(tagUsers), PostgresArray(tagBuilds), PostgresArray(tagNames), PostgresArray(tagCreatedAts),
                PostgresArray(driverBuilds), PostgresArray(driverTypes), PostgresArray(driverConfigs),
                PostgresArray(scopeBuilds), PostgresArray(scopeOwners), PostgresArray(scopeNamespaces),
                PostgresArray(envBuilds), PostgresArray(envKeys), PostgresArray(envValues),
                PostgresArray(objectBuilds), PostgresArray(objectOwners), PostgresArray(objectNamespaces),
                PostgresArray(objectNames), PostgresArray(objectDestinations), PostgresArray(objectCreatedAts),
                PostgresArray(stageIDs), PostgresArray(stageBuilds), PostgresArray(stageNames), PostgresArray(stageCanFail),
                PostgresArray(stageCreatedAts),
                PostgresArray(jobIDs), PostgresArray(jobBuilds), PostgresArray(jobStages), PostgresArray(jobNames),
                PostgresArray(jobCommands), PostgresArray(jobCreatedAts),
                PostgresArray(artifactUsers), PostgresArray(artifactBuilds), PostgresArray(artifactJobs),
                PostgresArray(artifactHashes), PostgresArray(artifactSources), PostgresArray(artifactNames),
                PostgresArray(artifactCreatedAts),
            ]
        }
    }

    /// Every table's insert as a data-modifying CTE of one statement. The trigger's created_at
    /// is the build's, as in Djinn.
    static let insertSQL = """
        WITH new_builds AS (
            INSERT INTO builds (id, user_id, namespace_id, number, manifest, status, output, secret, created_at, started_at, finished_at, pinned)
            SELECT id, user_id, namespace_id, number, manifest, status, output, secret, created_at, NULL, finished_at, false
            FROM unnest($1::int[], $2::int[], $3::int[], $4::int[], $5::text[], $6::status[], $7::text[], $8::text[],
                        $9::timestamp[], $10::timestamp[])
                AS b(id, user_id, namespace_id, number, manifest, status, output, secret, created_at, finished_at)
        ),
        new_triggers AS (
            INSERT INTO build_triggers (build_id, provider_id, repo_id, type, comment, data, created_at)
            SELECT * FROM unnest($1::int[], $11::int[], $12::int[], $13::trigger_type[], $14::text[], $15::json[], $9::timestamp[])
        ),
        new_tags AS (
            INSERT INTO build_tags (user_id, build_id, name, created_at)
            SELECT * FROM unnest($16::int[], $17::int[], $18::text[], $19::timestamp[])
        ),
        new_drivers AS (
            INSERT INTO build_drivers (build_id, type, config)
            SELECT * FROM unnest($20::int[], $21::driver_type[], $22::json[])
        ),
        scopes AS (
            SELECT * FROM unnest($23::int[], $24::int[], $25::int[]) AS s(build_id, owner_id, namespace_id)
        ),
        new_variables AS (
            INSERT INTO build_variables (build_id, variable_id, key, value, masked)
            SELECT build_id, variable_id, key, value, masked FROM (
                SELECT s.build_id, 0 AS part, v.id AS position, v.id AS variable_id, v.key, v.value, COALESCE(v.masked, false) AS masked
                FROM scopes s JOIN variables v ON v.user_id = s.owner_id AND v.namespace_id IS NULL
                UNION ALL
                SELECT s.build_id, 0, v.id, v.id, v.key, v.value, COALESCE(v.masked, false)
                FROM scopes s JOIN variables v ON v.namespace_id = s.namespace_id
                UNION ALL
                SELECT e.build_id, 1, e.position, NULL, e.key, e.value, false
                FROM unnest($26::int[], $27::text[], $28::text[]) WITH ORDINALITY AS e(build_id, key, value, position)
            ) AS copied ORDER BY build_id, part, position
        ),
        new_keys AS (
            INSERT INTO build_keys (build_id, key_id, name, key, config, location)
            SELECT build_id, key_id, name, key, config, '/root/.ssh/' || name FROM (
                SELECT s.build_id, k.id AS key_id, k.name, k.key, k.config
                FROM scopes s JOIN keys k ON k.user_id = s.owner_id AND k.namespace_id IS NULL
                UNION ALL
                SELECT s.build_id, k.id, k.name, k.key, k.config
                FROM scopes s JOIN keys k ON k.namespace_id = s.namespace_id
            ) AS copied ORDER BY build_id, key_id
        ),
        new_objects AS (
            INSERT INTO build_objects (build_id, object_id, source, name, created_at)
            SELECT o.build_id, ob.id, o.destination, ob.name, o.created_at
            FROM unnest($29::int[], $30::int[], $31::int[], $32::text[], $33::text[], $34::timestamp[]) WITH ORDINALITY
                AS o(build_id, owner_id, namespace_id, name, destination, created_at, position)
            JOIN objects ob ON ob.name = o.name AND ob.deleted_at IS NULL
                AND ((ob.user_id = o.owner_id AND ob.namespace_id IS NULL) OR ob.namespace_id = o.namespace_id)
            ORDER BY o.position, ob.id
        ),
        new_stages AS (
            INSERT INTO build_stages (id, build_id, name, can_fail, created_at)
            SELECT * FROM unnest($35::int[], $36::int[], $37::text[], $38::bool[], $39::timestamp[])
        ),
        new_jobs AS (
            INSERT INTO build_jobs (id, build_id, stage_id, name, commands, status, created_at)
            SELECT id, build_id, stage_id, name, commands, 'queued', created_at
            FROM unnest($40::int[], $41::int[], $42::int[], $43::text[], $44::text[], $45::timestamp[])
                AS j(id, build_id, stage_id, name, commands, created_at)
        ),
        new_artifacts AS (
            INSERT INTO build_artifacts (user_id, build_id, job_id, hash, source, name, created_at)
            SELECT * FROM unnest($46::int[], $47::int[], $48::int[], $49::text[], $50::text[], $51::text[], $52::timestamp[])
        )
        SELECT 1
        """
}
