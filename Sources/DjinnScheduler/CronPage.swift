import DjinnBuilds
import DjinnManifest
import DjinnPostgres
import Foundation
import Synchronization

/// Parsed manifests by text, for one pass: crons mostly share a few manifests, and parsing is
/// the largest part of the scheduler's own CPU per build. Only successes are kept (an error
/// message names the cron, so a failing text is parsed again for each).
final class ManifestCache: Sendable {
    struct Entry: Sendable {
        var manifest: Manifest
        /// `manifest.encoded()`, what `builds.manifest` stores.
        var encoded: String
    }

    private let parsed = Mutex<[String: Entry]>([:])
    /// Enough for every distinct manifest of a large installation's due crons; beyond it,
    /// texts are parsed each time rather than the cache growing without bound.
    static let capacity = 10_000

    func manifest(for cron: CronRecord) throws(ManifestError) -> Entry {
        if let entry = parsed.withLock({ $0[cron.manifest] }) { return entry }
        let manifest = try Manifest(parsing: cron.manifest, file: CronInvocation.manifestSource(for: cron))
        let entry = Entry(manifest: manifest, encoded: manifest.encoded())
        parsed.withLock { if $0.count < Self.capacity { $0[cron.manifest] = entry } }
        return entry
    }
}

/// Hands out the pages of one pass in `next_run, id` order: one claim at a time, each starting
/// after the last cron of the claim before it (keyset paging: a pass sees each due cron at most
/// once, so it always ends).
actor PassCursor {
    private var after: CronKey?
    private var ended = false
    private var claiming = false
    private var waiting: [CheckedContinuation<Void, Never>] = []
    private var claims = 0

    /// Waits for the turn to claim; nil once the pass has ended. Call `endClaim` after claiming.
    func beginClaim() async -> (after: CronKey?, index: Int)? {
        while claiming { await withCheckedContinuation { waiting.append($0) } }
        guard !ended else { return nil }
        claiming = true
        defer { claims += 1 }
        return (after, claims)
    }

    /// Ends a claim: the next one starts after `last`; `ended` when the page was short (or the
    /// claim failed), so no page follows.
    func endClaim(last: CronKey?, ended: Bool) {
        if let last { after = last }
        if ended { self.ended = true }
        claiming = false
        wakeAll()
    }

    /// No page is claimed after the ones under way.
    func end() {
        ended = true
        wakeAll()
    }

    /// Every waiter checks again (one claims, the others wait again; all leave once ended).
    private func wakeAll() {
        let woken = waiting
        waiting = []
        woken.forEach { $0.resume() }
    }
}

/// One page's claimed crons and what became of each.
struct PageResult: Sendable {
    var claimed: [CronKey] = []
    var outcomes: [CronOutcome] = []
}

extension CronScheduler {
    /// What one claimed cron of a page turns into.
    private enum Plan {
        /// Its owner is gone: advance it, no build.
        case ownerGone
        /// A failed build recording why.
        case rejected(reason: String)
        /// A build for `owner` (the namespace's owner or the cron's).
        case build(BuildRequest, encodedManifest: String, owner: UserRecord, namespacePath: NamespacePath?)
    }

    /// What the page's transaction wrote for one cron.
    private struct Written {
        var cron: CronRecord
        var nextRun: Date
        /// nil for a cron whose owner is gone.
        var buildID: Int64?
        var build: CreatedBuild?
        var reason: String?
    }

