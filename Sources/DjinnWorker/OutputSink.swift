import DjinnRunner
import Synchronization

/// Which buffer a stream of output goes to.
enum OutputStream: Hashable, Sendable {
    /// A job's output (and the build output).
    case job(Int64)
    /// The build output only (the driver's output when the build has no create-driver job).
    case buildOnly
}

/// A build's `BuildOutput` shared by the task that runs the build (which takes the stored-text
/// updates and writes them) and the tasks that produce output (a running job, the driver).
///
/// Only the open stream is written to: output that arrives for a stream that was closed (a
/// job that was aborted and is still draining) is dropped, so it can never end up in the next
/// job's output. A writer holds the lock while its chunk is masked and sanitised, so a
/// producer cannot run ahead of the buffer: memory stays bounded however fast a job prints.
final class OutputSink: Sendable {
    private struct State {
        var output: BuildOutput
        var open: OutputStream?
    }

    private let state: Mutex<State>

    init(masks: [String], jobLimits: OutputLimits = .standard, buildLimits: OutputLimits = .standard) {
        state = Mutex(State(output: BuildOutput(masks: masks, jobLimits: jobLimits, buildLimits: buildLimits)))
    }

    /// Opens `stream` (ending the open one).
    func open(_ stream: OutputStream) {
        state.withLock { state in
            guard state.open != stream else { return }
            state.output.beginStream(jobID: stream.jobID)
            state.open = stream
        }
    }

    /// Ends `stream` if it is the open one (releasing what masking held back).
    func close(_ stream: OutputStream) {
        state.withLock { state in
            guard state.open == stream else { return }
            state.output.endStream()
            state.open = nil
        }
    }

    /// Writes to `stream` if it is open; returns false (and drops the bytes) otherwise.
    @discardableResult
    func write(_ bytes: [UInt8], to stream: OutputStream) -> Bool {
        state.withLock { state in
            guard state.open == stream else { return false }
            state.output.write(bytes)
            return true
        }
    }

    @discardableResult
    func write(_ text: String, to stream: OutputStream) -> Bool {
        write(Array(text.utf8), to: stream)
    }

    /// Opens `stream` if needed and writes to it.
    func openAndWrite(_ text: String, to stream: OutputStream) {
        state.withLock { state in
            if state.open != stream {
                state.output.beginStream(jobID: stream.jobID)
                state.open = stream
            }
            state.output.write(Array(text.utf8))
        }
    }

    /// The runner's own lines: build output only (ends the open stream).
    func writeBuildText(_ text: String) {
        state.withLock { state in
            state.output.writeBuildText(text)
            state.open = nil
        }
    }

    func takeJobUpdate(_ id: Int64, final: Bool) -> StoredTextUpdate? {
        state.withLock { $0.output.takeJobUpdate(id, final: final) }
    }

    func takeBuildUpdate(final: Bool) -> StoredTextUpdate? {
        state.withLock { $0.output.takeBuildUpdate(final: final) }
    }

    func invalidateJob(_ id: Int64) {
        state.withLock { $0.output.invalidateStoredJob(id) }
    }

    func invalidateBuild() {
        state.withLock { $0.output.invalidateStoredBuild() }
    }

    /// Frees a finished job's buffer.
    func discardJob(_ id: Int64) {
        state.withLock { state in
            if state.open == .job(id) { state.open = nil }
            state.output.discardJob(id)
        }
    }

    func renderBuild() -> String {
        state.withLock { $0.output.renderBuild() }
    }

    var storageCapacity: Int {
        state.withLock { $0.output.storageCapacity }
    }
}

extension OutputStream {
    var jobID: Int64? {
        if case .job(let id) = self { return id }
        return nil
    }
}
