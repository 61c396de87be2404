/// The output of one build: the build buffer and one buffer per job (spec §4.5).
///
/// Bytes are written to the open *stream*: a job's output (the script's merged stdout and
/// stderr, artifact lines), the driver's output (routed to the create-driver job), or text
/// for the build only. Every stream goes masker → sanitizer → its job buffer (if any) and
/// the build buffer, so what reaches any buffer is masked, valid UTF-8 without NUL.
///
/// Deliberate difference from Go: driver output and the runner's own lines are masked too
/// (the issue asks for masked values to be replaced in every stored byte). Another: the
/// failure mail's tail comes from the bounded, sanitised build buffer, not a raw one.
///
/// A stream's masker holds back up to (longest mask − 1) bytes; they are released when the
/// stream ends. Opening another stream, or writing runner text, ends the open one first, so
/// the build buffer keeps the order in which things happened.
public struct BuildOutput: Sendable {
    public let jobLimits: OutputLimits
    public private(set) var build: BoundedOutput
    private var jobs: [Int64: BoundedOutput] = [:]
    private let masker: OutputMasker
    private var stream: Stream?

    private struct Stream: Sendable {
        let jobID: Int64?
        var masker: OutputMasker
        var sanitizer = OutputSanitizer()
    }

    public init(masks: [String], jobLimits: OutputLimits = .standard, buildLimits: OutputLimits = .standard) {
        self.jobLimits = jobLimits
        self.build = BoundedOutput(limits: buildLimits)
        self.masker = OutputMasker(masks: masks)
    }

    /// The job the open stream writes to (nil: none, or a build-only stream).
    public var openJobID: Int64? { stream?.jobID }

    /// Opens a stream for this job's output (or, with nil, for the build output only).
    public mutating func beginStream(jobID: Int64?) {
        endStream()
        if let jobID, jobs[jobID] == nil { jobs[jobID] = BoundedOutput(limits: jobLimits) }
        stream = Stream(jobID: jobID, masker: masker)
    }

    /// Writes raw bytes to the open stream (a build-only stream is opened if none is).
    public mutating func write(_ bytes: [UInt8]) {
        if stream == nil { beginStream(jobID: nil) }
        guard stream != nil else { return }
        let masked = stream!.masker.process(bytes)
        let clean = stream!.sanitizer.process(masked)
        deliver(clean, to: stream!.jobID)
    }

    public mutating func write(_ text: String) {
        write(Array(text.utf8))
    }

    /// Ends the open stream, releasing what its masker and sanitizer held back.
    public mutating func endStream() {
        guard var open = stream else { return }
        stream = nil
        let masked = open.masker.finish()
        var clean = open.sanitizer.process(masked)
        clean += open.sanitizer.finish()
        deliver(clean, to: open.jobID)
    }

    /// The runner's own lines (`error: job …`): build output only, masked and sanitised.
    public mutating func writeBuildText(_ text: String) {
        beginStream(jobID: nil)
        write(text)
        endStream()
    }

    /// The job's buffer (nil if nothing was ever opened for it).
    public func job(_ id: Int64) -> BoundedOutput? { jobs[id] }

    /// The job's rendered output ("" if it has none — the value stored for jobs that never ran).
    public func renderJob(_ id: Int64) -> String { jobs[id]?.render() ?? "" }

    /// The update for the job's stored output (see `BoundedOutput.takeUpdate`). Bytes still
    /// held back by an open stream are not included until the stream ends.
    public mutating func takeJobUpdate(_ id: Int64, final: Bool = false) -> StoredTextUpdate? {
        if jobs[id] == nil { jobs[id] = BoundedOutput(limits: jobLimits) }
        return jobs[id]?.takeUpdate(final: final)
    }

    public mutating func takeBuildUpdate(final: Bool = false) -> StoredTextUpdate? {
        build.takeUpdate(final: final)
    }

    public mutating func invalidateStoredJob(_ id: Int64) {
        jobs[id]?.invalidateStoredText()
    }

    public mutating func invalidateStoredBuild() {
        build.invalidateStoredText()
    }

    /// Drops a finished job's buffer (after its final row was written) to free its memory.
    public mutating func discardJob(_ id: Int64) {
        if stream?.jobID == id { endStream() }
        jobs[id] = nil
    }

    /// The build's rendered output.
    public func renderBuild() -> String { build.render() }

    /// Storage held by every buffer (for memory-bound checks).
    public var storageCapacity: Int {
        jobs.values.reduce(build.storageCapacity) { $0 + $1.storageCapacity }
    }

    private mutating func deliver(_ bytes: [UInt8], to jobID: Int64?) {
        guard !bytes.isEmpty else { return }
        if let jobID { jobs[jobID, default: BoundedOutput(limits: jobLimits)].write(bytes) }
        build.write(bytes)
    }
}
