import DjinnBuilds
import DjinnManifest
import DjinnPostgres
import Foundation
import Logging
import Synchronization

/// Turns due crons into builds (spec §6.2–6.5, intended form).
///
/// One pass (`runDue`) pages through the crons due at the pass's start in `next_run, id`
/// order, `batchSize` at a time, until a page comes back empty or short. Each page is one
/// transaction (CronPage.swift): it claims its crons with `SELECT … FOR UPDATE SKIP LOCKED`
/// (rechecking `next_run <= now`), locks the owners they build for in ascending order, writes
/// every build's rows with a fixed number of set-based statements, advances every cron and
/// links it to its build, and commits. The builds are queued after the commit, in one batch
/// per queue.
///
/// Atomic per cron: a cron's build rows and its `prev_run`/`next_run`/`cron_builds` commit in
/// the same transaction, so there is never a build without its cron advanced, or the reverse.
///
/// Why it is safe with several schedulers on one database: a cron another scheduler holds is
/// skipped; one it has already invoked has a `next_run` in the future (PostgreSQL rechecks
/// the condition against the latest committed row), so it is skipped too. Only the claiming
/// transaction can advance `next_run`, and it does so in the same commit as the build, so a
/// due time is served at most once, and (as long as its transaction commits) exactly once.
/// Owner locks are always taken in ascending id order, so pages cannot deadlock each other.
///
/// Why a page and not a cron per transaction: a build is about ten inserts; per cron that is
/// ~19 statements, each a round trip with its parse, plan and thread hop, which capped the
/// scheduler at a few hundred builds per second (docs/benchmarks.md). The price is that one
/// failing statement undoes the page: then the page's crons are invoked again one
/// transaction each (`invoke(_:now:on:)`), where a cron whose data the database rejects
/// becomes a failed build on its own and the others are built as usual.
///
/// `next_run` is computed from the time of the invocation, not from the old `next_run`, so a
/// cron that was due for days gets one build, not one per missed period.
///
/// A cron whose manifest does not parse, whose driver is not enabled, whose namespace cannot
/// be used or whose data the database rejects never blocks the others: it gets a `failed`
/// build whose output says why, and its `next_run` advances as usual (see docs/scheduler.md).
/// Only errors that may pass (connection lost, lock timeout, …) leave a cron due for the
/// next pass.
public struct CronScheduler: Sendable {
    public let pool: PostgresPool
    public let submitter: BuildSubmitter
    /// Crons listed per page (`batch_size`).
    public let batchSize: Int
    /// Pages under way at once, and crons invoked at once when a page falls back to one
    /// transaction per cron; each on a connection of its own.
    public let parallelism: Int
    let logger: Logger
    let clock: @Sendable () -> Date

    public init(
        pool: PostgresPool, submitter: BuildSubmitter, batchSize: Int, parallelism: Int = 4, logger: Logger,
        clock: @escaping @Sendable () -> Date = { Date() }
    ) {
        precondition(batchSize > 0 && parallelism > 0)
        self.pool = pool
        self.submitter = submitter
        self.batchSize = batchSize
        self.parallelism = parallelism
        self.logger = logger
        self.clock = clock
    }

    // MARK: A pass

