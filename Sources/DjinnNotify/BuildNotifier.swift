import DjinnConfig
import DjinnCrypto
import DjinnPostgres
import Foundation
import Logging

/// What the worker's notifications need from its configuration.
public struct NotifierConfiguration: Sendable {
    /// Without it no mail is sent.
    public var smtp: SMTPSettings?
    /// `provider` blocks by name (`github`, `gitlab`): the API endpoints for commit statuses.
    public var providers: [String: ProviderSettings]
    /// Decrypts webhook secrets and provider tokens.
    public var cipher: DjinnCipher?
    /// `$DJINN_API_SERVER`: the prefix of the URLs in payloads (and of a cron build's link).
    public var apiServer: String
    /// Outbound calls at once (the worker's parallelism).
    public var concurrency: Int
    public var webhookTimeout: Duration
    public var statusTimeout: Duration
    public var mailTimeout: Duration
    public var retry: RetryPolicy
    /// How long in-flight deliveries may go on once the daemon stops.
    public var shutdownGrace: Duration
    /// An extra CA file for https (tests); nil: the system roots.
    public var caFile: String?
    /// The From host when neither `smtp.admin` nor a server URL gives one.
    public var fallbackHost: String

    public init(
        smtp: SMTPSettings? = nil, providers: [String: ProviderSettings] = [:], cipher: DjinnCipher? = nil,
        apiServer: String = "", concurrency: Int = 4, webhookTimeout: Duration = .seconds(60),
        statusTimeout: Duration = .seconds(30), mailTimeout: Duration = .seconds(60), retry: RetryPolicy = RetryPolicy(),
        shutdownGrace: Duration = .seconds(5), caFile: String? = nil, fallbackHost: String = NotifierConfiguration.localHostName()
    ) {
        self.smtp = smtp
        self.providers = providers
        self.cipher = cipher
        self.apiServer = apiServer
        self.concurrency = concurrency
        self.webhookTimeout = webhookTimeout
        self.statusTimeout = statusTimeout
        self.mailTimeout = mailTimeout
        self.retry = retry
        self.shutdownGrace = shutdownGrace
        self.caFile = caFile
        self.fallbackHost = fallbackHost
    }
}

extension NotifierConfiguration {
    /// gethostname(2), without the DNS lookup Foundation's `hostName` may do.
    public static func localHostName() -> String {
        var buffer = [CChar](repeating: 0, count: 256)
        guard gethostname(&buffer, buffer.count - 1) == 0 else { return "localhost" }
        let bytes = buffer.prefix { $0 != 0 }.map { UInt8(bitPattern: $0) }
        let name = String(decoding: bytes, as: UTF8.self)
        return name.isEmpty ? "localhost" : name
    }
}

/// The worker's notifications (spec §4.9–4.11, intended behaviour): `build.started` and
/// `build.finished` webhooks, commit statuses for pull-request builds, and the failure mail.
///
/// The build is read from the database when the event happens (a few quick queries); every
/// outbound call then goes to the background `DeliveryQueue`, so nothing here can fail or
/// delay a build: errors are logged. A build's commit statuses go out in order (one lane).
public final class BuildNotifier: Sendable {
    public let configuration: NotifierConfiguration
    public let queue: DeliveryQueue
    public let store: NotificationStore
    public let webhooks: WebhookDispatcher
    private let poster: HTTPPoster
    private let mailer: SMTPMailer?
    private let logger: Logger

    public init(configuration: NotifierConfiguration, database: any PostgresQueryable, logger: Logger) {
        self.configuration = configuration
        self.logger = logger
        queue = DeliveryQueue(concurrency: configuration.concurrency, logger: logger)
        store = NotificationStore(database)
        poster = HTTPPoster(caFile: configuration.caFile)
        mailer = configuration.smtp.map { SMTPMailer(settings: $0, timeout: configuration.mailTimeout) }
        webhooks = WebhookDispatcher(
            database: database, cipher: configuration.cipher, poster: poster, queue: queue, retry: configuration.retry,
            timeout: configuration.webhookTimeout, logger: logger)
    }

