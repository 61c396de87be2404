import Synchronization

/// True for the first caller of `claim()` only (process-wide set-up such as logging).
final class OnceFlag: Sendable {
    private let claimed = Mutex(false)

    func claim() -> Bool {
        claimed.withLock { done in
            if done { return false }
            done = true
            return true
        }
    }
}