    /// Invokes every cron due at the start of the pass (or at `now`), page by page, until a page
    /// is empty or short, or `shouldStop` says so (checked before each page: the pages being
    /// invoked finish, no new one starts). Throws only when a page cannot be claimed (after the
    /// pages under way have finished).
    ///
    /// Up to `parallelism` pages are under way at once, each in its own transaction on its own
    /// connection. Pages are claimed one after the other in `next_run, id` order; after that
    /// they overlap: while one writes its rows, the next is claimed and parsed and the previous
    /// one's builds are queued. Pages that share an owner still write one after the other
    /// (each holds its owners' locks until it commits).
    @discardableResult
    public func runDue(now: Date? = nil, shouldStop: @escaping @Sendable () -> Bool = { false }) async throws -> PassSummary {
        let now = now ?? clock()
        let cursor = PassCursor()
        let manifests = ManifestCache()
        let results = await withTaskGroup(of: Result<[(Int, BatchSummary)], any Error>.self) { group in
            for _ in 0..<parallelism {
                group.addTask {
                    var batches: [(Int, BatchSummary)] = []
                    do {
                        while !shouldStop() {
                            logger.debug("loading batch of size \(batchSize)")
                            let started = ContinuousClock.now
                            guard let (index, page) = try await invokePage(cursor: cursor, now: now, manifests: manifests) else { break }
                            guard !page.claimed.isEmpty else {
                                if index == 0 { logger.debug("no crons due") }
                                break
                            }
                            let batch = BatchSummary(loaded: page.claimed.count, outcomes: page.outcomes, duration: ContinuousClock.now - started)
                            logger.info("submitted \(batch.submitted) build(s)")
                            batches.append((index, batch))
                            if batch.errors == page.claimed.count {
                                // Nothing of the page got through (the database is likely unreachable): do not
                                // walk every other page only to log the same error for each cron.
                                logger.error("no cron of this batch could be invoked; ending this pass")
                                await cursor.end()
                                break
                            }
                        }
                        return .success(batches)
                    } catch {
                        await cursor.end()
                        return .failure(error)
                    }
                }
            }
            var all: [Result<[(Int, BatchSummary)], any Error>] = []
            for await result in group { all.append(result) }
            return all
        }
        var batches: [(Int, BatchSummary)] = []
        for result in results { batches += try result.get() }
        return PassSummary(batches: batches.sorted { $0.0 < $1.0 }.map(\.1))
    }

    /// Invokes `keys` on up to `parallelism` connections. Each connection takes the first cron
    /// in order whose owner no other connection is busy with: every build takes its owner's
    /// lock (for the build number) until it commits, so two connections on one owner would
    /// only wait for each other, holding their cron locks and connections meanwhile.
    func invoke(_ keys: [CronKey], now: Date, shouldStop: @escaping @Sendable () -> Bool) async -> [CronOutcome] {
        let dispatcher = CronDispatcher(keys, shouldStop: shouldStop)
        let workers = min(parallelism, keys.count)
        return await withTaskGroup(of: [CronOutcome].self) { group in
            for _ in 0..<workers {
                group.addTask {
                    var outcomes: [CronOutcome] = []
                    guard let first = dispatcher.take(finished: nil) else { return outcomes }
                    do {
                        try await pool.withConnection { connection in
                            var key: CronKey? = first
                            while let current = key {
                                outcomes.append(await invoke(current, now: now, on: connection))
                                key = dispatcher.take(finished: current)
                            }
                        }
                    } catch {
                        // Only leasing a connection throws here; the crons left are due next pass.
                        dispatcher.release(first)
                        logger.error("cannot invoke crons: \(error)")
                        outcomes.append(.error(cronID: first.id, message: "\(error)"))
                    }
                    return outcomes
                }
            }
            var all: [CronOutcome] = []
            for await outcomes in group { all += outcomes }
            return all
        }
    }

    // MARK: One cron

    /// What happened in the first transaction.
    private enum Attempt {
        case notClaimed
        case created(CronRecord, CreatedBuild, nextRun: Date)
        case recorded(CronRecord, buildID: Int64?, reason: String, nextRun: Date)
    }

