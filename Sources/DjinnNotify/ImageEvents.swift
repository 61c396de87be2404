import DjinnCrypto
import DjinnPostgres
import Foundation
import Logging

/// The consumer's `images` event (spec §7 step 5) through the same webhook delivery as the
/// worker's build events.
public final class ImageEventPublisher: Sendable {
    public let queue: DeliveryQueue
    public let webhooks: WebhookDispatcher
    public let store: NotificationStore
    public let apiServer: String
    public let shutdownGrace: Duration
    private let logger: Logger

    public init(
        database: any PostgresQueryable, cipher: DjinnCipher?, apiServer: String, concurrency: Int,
        retry: RetryPolicy = RetryPolicy(), timeout: Duration = .seconds(60), shutdownGrace: Duration = .seconds(5),
        caFile: String? = nil, logger: Logger
    ) {
        queue = DeliveryQueue(concurrency: concurrency, logger: logger)
        webhooks = WebhookDispatcher(
            database: database, cipher: cipher, poster: HTTPPoster(caFile: caFile), queue: queue, retry: retry,
            timeout: timeout, logger: logger)
        store = NotificationStore(database)
        self.apiServer = apiServer
        self.shutdownGrace = shutdownGrace
        self.logger = logger
    }

    /// Sends `images` (`action: downloaded`) to the image's namespace webhooks, if it has a
    /// namespace. Never throws: errors are logged.
    public func imageDownloaded(imageID: Int64, downloadID: Int64) async {
        do {
            guard let image = try await store.image(id: imageID, downloadID: downloadID), let namespaceID = image.namespaceID
            else { return }
            await webhooks.dispatch(.images, namespaceID: namespaceID, payload: EventPayloads.imageDownloaded(image, apiServer: apiServer))
        } catch {
            logger.error("cannot read image \(imageID) for its event: \(error)")
        }
    }

    public func shutdown() async {
        await queue.shutdown(grace: shutdownGrace)
    }
}