    /// Claims the next page and invokes it in one transaction (see docs/scheduler.md, "A page:
    /// one transaction"): every cron's build rows and its update commit together, or nothing
    /// of the page does. If that transaction fails, each claimed cron is invoked again in a
    /// transaction of its own (`invoke(_:now:on:)`), so one cron's bad data never holds back
    /// the others. Builds are queued after the commit. Throws only if the page cannot be claimed.
    func invokePage(cursor: PassCursor, now: Date, manifests: ManifestCache) async throws -> (index: Int, page: PageResult)? {
        guard let turn = await cursor.beginClaim() else { return nil }
        var claimed: [CronRecord] = []
        var hasClaimed = false
        let attempt: Result<[Written], any Error>
        do {
            attempt = .success(try await pool.withConnection { connection in
                try await connection.withTransaction { connection in
                    claimed = try await CronStore(connection).claimDue(now: now, after: turn.after, limit: batchSize)
                    hasClaimed = true
                    let last = claimed.last.map { CronKey(id: $0.id, nextRun: $0.nextRun, userID: $0.userID) }
                    await cursor.endClaim(last: last, ended: claimed.count < batchSize)
                    return try await write(claimed, now: now, manifests: manifests, on: connection)
                }
            })
        } catch {
            // Not even claimed: the pass cannot go on (the caller logs it).
            guard hasClaimed else {
                await cursor.endClaim(last: nil, ended: true)
                throw error
            }
            attempt = .failure(error)
        }
        let keys = claimed.map { CronKey(id: $0.id, nextRun: $0.nextRun, userID: $0.userID) }
        switch attempt {
        case .failure(let error):
            logger.error("""
                a batch of \(claimed.count) cron(s) could not be written in one transaction: \(error); \
                invoking them one transaction each
                """)
            return (turn.index, PageResult(claimed: keys, outcomes: await invoke(keys, now: now, shouldStop: { false })))
        case .success(let written):
            return (turn.index, PageResult(claimed: keys, outcomes: await enqueue(written)))
        }
    }

    /// Writes every build of the page and advances its crons, inside the caller's transaction.
    private func write(_ crons: [CronRecord], now: Date, manifests: ManifestCache, on connection: PostgresConnection) async throws
        -> [Written]
    {
        guard !crons.isEmpty else { return [] }
        let invokedAt = max(clock(), now)
        var plans: [Plan] = []
        plans.reserveCapacity(crons.count)
        for cron in crons {
            plans.append(try await plan(cron, manifests: manifests, on: connection))
        }

        // Every owner a build of the page may be numbered under, locked in ascending order.
        var owners: Set<Int64> = []
        for (cron, plan) in zip(crons, plans) {
            switch plan {
            case .ownerGone: break
            case .rejected: owners.insert(cron.userID)
            case .build(_, _, let owner, _): owners.insert(owner.id); owners.insert(cron.userID)
            }
        }
        try await OwnerLock.acquire(ownerIDs: owners, on: connection)

        // Namespaces are resolved (and created) under the owner's lock, each in a savepoint so
        // that a refused one leaves nothing behind and becomes a failed build.
        var namespaces: [Int: NamespaceRecord] = [:]
        for index in crons.indices {
            guard case .build(_, _, let owner, let path?) = plans[index], let submitter = crons[index].owner else { continue }
            try await connection.execute("SAVEPOINT cron_namespace")
            do {
                namespaces[index] = try await NamespaceStore(connection).resolve(path, owner: owner, submitter: submitter)
                try await connection.execute("RELEASE SAVEPOINT cron_namespace")
            } catch let error as BuildSubmissionError {
                try await connection.execute("ROLLBACK TO SAVEPOINT cron_namespace")
                plans[index] = .rejected(reason: error.description)
            }
        }

        // Numbers in cron order, continuing each owner's.
        var numbers = try await BuildNumbers.last(ownerIDs: owners, on: connection)
        var rows: [BuildRows] = []
        var rowOf: [Int: Int] = [:]
        var written: [Written] = []
        written.reserveCapacity(crons.count)
        for (index, cron) in crons.enumerated() {
            let nextRun = cron.schedule.next(after: invokedAt)
            var entry = Written(cron: cron, nextRun: nextRun)
            guard let submitter = cron.owner else {
                entry.reason = "the owner (user \(cron.userID)) no longer exists"
                written.append(entry)
                continue
            }
            var plan = plans[index]
            if case .build(let request, let encoded, let owner, _) = plan {
                let number = numbers[owner.id, default: 0] + 1
                do {
                    let buildRows = try BuildRows.queued(
                        request, ownerID: owner.id, namespaceID: namespaces[index]?.id, number: number, encodedManifest: encoded)
                    numbers[owner.id] = number
                    entry.build = CreatedBuild(
                        id: 0, number: number, userID: owner.id, namespaceID: namespaces[index]?.id, queue: buildRows.queue ?? "")
                    rowOf[index] = rows.count
                    rows.append(buildRows)
                } catch {
                    plan = .rejected(reason: error.description)
                }
            }
            if case .rejected(let reason) = plan {
                let number = numbers[cron.userID, default: 0] + 1
                numbers[cron.userID] = number
                entry.reason = reason
                rowOf[index] = rows.count
                rows.append(BuildRows.failed(FailedBuildRequest(
                    userID: cron.userID, namespaceID: cron.namespaceID, manifestText: cron.manifest,
                    trigger: CronInvocation.trigger(for: cron, owner: submitter), tags: [CronInvocation.tag(forCronNamed: cron.name)],
                    reason: reason), number: number))
            }
            written.append(entry)
        }

        let ids = try await BuildRowWriter.write(rows, on: connection)
        for index in written.indices {
            guard let row = rowOf[index] else { continue }
            written[index].buildID = ids[row]
            written[index].build?.id = ids[row]
        }
        try await CronStore(connection).advance(
            written.map { (cronID: $0.cron.id, nextRun: $0.nextRun, buildID: $0.buildID) }, invokedAt: invokedAt)
        return written
    }

