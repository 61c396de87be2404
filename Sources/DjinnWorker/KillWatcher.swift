import DjinnRedis
import Logging
import Synchronization

/// Listens for `PUBLISH kill-<build id> <secret>` (spec §3.8, §4.7) on one subscriber
/// connection for the whole worker; each running build subscribes to its own channel.
///
/// A message whose payload is not the build's secret is ignored and the build keeps
/// listening (Go examines only the first message).
public final class KillWatcher: Sendable {
    private struct Watch {
        let token: Int
        let secret: [UInt8]
        let onKill: @Sendable () -> Void
    }

    private let subscriber: RedisSubscriber
    private let logger: Logger
    private let watches = Mutex<(next: Int, byBuild: [Int64: Watch])>((0, [:]))
    private let listener = Mutex<Task<Void, Never>?>(nil)
    /// How long `watch` waits for the server to confirm the subscription before the build
    /// starts anyway (the subscription stands and takes effect when Redis answers).
    public let confirmationTimeout: Duration

    public init(subscriber: RedisSubscriber, logger: Logger, confirmationTimeout: Duration = .seconds(5)) {
        self.subscriber = subscriber
        self.logger = logger
        self.confirmationTimeout = confirmationTimeout
        let messages = subscriber.messages
        let task = Task { [weak self] in
            for await message in messages {
                self?.deliver(message)
            }
        }
        listener.withLock { $0 = task }
    }

    static func channel(buildID: Int64) -> String { "kill-\(buildID)" }

    /// Subscribes to the build's kill channel; `onKill` runs (once per matching message) when
    /// a message carrying `secret` arrives. Returns a token for `unwatch`.
    public func watch(buildID: Int64, secret: String, onKill: @escaping @Sendable () -> Void) async -> Int {
        let token = watches.withLock { state in
            state.next += 1
            state.byBuild[buildID] = Watch(token: state.next, secret: Array(secret.utf8), onKill: onKill)
            return state.next
        }
        let subscriber = self.subscriber
        let channel = Self.channel(buildID: buildID)
        let confirmed = await Self.confirmed(within: confirmationTimeout) { try await subscriber.subscribe([channel]) }
        if !confirmed {
            logger.warning("kill channel subscription not confirmed yet; the build runs anyway", metadata: [
                "build_id": "\(buildID)",
            ])
        }
        return token
    }

    /// Stops listening for the build (if `token` is still its watch). Waits for the server's
    /// confirmation (at most `confirmationTimeout`), so that a later `watch` of the same build
    /// (a redelivery) cannot be undone by this unsubscription.
    public func unwatch(buildID: Int64, token: Int) async {
        let removed = watches.withLock { state -> Bool in
            guard state.byBuild[buildID]?.token == token else { return false }
            state.byBuild[buildID] = nil
            return true
        }
        guard removed else { return }
        let subscriber = self.subscriber
        let channel = Self.channel(buildID: buildID)
        _ = await Self.confirmed(within: confirmationTimeout) { try await subscriber.unsubscribe([channel]) }
    }

    /// Runs `change` (a subscription change, which registers at once and then waits for the
    /// server); true if the server confirmed within `timeout`.
    private static func confirmed(within timeout: Duration, _ change: @escaping @Sendable () async throws -> Void) async -> Bool {
        await withTaskGroup(of: Bool.self) { group in
            group.addTask {
                do {
                    try await change()
                    return true
                } catch {
                    return false
                }
            }
            group.addTask {
                try? await Task.sleep(for: timeout)
                return false
            }
            let first = await group.next() ?? false
            group.cancelAll()
            return first
        }
    }

    public func close() async {
        await subscriber.close()
        let task = listener.withLock { $0 }
        await task?.value
    }

    private func deliver(_ message: RedisMessage) {
        guard message.channel.hasPrefix("kill-"), let buildID = Int64(message.channel.dropFirst("kill-".count)) else { return }
        let watch = watches.withLock { $0.byBuild[buildID] }
        guard let watch else { return }
        guard Self.constantTimeEqual(message.payload, watch.secret) else {
            logger.warning("ignored a kill message with the wrong secret", metadata: ["build_id": "\(buildID)"])
            return
        }
        logger.debug("kill signal received for build \(buildID)")
        watch.onKill()
    }

    static func constantTimeEqual(_ a: [UInt8], _ b: [UInt8]) -> Bool {
        guard a.count == b.count else { return false }
        var difference: UInt8 = 0
        for index in a.indices { difference |= a[index] ^ b[index] }
        return difference == 0
    }
}