    /// The build is about to run: commit statuses `queued` (its status as loaded, as Go
    /// posts it) and `running`, and `build.started` with status `running`.
    public func buildStarted(buildID: Int64, host: String) async {
        guard var build = await snapshot(buildID) else { return }
        let loadedStatus = build.status
        build.status = "running"
        // The run writes started_at a moment later; the event says when it was sent off.
        build.startedAt = build.startedAt ?? Date()
        let serverURL = serverURL(host)
        await postCommitStatuses(build, statuses: [loadedStatus, "running"], serverURL: serverURL)
        if let namespaceID = build.namespaceID {
            await webhooks.dispatch(
                .buildStarted, namespaceID: namespaceID, payload: EventPayloads.build(build, apiServer: apiServer(serverURL)),
                lane: "build-\(buildID)")
        }
    }

    /// The build reached `status` (and was recorded): `build.finished`, the final commit
    /// status, and for failed, killed and timed-out builds the mail.
    public func buildFinished(buildID: Int64, status: String, host: String) async {
        guard var build = await snapshot(buildID) else { return }
        build.status = status
        let serverURL = serverURL(host)
        if let namespaceID = build.namespaceID {
            await webhooks.dispatch(
                .buildFinished, namespaceID: namespaceID, payload: EventPayloads.build(build, apiServer: apiServer(serverURL)),
                lane: "build-\(buildID)")
        }
        await postCommitStatuses(build, statuses: [status], serverURL: serverURL)
        if FailureMail.statuses.contains(status) { await mailFailure(build, serverURL: serverURL) }
    }

    /// Lets in-flight deliveries finish within the grace period, then abandons them.
    public func shutdown() async {
        await queue.shutdown(grace: configuration.shutdownGrace)
    }

    // MARK: Parts

    private func snapshot(_ buildID: Int64) async -> BuildSnapshot? {
        do {
            guard let build = try await store.build(id: buildID) else {
                logger.warning("build \(buildID) is gone: no notifications")
                return nil
            }
            return build
        } catch {
            logger.error("cannot read build \(buildID) for its notifications: \(error)")
            return nil
        }
    }

    /// `Payload.Host` when it is a URL (builds from the server); else `$DJINN_API_SERVER`
    /// (cron builds carry `djinn-scheduler`).
    func serverURL(_ host: String) -> String {
        let lower = host.lowercased()
        if lower.hasPrefix("http://") || lower.hasPrefix("https://") || configuration.apiServer.isEmpty {
            return host.hasSuffix("/") ? String(host.dropLast()) : host
        }
        return configuration.apiServer
    }

    private func apiServer(_ serverURL: String) -> String {
        configuration.apiServer.isEmpty ? serverURL : configuration.apiServer
    }

    private func mailFailure(_ build: BuildSnapshot, serverURL: String) async {
        guard let mailer else { return }
        var collaborators: [String] = []
        if let namespaceID = build.namespaceID {
            do {
                collaborators = try await store.collaboratorEmails(namespaceID: namespaceID)
            } catch {
                logger.error("cannot read the collaborators of namespace \(namespaceID): \(error); mailing the owner only")
            }
        }
        let message = FailureMail.message(
            for: build, collaborators: collaborators, serverURL: serverURL, admin: mailer.settings.admin,
            fallbackHost: configuration.fallbackHost)
        guard !message.recipients.isEmpty else { return }
        let retry = configuration.retry
        let logger = self.logger
        queue.submit("the failure mail of build \(build.id)") {
            logger.debug("sending mail from \(message.from)")
            logger.debug("sending mail to \(message.recipients)")
            for attempt in 1...retry.attempts {
                if attempt > 1 {
                    do { try await Task.sleep(for: retry.delay(before: attempt)) } catch { return }
                }
                do {
                    try await mailer.send(message)
                    logger.info("failure mail of build \(build.id) sent to \(message.recipients.count) recipient(s)")
                    return
                } catch {
                    if Task.isCancelled {
                        logger.warning("failure mail of build \(build.id) abandoned at shutdown: \(error)")
                        return
                    }
                    if attempt == retry.attempts {
                        logger.error("failure mail of build \(build.id) not sent after \(attempt) attempts, giving up: \(error)")
                    } else {
                        logger.info("failure mail of build \(build.id): attempt \(attempt) failed, retrying: \(error)")
                    }
                }
            }
        }
    }

