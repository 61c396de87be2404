import DjinnConfig
import DjinnJobs
import DjinnNotify
import DjinnPostgres
import DjinnQueue
import Foundation
import Logging

/// Runs one `jobs` queue entry: a gob `DownloadJob` (spec §7, intended behaviour).
///
/// 1. `image_downloads.started_at = now` (and `error`, `finished_at` cleared: a retry is
///    in progress again). No such row: the job is dropped as permanently failed.
/// 2. The `images` row gives the destination `<store>/<user_id>/<driver>/<hash>`. No such
///    row: the download row records the error; the job is done.
/// 3. The download (ImageDownloader), then `error` (NULL on success) and `finished_at`.
///
/// A permanent download error (see DownloadError) is recorded and the job succeeds: trying
/// again cannot help. A transient one is recorded too, and the job fails so that the queue
/// retries it (up to `attempts` runs in all); each retry clears the error when it starts.
/// Database errors fail the job without recording anything (it is retried). Cancellation
/// (shutdown) leaves the row as started: the queue hands the job to the next consumer.
///
/// When the download row is final (downloaded, or failed for good) the `images` event goes
/// to the image's namespace webhooks through `events`, in the background.
public struct DownloadJobHandler: Sendable {
    public let database: any PostgresQueryable
    public let store: StoreSettings
    public let downloader: ImageDownloader
    public let events: ImageEventPublisher?
    private let logger: Logger

    public init(
        database: any PostgresQueryable, store: StoreSettings, downloader: ImageDownloader,
        events: ImageEventPublisher? = nil, logger: Logger
    ) {
        self.database = database
        self.store = store
        self.downloader = downloader
        self.events = events
        self.logger = logger
    }

    /// The queue handler: decodes the payload and performs the job.
    public func handle(_ job: QueueJob) async throws {
        let download: DownloadJob
        do {
            download = try DownloadJob(gob: job.data)
        } catch {
            throw JobFailure.permanent("cannot decode the download job: \(error)")
        }
        try await perform(download, attempt: job.attempt)
    }

    public func perform(_ job: DownloadJob, attempt: Int = 0) async throws {
        let source = DownloadSource(job.source)
        let metadata: Logger.Metadata = [
            "download_id": "\(job.id)", "image_id": "\(job.imageID)", "attempt": "\(attempt)",
        ]
        let logger = self.logger.with(metadata)
        let started = try await database.query(
            "UPDATE image_downloads SET started_at = $1, error = NULL, finished_at = NULL WHERE id = $2",
            [Date(), job.id])
        guard started.affectedRows > 0 else {
            throw JobFailure.permanent("image download \(job.id) does not exist")
        }

        let images = try await database.query(
            "SELECT user_id, driver::text AS driver, hash FROM images WHERE id = $1", [job.imageID])
        guard let image = images.first else {
            logger.warning("image \(job.imageID) does not exist")
            try await finish(job, error: "image \(job.imageID) does not exist")
            return
        }
        let destination = ImageDestination(
            storePath: store.path, userID: try image.decode(Int64.self, column: "user_id"),
            driver: try image.decode(String.self, column: "driver"), hash: try image.decode(String.self, column: "hash"),
            limit: store.limit)

        do {
            try await downloader.download(source, to: destination, metadata: metadata)
        } catch let error as DownloadError {
            try await finish(job, error: error.message)
            if error.isPermanent {
                logger.warning("image download failed: \(error.message)")
                await events?.imageDownloaded(imageID: job.imageID, downloadID: job.id)
                return
            }
            logger.warning("image download failed, will retry: \(error.message)")
            throw error
        }
        try await finish(job, error: nil)
        await events?.imageDownloaded(imageID: job.imageID, downloadID: job.id)
    }

    private func finish(_ job: DownloadJob, error: String?) async throws {
        _ = try await database.query(
            "UPDATE image_downloads SET error = $1, finished_at = $2 WHERE id = $3", [error, Date(), job.id])
    }
}