    /// Invokes one cron if it is still due and not claimed by anyone else (see the type's notes).
    public func invoke(_ key: CronKey, now: Date, on connection: PostgresConnection) async -> CronOutcome {
        var claimed: CronRecord?
        let attempt: Attempt
        do {
            attempt = try await connection.withTransaction { connection in
                guard let cron = try await CronStore(connection).claim(id: key.id, dueBy: now) else { return .notClaimed }
                claimed = cron
                let invokedAt = max(clock(), now)
                let nextRun = cron.schedule.next(after: invokedAt)
                guard let owner = cron.owner else {
                    try await CronStore(connection).advance(cronID: cron.id, invokedAt: invokedAt, nextRun: nextRun, buildID: nil)
                    return .recorded(cron, buildID: nil, reason: "the owner (user \(cron.userID)) no longer exists", nextRun: nextRun)
                }
                switch Self.prepare(cron, owner: owner, enabledDrivers: submitter.enabledDrivers) {
                case .success(let request):
                    let build = try await submitter.create(request, on: connection)
                    try await CronStore(connection).advance(cronID: cron.id, invokedAt: invokedAt, nextRun: nextRun, buildID: build.id)
                    return .created(cron, build, nextRun: nextRun)
                case .failure(let rejection):
                    let buildID = try await recordFailure(cron, owner: owner, reason: rejection.reason, invokedAt: invokedAt, nextRun: nextRun, on: connection)
                    return .recorded(cron, buildID: buildID, reason: rejection.reason, nextRun: nextRun)
                }
            }
        } catch {
            guard let cron = claimed, let reason = Self.permanentFailureReason(error) else {
                let name = claimed.map { " (\($0.name))" } ?? ""
                logger.error("cron \(key.id)\(name): \(error); it stays due and is retried next pass")
                return .error(cronID: key.id, message: "\(error)")
            }
            // Everything the build's transaction wrote is rolled back; record the failure in a
            // transaction of its own, if nobody invoked the cron in between.
            do {
                attempt = try await connection.withTransaction { connection in
                    guard let cron = try await CronStore(connection).claim(id: cron.id, nextRun: cron.nextRun) else { return .notClaimed }
                    let invokedAt = max(clock(), now)
                    let nextRun = cron.schedule.next(after: invokedAt)
                    let buildID: Int64? =
                        if let owner = cron.owner {
                            try await recordFailure(cron, owner: owner, reason: reason, invokedAt: invokedAt, nextRun: nextRun, on: connection)
                        } else {
                            nil
                        }
                    if buildID == nil {
                        try await CronStore(connection).advance(cronID: cron.id, invokedAt: invokedAt, nextRun: nextRun, buildID: nil)
                    }
                    return .recorded(cron, buildID: buildID, reason: reason, nextRun: nextRun)
                }
            } catch {
                logger.error("cron \(cron.id) (\(cron.name)): \(reason); recording that failed too: \(error); it stays due and is retried next pass")
                return .error(cronID: cron.id, message: "\(reason); \(error)")
            }
        }

        switch attempt {
        case .notClaimed:
            return .skipped(cronID: key.id)
        case .recorded(let cron, let buildID, let reason, let nextRun):
            let recorded = buildID.map { "recorded as failed build \($0)" } ?? "no build recorded"
            logger.error("cron \(cron.id) (\(cron.name)): \(reason); \(recorded); next run \(CronTimeFormat.format(nextRun))")
            return .failed(cronID: cron.id, buildID: buildID, reason: reason)
        case .created(let cron, let build, _):
            do {
                try await submitter.enqueue(build)
                logger.debug("cron \(cron.id) (\(cron.name)): build \(build.id) queued on \(build.queue)")
                return .submitted(cronID: cron.id, build: build)
            } catch {
                // BuildSubmitter has logged it and marked the build failed.
                return .notQueued(cronID: cron.id, build: build, message: "\(error)")
            }
        }
    }

    /// Writes the failed build (linking it to the cron) and advances the cron; returns the build id.
    private func recordFailure(
        _ cron: CronRecord, owner: UserRecord, reason: String, invokedAt: Date, nextRun: Date, on connection: PostgresConnection
    ) async throws -> Int64 {
        let failed = try await submitter.createFailed(FailedBuildRequest(
            userID: cron.userID, namespaceID: cron.namespaceID, manifestText: cron.manifest,
            trigger: CronInvocation.trigger(for: cron, owner: owner), tags: [CronInvocation.tag(forCronNamed: cron.name)],
            reason: reason), on: connection)
        try await CronStore(connection).advance(cronID: cron.id, invokedAt: invokedAt, nextRun: nextRun, buildID: failed.id)
        return failed.id
    }

    // MARK: Rules

    /// Why a cron cannot become a build before anything is written.
    public struct Rejection: Error, Sendable, Equatable {
        public var reason: String
    }

    /// Parses the manifest and checks its queue key against the enabled drivers (spec §6.4
    /// step 1's messages).
    public static func prepare(_ cron: CronRecord, owner: UserRecord, enabledDrivers: Set<String>) -> Result<BuildRequest, Rejection> {
        let manifest: Manifest
        do {
            manifest = try Manifest(parsing: cron.manifest, file: CronInvocation.manifestSource(for: cron))
        } catch {
            return .failure(Rejection(reason: "invalid manifest: \(error)"))
        }
        do {
            try BuildQueue.check(key: BuildQueue.key(for: manifest.driver), enabled: enabledDrivers)
        } catch {
            return .failure(Rejection(reason: error.description))
        }
        return .success(CronInvocation.request(for: cron, owner: owner, manifest: manifest))
    }