    /// Commit statuses are for pull-request triggers with a provider and a repository.
    private func postCommitStatuses(_ build: BuildSnapshot, statuses: [String], serverURL: String) async {
        guard let trigger = build.trigger, trigger.type == "pull", let providerID = trigger.providerID,
            let repoRowID = trigger.repoID
        else { return }
        let requests: [CommitStatusRequest]
        do {
            guard let made = try await commitStatusRequests(build, trigger: trigger, providerID: providerID, repoRowID: repoRowID,
                                                            statuses: statuses, serverURL: serverURL)
            else { return }
            requests = made
        } catch {
            logger.error("build \(build.id): cannot prepare its commit status: \(error)")
            return
        }
        let poster = self.poster
        let timeout = configuration.statusTimeout
        let retry = configuration.retry
        let logger = self.logger
        for request in requests {
            let state = request.body["state"].map { $0.encoded() } ?? ""
            queue.submit(lane: "build-\(build.id)-status", "commit status \(state) of build \(build.id)") {
                for attempt in 1...retry.attempts {
                    if attempt > 1 {
                        do { try await Task.sleep(for: retry.delay(before: attempt)) } catch { return }
                    }
                    var reason: String
                    do {
                        let response = try await poster.post(
                            url: request.url, headers: request.headers, body: Array(request.body.encoded().utf8), timeout: timeout)
                        if response.status == 201 {
                            logger.debug("build \(build.id): commit status \(state) set")
                            return
                        }
                        reason = "HTTP \(response.status): \(String(decoding: response.body.prefix(200), as: UTF8.self))"
                    } catch {
                        reason = "\(error)"
                    }
                    if Task.isCancelled { return }
                    if attempt == retry.attempts {
                        logger.error("build \(build.id): commit status \(state) not set after \(attempt) attempts: \(reason)")
                    } else {
                        logger.info("build \(build.id): commit status \(state), attempt \(attempt) failed, retrying: \(reason)")
                    }
                }
            }
        }
    }

    private func commitStatusRequests(
        _ build: BuildSnapshot, trigger: TriggerSnapshot, providerID: Int64, repoRowID: Int64, statuses: [String],
        serverURL: String
    ) async throws -> [CommitStatusRequest]? {
        guard let provider = try await store.provider(id: providerID) else {
            logger.warning("build \(build.id): provider \(providerID) is gone: no commit status")
            return nil
        }
        guard let kind = CommitStatusRequest.Provider(rawValue: provider.name) else {
            logger.warning("build \(build.id): unknown provider \(provider.name): no commit status")
            return nil
        }
        guard let settings = configuration.providers[provider.name] else {
            logger.warning("build \(build.id): no \"provider \(provider.name)\" block in the worker's configuration: no commit status")
            return nil
        }
        guard let sealed = provider.sealedToken, !sealed.isEmpty else {
            logger.warning("build \(build.id): provider \(providerID) has no access token: no commit status")
            return nil
        }
        guard let cipher = configuration.cipher else {
            logger.warning("build \(build.id): no crypto block to decrypt the provider token: no commit status")
            return nil
        }
        let token: String
        do {
            token = String(decoding: try cipher.decrypt(sealed), as: UTF8.self)
        } catch {
            logger.warning("build \(build.id): cannot decrypt the provider token (\(error)): no commit status")
            return nil
        }
        guard let repo = try await store.repo(id: repoRowID, providerID: providerID) else {
            logger.warning("build \(build.id): repository \(repoRowID) of provider \(providerID) is gone: no commit status")
            return nil
        }
        guard let sha = trigger.data["sha"], !sha.isEmpty else {
            logger.warning("build \(build.id): the trigger has no sha: no commit status")
            return nil
        }
        let targetURL = "\(serverURL)/b/\(build.owner.username)/\(build.number)"
        return statuses.map {
            CommitStatusRequest(
                provider: kind, endpoint: settings.endpoint, repoName: repo.name, repoID: repo.repoID, sha: sha, status: $0,
                targetURL: targetURL, token: token)
        }
    }
}
