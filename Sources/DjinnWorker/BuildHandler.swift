import BlockingIO
import DjinnConfig
import DjinnCrypto
import DjinnJobs
import DjinnPostgres
import DjinnQueue
import DjinnRunner
import Foundation
import Logging

/// A build reached its final status (the hook for the failure mail, webhooks and commit
/// statuses of issue 9).
public struct BuildFinished: Sendable, Equatable {
    public var buildID: Int64
    public var number: Int64
    public var ownerID: Int64
    public var status: BuildStatus
    /// `Payload.Host`: the submitting server's URL, or `djinn-scheduler`.
    public var host: String
}

/// A build is about to run (the hook for `build.started` and the commit statuses before it).
public struct BuildStarted: Sendable, Equatable {
    public var buildID: Int64
    public var number: Int64
    public var ownerID: Int64
    /// `Payload.Host`.
    public var host: String
}

/// Handles one job of `builds_<driver>` (spec §4.1, intended order): decode the payload,
/// load the build, skip it if it already finished, orphan it if an earlier delivery started
/// it, then run it and make sure it ends with a final status.
///
/// * A payload that cannot be decoded, or a build that does not exist: `JobFailure.permanent`.
/// * Cancelled (the worker's shutdown grace is over): the build is stopped, reset to `queued`
///   and `CancellationError` is thrown, so the queue requeues it for the next worker without
///   counting an attempt.
/// * Anything unexpected after the build started: it is finalised `failed` with the reason;
///   only if even that cannot be written is the error thrown (the queue then redelivers the
///   build, which is orphaned and rerun).
/// * A build redelivered after its worker died is orphaned once; if it is redelivered after a
///   second death it is failed instead of being run a third time (so a build that kills its
///   worker cannot end in the queue's dead set while its row says `running`).
public struct BuildHandler: Sendable {
    public let pool: PostgresPool
    public let loader: BuildLoader
    public let recorder: BuildRecorder
    public let cipher: DjinnCipher?
    public let objectsStore: String
    public let artifactsStore: StoreSettings
    public let runSettings: RunSettings
    public let killWatcher: KillWatcher?
    public let makeDriver: @Sendable (BuildDefinition) -> any BuildDriver
    public let onStarted: @Sendable (BuildStarted) async -> Void
    public let onFinished: @Sendable (BuildFinished) async -> Void
    private let logger: Logger

    /// Runs after this many earlier orphanings are failed instead.
    public static let maximumOrphanings = 1

    public init(
        pool: PostgresPool, cipher: DjinnCipher?, objectsStore: String, artifactsStore: StoreSettings,
        runSettings: RunSettings, killWatcher: KillWatcher?, logger: Logger,
        makeDriver: @escaping @Sendable (BuildDefinition) -> any BuildDriver,
        onStarted: @escaping @Sendable (BuildStarted) async -> Void = { _ in },
        onFinished: @escaping @Sendable (BuildFinished) async -> Void = { _ in }
    ) {
        self.pool = pool
        self.loader = BuildLoader(pool)
        self.recorder = BuildRecorder(pool)
        self.cipher = cipher
        self.objectsStore = objectsStore
        self.artifactsStore = artifactsStore
        self.runSettings = runSettings
        self.killWatcher = killWatcher
        self.makeDriver = makeDriver
        self.onStarted = onStarted
        self.onFinished = onFinished
        self.logger = logger
    }