    /// Parses the cron's manifest (through the pass's cache) and finds who the build belongs to.
    /// Database errors are thrown (they fail the page); the cron's own faults become `.rejected`.
    private func plan(_ cron: CronRecord, manifests: ManifestCache, on connection: PostgresConnection) async throws -> Plan {
        guard let owner = cron.owner else { return .ownerGone }
        let entry: ManifestCache.Entry
        do {
            entry = try manifests.manifest(for: cron)
        } catch {
            return .rejected(reason: "invalid manifest: \(error)")
        }
        do {
            try BuildQueue.check(key: BuildQueue.key(for: entry.manifest.driver), enabled: submitter.enabledDrivers)
        } catch {
            return .rejected(reason: error.description)
        }
        let manifest = entry.manifest
        let request = CronInvocation.request(for: cron, owner: owner, manifest: manifest)
        guard !manifest.namespace.isEmpty else {
            return .build(request, encodedManifest: entry.encoded, owner: owner, namespacePath: nil)
        }
        let path: NamespacePath
        do {
            path = try NamespacePath(parsing: manifest.namespace)
        } catch {
            return .rejected(reason: BuildSubmissionError.invalidNamespace(error.message).description)
        }
        do {
            let namespaceOwner = try await NamespaceStore(connection).owner(of: path, submitter: owner)
            return .build(request, encodedManifest: entry.encoded, owner: namespaceOwner, namespacePath: path)
        } catch let error as BuildSubmissionError {
            return .rejected(reason: error.description)
        }
    }

    /// Queues the page's new builds (one batch per queue) and reports each cron's outcome.
    private func enqueue(_ written: [Written]) async -> [CronOutcome] {
        let builds = written.compactMap { $0.reason == nil ? $0.build : nil }
        var errors = await submitter.enqueue(builds).makeIterator()
        var outcomes: [CronOutcome] = []
        outcomes.reserveCapacity(written.count)
        for entry in written {
            let cron = entry.cron
            if let reason = entry.reason {
                let recorded = entry.buildID.map { "recorded as failed build \($0)" } ?? "no build recorded"
                logger.error("cron \(cron.id) (\(cron.name)): \(reason); \(recorded); next run \(CronTimeFormat.format(entry.nextRun))")
                outcomes.append(.failed(cronID: cron.id, buildID: entry.buildID, reason: reason))
            } else if let build = entry.build {
                if let error = errors.next() ?? nil {
                    outcomes.append(.notQueued(cronID: cron.id, build: build, message: "\(error)"))
                } else {
                    logger.debug("cron \(cron.id) (\(cron.name)): build \(build.id) queued on \(build.queue)")
                    outcomes.append(.submitted(cronID: cron.id, build: build))
                }
            }
        }
        return outcomes
    }
}