    /// The reason to record when `error` is the cron's own fault and would recur on every
    /// pass; nil for errors that may pass (the cron is then retried).
    static func permanentFailureReason(_ error: any Error) -> String? {
        switch error {
        case let error as BuildSubmissionError:
            if case .enqueueFailed = error { return nil }
            return error.description
        case let error as PostgresError:
            // Class 22: data exception; class 23: integrity constraint violation. Both come from
            // what the cron asks to write, not from the state of the server.
            guard let state = error.sqlState, state.hasPrefix("22") || state.hasPrefix("23") else { return nil }
            return "the database rejected the build: \(error.message)"
        default:
            return nil
        }
    }
}

/// What invoking one cron did.
public enum CronOutcome: Sendable, Equatable {
    /// A build was created and queued.
    case submitted(cronID: Int64, build: CreatedBuild)
    /// A build was created, but queueing it failed (it is marked failed).
    case notQueued(cronID: Int64, build: CreatedBuild, message: String)
    /// The cron could not become a build; a failed build records why (when its owner exists)
    /// and the cron advanced.
    case failed(cronID: Int64, buildID: Int64?, reason: String)
    /// Another scheduler holds or already invoked it.
    case skipped(cronID: Int64)
    /// Nothing was written; the cron is retried next pass.
    case error(cronID: Int64, message: String)
}

/// One page of a pass.
public struct BatchSummary: Sendable {
    public var loaded: Int
    public var outcomes: [CronOutcome]
    public var duration: Duration

    public init(loaded: Int, outcomes: [CronOutcome], duration: Duration) {
        self.loaded = loaded
        self.outcomes = outcomes
        self.duration = duration
    }

    public var submitted: Int { outcomes.count { if case .submitted = $0 { true } else { false } } }
    public var failed: Int { outcomes.count { if case .failed = $0 { true } else { false } } }
    public var skipped: Int { outcomes.count { if case .skipped = $0 { true } else { false } } }
    public var errors: Int {
        outcomes.count {
            switch $0 {
            case .error, .notQueued: true
            default: false
            }
        }
    }
}

/// Every page of a pass.
public struct PassSummary: Sendable {
    /// In the order the pages were claimed.
    public var batches: [BatchSummary] = []

    public init(batches: [BatchSummary] = []) {
        self.batches = batches
    }

    public var outcomes: [CronOutcome] { batches.flatMap(\.outcomes) }
    public var submitted: Int { batches.reduce(0) { $0 + $1.submitted } }
    public var failed: Int { batches.reduce(0) { $0 + $1.failed } }
    public var skipped: Int { batches.reduce(0) { $0 + $1.skipped } }
    public var errors: Int { batches.reduce(0) { $0 + $1.errors } }
}

/// Hands out a page's crons in order, never two of one owner at once (see `invoke`).
final class CronDispatcher: Sendable {
    private struct State {
        var pending: [CronKey]
        var busyOwners: Set<Int64> = []
    }

    private let state: Mutex<State>
    private let shouldStop: @Sendable () -> Bool

    init(_ keys: [CronKey], shouldStop: @escaping @Sendable () -> Bool) {
        state = Mutex(State(pending: keys))
        self.shouldStop = shouldStop
    }

    /// Frees `finished`'s owner and returns the next cron to invoke; nil when none is left,
    /// when every cron left belongs to an owner another connection is busy with (that
    /// connection invokes them), or when stopping.
    func take(finished: CronKey?) -> CronKey? {
        state.withLock { state in
            if let finished { state.busyOwners.remove(finished.userID) }
            guard !shouldStop(), let index = state.pending.firstIndex(where: { !state.busyOwners.contains($0.userID) }) else {
                return nil
            }
            let key = state.pending.remove(at: index)
            state.busyOwners.insert(key.userID)
            return key
        }
    }

    /// Frees `key`'s owner without taking another cron.
    func release(_ key: CronKey) {
        _ = state.withLock { $0.busyOwners.remove(key.userID) }
    }
}