    public func handle(_ job: QueueJob) async throws {
        let payload: BuildPayload
        do {
            payload = try BuildPayload(gob: job.data)
        } catch {
            throw JobFailure.permanent("undecodable build payload: \(error)")
        }
        let id = payload.buildID
        var logger = self.logger
        logger[metadataKey: "build_id"] = "\(id)"
        logger.debug("received build \(id)")

        guard var row = try await loader.row(buildID: id) else {
            throw JobFailure.permanent("build \(id) does not exist")
        }
        // Intended order (spec §12 item 6): a finished build is never run again.
        if row.finishedAt != nil {
            logger.info("build \(id) already finished (\(row.status)); not running it again")
            return
        }
        if row.startedAt != nil || row.status == .running {
            let orphanings = try await pool.query(
                "SELECT count(*) FROM build_tags WHERE build_id = $1 AND name = 'orphaned'", [id]
            )[0].decode(Int.self, at: 0)
            if orphanings >= Self.maximumOrphanings {
                let reason = "the worker running this build stopped unexpectedly \(orphanings + 1) times; not running it again"
                logger.error("failing build \(id): \(reason)")
                try await recorder.failUnfinished(buildID: id, reason: reason)
                await onFinished(finished(row, .failed, host: payload.host))
                return
            }
            logger.info("orphaning build \(id)")
            try await recorder.orphan(buildID: id, ownerID: row.userID, on: pool)
            row.status = .queued
            row.startedAt = nil
        }
        try Task.checkCancellation()

        let definition: BuildDefinition
        do {
            definition = try await loader.definition(of: row)
        } catch let error as BuildLoadError {
            try await recorder.failUnfinished(buildID: id, reason: error.description)
            await onFinished(finished(row, .failed, host: payload.host))
            return
        }
        let (setup, masks) = prepare(definition)
        let files = BlockingThread(name: "build-\(id)-files")
        defer { files.shutdown() }
        let execution = BuildExecution(
            definition: definition, setup: setup, masks: masks, driver: makeDriver(definition), recorder: recorder,
            collector: ArtifactCollector(storePath: artifactsStore.path, limit: artifactsStore.limit, files: files),
            settings: runSettings, logger: logger)

        let watch = await killWatcher?.watch(buildID: id, secret: row.secret) { [logger] in
            logger.info("killing build \(id)")
            execution.kill()
        }
        await onStarted(BuildStarted(buildID: id, number: row.number, ownerID: row.userID, host: payload.host))
        // The run goes on in a task of its own: the handler's cancellation (shutdown) becomes an
        // interruption the run handles, not a cancelled database client halfway through a write.
        let result = await withTaskCancellationHandler {
            await Task { () -> Result<RunOutcome, any Error> in
                do { return .success(try await execution.run()) } catch { return .failure(error) }
            }.value
        } onCancel: {
            execution.interrupt()
        }
        if let watch, let killWatcher { await killWatcher.unwatch(buildID: id, token: watch) }

        switch result {
        case .success(.finished(let status)):
            logger.info("build \(id) finished: \(status)")
            await onFinished(finished(row, status, host: payload.host))
        case .success(.interrupted):
            try await inTaskOfItsOwn { try await recorder.resetToQueued(buildID: id, on: pool) }
            logger.info("build \(id) reset to queued for the next worker")
            throw CancellationError()
        case .failure(let error):
            let reason = OutputSanitizer.string(from: Array(describe(error).utf8))
            logger.error("build \(id) broke down: \(reason)")
            try await inTaskOfItsOwn { try await recorder.failUnfinished(buildID: id, reason: reason) }
            await onFinished(finished(row, .failed, host: payload.host))
        }
    }

    private func finished(_ row: BuildRow, _ status: BuildStatus, host: String) -> BuildFinished {
        BuildFinished(buildID: row.id, number: row.number, ownerID: row.userID, status: status, host: host)
    }

    /// Decrypts the variables and keys and locates the objects (spec §4.2). A secret that
    /// cannot be decrypted fails the build at driver creation (Go places an empty value, §12
    /// item 26); a missing object is reported by the driver and skipped.
    func prepare(_ definition: BuildDefinition) -> (Result<DriverSetup, DriverError>, masks: [String]) {
        var environment: [String] = []
        var masks: [String] = []
        var failure: DriverError?
        for variable in definition.variables {
            var value = variable.value
            if variable.masked {
                switch decrypt(base64: variable.value, what: "masked variable \(variable.key)") {
                case .success(let plain):
                    value = String(decoding: plain, as: UTF8.self)
                    if !value.isEmpty { masks.append(value) }
                case .failure(let error):
                    failure = failure ?? error
                    continue
                }
            }
            environment.append(variable.key + "=" + value)
        }
        var keys: [DriverKey] = []
        for key in definition.keys {
            switch decrypt(key.encryptedKey, what: "key \(key.name)") {
            case .success(let content):
                keys.append(DriverKey(name: key.name, content: content, config: key.config, location: key.location))
            case .failure(let error):
                failure = failure ?? error
            }
        }
        let objects = definition.objects.map { object -> DriverObject in
            guard let owner = object.ownerID, let hash = object.hash else {
                return DriverObject(name: object.name, destination: object.destination, file: .failure(DriverError("object \(object.name) no longer exists")))
            }
            guard SafePaths.isSingleComponent(hash) else {
                return DriverObject(name: object.name, destination: object.destination, file: .failure(DriverError("object \(object.name) has an invalid hash")))
            }
            return DriverObject(name: object.name, destination: object.destination, file: .success("\(objectsStore)/\(owner)/\(hash)"))
        }
        if let failure { return (.failure(failure), masks) }
        return (.success(DriverSetup(environment: environment, keys: keys, objects: objects)), masks)
    }

    private func decrypt(base64 text: String, what: String) -> Result<[UInt8], DriverError> {
        guard let cipher else { return .failure(DriverError("cannot decrypt \(what): the worker has no crypto block")) }
        do {
            return .success(try cipher.decrypt(base64: text))
        } catch {
            return .failure(DriverError("cannot decrypt \(what): \(error)"))
        }
    }

    private func decrypt(_ sealed: [UInt8], what: String) -> Result<[UInt8], DriverError> {
        guard let cipher else { return .failure(DriverError("cannot decrypt \(what): the worker has no crypto block")) }
        do {
            return .success(try cipher.decrypt(sealed))
        } catch {
            return .failure(DriverError("cannot decrypt \(what): \(error)"))
        }
    }
}

/// Runs `body` in a task that does not inherit the caller's cancellation (database writes
/// that must happen even though the worker is shutting down), retrying a few times.
func inTaskOfItsOwn(_ body: @escaping @Sendable () async throws -> Void) async throws {
    try await Task {
        var delay = Duration.milliseconds(250)
        for attempt in 1... {
            do {
                try await body()
                return
            } catch {
                if attempt >= 5 { throw error }
                try? await Task.sleep(for: delay)
                delay *= 2
            }
        }
    }.value
}
