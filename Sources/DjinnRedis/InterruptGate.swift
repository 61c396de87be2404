import Synchronization

#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// Lets another thread interrupt one blocking hiredis call by shutting its socket down.
///
/// The connection thread `arm`s the gate with the socket before the call and `disarm`s it
/// after; `fire` (task cancellation, close) shuts the socket only while armed, under the
/// lock, so it can never hit a descriptor that was already closed and reused. Fired before
/// arming, the call is not started at all.
final class InterruptGate: Sendable {
    private struct State {
        var fileDescriptor: Int32?
        var fired = false
    }

    private let state = Mutex(State())

    /// Returns false if the gate already fired: the caller must not start the call.
    func arm(fileDescriptor: Int32) -> Bool {
        state.withLock { state in
            if state.fired { return false }
            state.fileDescriptor = fileDescriptor
            return true
        }
    }

    func disarm() {
        state.withLock { $0.fileDescriptor = nil }
    }

    func fire() {
        state.withLock { state in
            state.fired = true
            if let fd = state.fileDescriptor {
                _ = shutdown(fd, Int32(SHUT_RDWR))
            }
        }
    }

    var hasFired: Bool { state.withLock { $0.fired } }
}
