#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif
import DjinnConfig
import DjinnRunner
import DockerEngine
import Foundation
import Logging
import Synchronization

/// The docker driver's settings for one build (spec §5.1): `host` and `version` from
/// driver.conf's `driver docker {…}`, `image` and `workspace` from the manifest's `driver:`
/// map. As Go Djinn, the manifest's values replace the file's even when absent (then empty).
public struct DockerDriverConfiguration: Sendable, Equatable {
    public var host: String
    public var version: String
    public var image: String
    public var workspace: String

    public init(host: String, version: String, image: String, workspace: String) {
        self.host = host
        self.version = version
        self.image = image
        self.workspace = workspace
    }

    /// The merged settings, or why a build cannot run with them (printed as the driver's
    /// creation error: the build fails, the worker goes on).
    public static func merge(file: DockerDriverSettings?, manifest: [String: String]) -> Result<Self, DriverError> {
        let configuration = Self(
            host: file?.host ?? "", version: file?.version ?? "", image: (manifest["image"] ?? "").trimmed,
            workspace: (manifest["workspace"] ?? "").trimmed)
        guard file != nil else {
            return .failure(DriverError("docker driver: driver.conf has no \"driver docker { host … }\" block"))
        }
        guard !configuration.host.trimmed.isEmpty else {
            return .failure(DriverError("docker driver: driver.conf's docker block has no host (e.g. host \"unix:///var/run/docker.sock\")"))
        }
        guard !configuration.image.isEmpty else {
            return .failure(DriverError("docker driver: the manifest's driver block has no image"))
        }
        guard !configuration.workspace.isEmpty else {
            return .failure(DriverError("docker driver: the manifest's driver block has no workspace"))
        }
        guard configuration.workspace.hasPrefix("/"), SafePaths.components(configuration.workspace) != nil,
            !configuration.workspace.utf8.contains(0)
        else {
            return .failure(DriverError(
                "docker driver: workspace \(configuration.workspace) must be an absolute directory other than /"))
        }
        return .success(configuration)
    }

    /// The workspace as a clean absolute path (`/a/./b/` → `/a/b`).
    var workspacePath: String { "/" + (SafePaths.components(workspace) ?? []).joined(separator: "/") }
}

/// The docker driver (spec §5.5, intended form), on the Docker Engine API over its unix socket.
///
/// * Create: checks the daemon, uses the image if the daemon has it and pulls it otherwise
///   (a missing image that cannot be pulled fails the build with the daemon's reason),
///   creates a volume for the workspace and a helper container (never started) that mounts
///   it; objects are copied into the volume through the helper.
/// * Each job: the script goes into the volume as `WORKSPACE/.djinn/<job>.sh` (mode 0755);
///   a container from the image runs `/bin/sh WORKSPACE/.djinn/<job>.sh` in WORKSPACE with
///   the build's variables (keys copied to `/root/.ssh` first); its output is streamed from
///   the Engine's log stream as it comes; its exit code decides the job; it is removed
///   when it ends.
/// * Artifacts are read out of the volume through the helper (`GET …/archive`).
/// * `abort()` kills the running container; `destroy()` removes every container and volume
///   of the build — found by the build's own label, so one created while a request was
///   being cancelled goes too.
/// * A worker killed with SIGKILL cannot destroy anything. Everything also carries the
///   build's identity (database and id, as one Docker host may serve several installations),
///   and `create()` first removes what an earlier attempt at the same build left (the queue
///   runs a build on one worker at a time, so nothing of it can still be running).
public final class DockerDriver: BuildDriver {
    public static let labelKey = "org.djinn-ci.driver"
    public static let buildLabelKey = "org.djinn-ci.build"

    public let configuration: DockerDriverConfiguration
    /// The label value that marks this build's containers and volume.
    public let instance: String
    /// The build this driver runs, `<database>@<addr>/<id>`, when known: its containers and
    /// volume carry it.
    public let build: String?
    /// Where artifacts are spooled (an unlinked file) before the store copies them.
    public let temporaryDirectory: String
    private let logger: Logger
    private let state = Mutex(State())

    private struct State {
        var client: DockerEngineClient?
        var volume: String?
        var helper: String?
        /// The job container that runs now, if any.
        var running: String?
        var environment: [String] = []
        /// `root/.ssh/…` for each job container, when the build has keys.
        var keysArchive: [UInt8]?
        var aborted = false
    }

    public init(
        configuration: DockerDriverConfiguration, build: String? = nil,
        temporaryDirectory: String = FileManager.default.temporaryDirectory.path, logger: Logger
    ) {
        self.configuration = configuration
        self.instance = UUID().uuidString.lowercased()
        self.build = build
        self.temporaryDirectory = temporaryDirectory
        self.logger = logger
    }

    var label: String { "\(Self.labelKey)=\(instance)" }
    var labels: [String: String] {
        var labels = [Self.labelKey: instance]
        if let build { labels[Self.buildLabelKey] = build }
        return labels
    }
    var workspace: String { configuration.workspacePath }

    // MARK: Creating

    public func create(_ setup: DriverSetup, output: DriverOutput) async throws {
        output.write("Running with Docker driver...\n")
        let client: DockerEngineClient
        do {
            client = try DockerEngineClient(host: configuration.host, apiVersion: configuration.version)
        } catch {
            throw DriverError("\(error)")
        }
        state.withLock { $0.client = client }
        let engine: EngineVersion
        do {
            engine = try await client.version()
        } catch let error as DockerEngineError {
            throw DriverError("cannot reach the Docker daemon at \(configuration.host): \(error)")
        }
        output.write("Using Docker API version \(client.apiVersion.isEmpty ? engine.apiVersion : client.apiVersion)...\n")
        await removeEarlierAttempts(client)

        let image = configuration.image
        var found = try await client.inspectImage(image)
        if found == nil {
            output.write("Pulling image \(image)...\n")
            do {
                try await client.pullImage(image)
            } catch let error as DockerEngineError {
                throw DriverError("image \(image) is not on the Docker host and cannot be pulled: \(Self.message(error))")
            }
            found = try await client.inspectImage(image)
        }
        guard let found else { throw DriverError("image \(image) is not on the Docker host after pulling it") }
        output.write("Using Docker image \(image) - \(found.id)...\n\n")
        try checkAborted()

        let volume = try await client.createVolume(labels: labels)
        state.withLock { $0.volume = volume }
        try checkAborted()
        let helper = try await client.createContainer(ContainerCreateRequest(
            image: image, entrypoint: ["/bin/sh"], cmd: ["-c", "true"], labels: labels,
            hostConfig: .init(mounts: [.init(source: volume, target: workspace)], networkMode: "none")))
        state.withLock { state in
            state.helper = helper
            state.environment = setup.environment.filter { entry in
                entry.firstIndex(of: "=").map { $0 != entry.startIndex } ?? false
            }
        }

        for object in setup.objects {
            try checkAborted()
            output.write("Placing object \(object.name) => \(object.destination)\n")
            do {
                let source = try object.file.get()
                guard let components = Self.workspaceComponents(object.destination, workspace: workspace) else {
                    throw DriverError("\(object.destination) is not a file path inside the workspace")
                }
                let name = components.joined(separator: "/")
                try await client.putArchive(helper, path: workspace) { try FileTarBody(path: source, entryName: name) }
            } catch is CancellationError {
                throw CancellationError()
            } catch {
                output.write("object error: \(Self.message(error))\n")
            }
        }
        if !setup.objects.isEmpty { output.write("\n") }

        if !setup.keys.isEmpty {
            let (archive, lines) = Self.keysArchive(setup.keys)
            for line in lines { output.write(line) }
            state.withLock { $0.keysArchive = archive }
        }
    }

    /// The path below the workspace where `destination` goes: a path inside the workspace
    /// loses that prefix, any other absolute path is mapped inside it (as Go Djinn), a
    /// relative one is relative to it. Nil when nothing is left or it climbs out.
    static func workspaceComponents(_ destination: String, workspace: String) -> [String]? {
        var path = destination
        if path == workspace { return nil }
        if path.hasPrefix(workspace + "/") { path = String(path.dropFirst(workspace.count + 1)) }
        return SafePaths.components(path)
    }

    /// The keys at `/root/.ssh/<name>` (0600) and `/root/.ssh/config` (spec §4.2), as one
    /// archive to extract at `/` of each job container; and the output lines.
    static func keysArchive(_ keys: [DriverKey]) -> ([UInt8], [String]) {
        var files: [(entry: TarEntry, content: [UInt8])] = []
        var lines: [String] = []
        var config = "\nStrictHostKeyChecking no\nUserKnownHostsFile /dev/null\n\n"
        for key in keys {
            let name = key.location.split(separator: "/").last.map(String.init) ?? key.name
            guard SafePaths.isSingleComponent(name) else {
                lines.append("key error: invalid key name \(key.name)\n")
                continue
            }
            files.append((TarEntry(name: "root/.ssh/\(name)", mode: 0o600), key.content))
            lines.append("Placing key \(key.name) => /root/.ssh/\(name)\n")
            config += key.config + "\n"
        }
        files.append((TarEntry(name: "root/.ssh/config", mode: 0o600), Array(config.utf8)))
        var archive = TarWriter.header(for: TarEntry(name: "root/.ssh", kind: .directory, mode: 0o700))
        archive += TarWriter.archive(files)
        return (archive, lines + ["\n"])
    }

    // MARK: Running jobs

    public func execute(_ job: DriverJob, output: DriverOutput) async throws -> JobOutcome {
        let (client, volume, helper, environment, keys) = try state.withLock { state throws in
            guard let client = state.client, let volume = state.volume, let helper = state.helper else {
                throw DriverError("the docker driver was not created")
            }
            return (client, volume, helper, state.environment, state.keysArchive)
        }
        try checkAborted()
        let scriptName = JobScript.fileName(jobName: job.name)
        let script = Array(JobScript.render(commands: job.commands).utf8)
        // Into the volume, where the job container will see it; 0755 octal (Go wrote 755 decimal).
        try await client.putArchive(helper, path: workspace, tar: TarWriter.header(
            for: TarEntry(name: ".djinn", kind: .directory, mode: 0o755))
            + TarWriter.archive([(TarEntry(name: ".djinn/\(scriptName)", mode: 0o755), script)]))

        let container = try await client.createContainer(ContainerCreateRequest(
            image: configuration.image, entrypoint: ["/bin/sh", "\(workspace)/.djinn/\(scriptName)"], cmd: [],
            env: environment, workingDir: workspace, labels: labels,
            hostConfig: .init(mounts: [.init(source: volume, target: workspace)])))
        let aborted = state.withLock { state in
            state.running = container
            return state.aborted
        }
        defer { state.withLock { if $0.running == container { $0.running = nil } } }
        do {
            if aborted { throw CancellationError() }
            if let keys { try await client.putArchive(container, path: "/", tar: keys) }
            try await client.startContainer(container)
            try await client.followLogs(container) { _, bytes in output.write(bytes) }
            let status = try await client.waitContainer(container)
            try checkAborted()
            try? await client.removeContainer(container)
            // Go records no error for a non-zero exit (spec §4.3); the os and ssh drivers here
            // record `exit status N`, and so does this one, so every driver says why.
            return status == 0 ? .passed : .failed("exit status \(status)")
        } catch {
            // Gone now, whatever happened; a failure of this removal is left to destroy().
            try? await client.removeContainer(container)
            if error is CancellationError || state.withLock({ $0.aborted }) { throw CancellationError() }
            throw DriverError(Self.message(error))
        }
    }

    private func checkAborted() throws {
        if state.withLock({ $0.aborted }) { throw CancellationError() }
        try Task.checkCancellation()
    }

    // MARK: Artifacts

    public func openArtifact(_ source: String) async throws -> OpenFile {
        let (client, helper) = state.withLock { ($0.client, $0.helper) }
        guard let client, let helper else { throw DriverError("the docker driver was not created") }
        guard let components = Self.workspaceComponents(source, workspace: workspace) else {
            throw DriverError("\(source) is not a file path inside the workspace")
        }
        var template = Array((temporaryDirectory + "/djinn-docker-artifact-XXXXXX").utf8CString)
        let fd = mkstemp(&template)
        guard fd >= 0 else { throw DriverError("cannot spool the artifact: \(String(cString: strerror(errno)))") }
        // Unlinked at once: the descriptor is all the store needs, and nothing is left behind.
        unlink(SafePaths.string(fromCString: template))
        let spool = ArtifactSpool(fd: fd, source: source)
        do {
            try await client.getArchive(helper, path: workspace + "/" + components.joined(separator: "/")) { bytes in
                try spool.receive(bytes)
            }
            let size = try spool.finish()
            guard lseek(fd, 0, SEEK_SET) == 0 else { throw DriverError("cannot rewind the artifact spool") }
            return OpenFile(descriptor: fd, size: size)
        } catch {
            close(fd)
            if let error = error as? DockerEngineError, error.isNotFound {
                throw DriverError("\(source): no such file or directory")
            }
            throw error is CancellationError ? error : DriverError(Self.message(error))
        }
    }

    // MARK: Stopping

    public func abort() async {
        let (client, running) = state.withLock { state in
            state.aborted = true
            return (state.client, state.running)
        }
        guard let client, let running else { return }
        do {
            try await client.killContainer(running)
        } catch {
            logger.warning("could not kill a build's container", metadata: ["container": "\(running)", "error": "\(error)"])
        }
    }

    public func destroy() async {
        let client = state.withLock { state in
            state.aborted = true
            defer {
                state.helper = nil
                state.volume = nil
                state.running = nil
            }
            return state.client
        }
        guard let client else { return }
        do {
            for container in try await client.listContainers(label: label) {
                try await client.removeContainer(container.id)
            }
            for volume in try await client.listVolumes(label: label) {
                try await client.removeVolume(volume.name)
            }
        } catch {
            logger.warning("could not remove a build's containers or volume", metadata: [
                "label": "\(label)", "error": "\(error)",
            ])
        }
    }

    /// Removes containers and volumes of this build made by another driver instance: a worker
    /// that died before its `destroy()`. Failures are logged; the build goes on regardless.
    private func removeEarlierAttempts(_ client: DockerEngineClient) async {
        guard let build else { return }
        let label = "\(Self.buildLabelKey)=\(build)"
        do {
            let containers = try await client.listContainers(label: label).filter { $0.labels?[Self.labelKey] != instance }
            let volumes = try await client.listVolumes(label: label).filter { $0.labels?[Self.labelKey] != instance }
            if containers.isEmpty && volumes.isEmpty { return }
            for container in containers { try await client.removeContainer(container.id) }
            for volume in volumes { try await client.removeVolume(volume.name) }
            logger.info("removed what an earlier attempt at the build left on the Docker host", metadata: [
                "build": "\(build)", "containers": "\(containers.count)", "volumes": "\(volumes.count)",
            ])
        } catch {
            logger.warning("could not remove what an earlier attempt at the build left", metadata: [
                "build": "\(build)", "error": "\(error)",
            ])
        }
    }

    /// The Engine's own message, without our prefix noise.
    static func message(_ error: any Error) -> String {
        if let error = error as? DockerEngineError {
            switch error {
            case .api(_, let message): return message
            default: return error.description
            }
        }
        return describe(error)
    }
}

/// One regular file of the objects store as a one-member tar archive, streamed from disk.
final class FileTarBody: RequestBodySource {
    private let fd: Int32
    private var pending: [UInt8]
    private var pendingOffset = 0
    private var fileRemaining: Int64
    private var trailer: [UInt8]
    let length: Int64

    init(path: String, entryName: String) throws {
        fd = open(path, O_RDONLY | O_CLOEXEC)
        guard fd >= 0 else { throw DriverError("cannot open the object: \(String(cString: strerror(errno)))") }
        var info = stat()
        guard fstat(fd, &info) == 0, (info.st_mode & S_IFMT) == S_IFREG else {
            close(fd)
            throw DriverError("the object is not a regular file")
        }
        let size = Int64(info.st_size)
        pending = TarWriter.header(for: TarEntry(name: entryName, mode: 0o644, size: size))
        fileRemaining = size
        trailer = TarWriter.padding(forSize: size) + TarWriter.endOfArchive
        length = Int64(pending.count) + size + Int64(trailer.count)
    }

    deinit { close(fd) }

    func read(into buffer: UnsafeMutableRawBufferPointer) throws -> Int {
        if pendingOffset == pending.count, fileRemaining > 0 {
            let count = Glibc.read(fd, buffer.baseAddress, Int(min(Int64(buffer.count), fileRemaining)))
            if count < 0 { throw DriverError("cannot read the object: \(String(cString: strerror(errno)))") }
            // A file that shrank meanwhile would make the archive lie about its size.
            if count == 0 { throw DriverError("the object changed while it was copied") }
            fileRemaining -= Int64(count)
            if fileRemaining == 0 {
                pending = trailer
                pendingOffset = 0
            }
            return count
        }
        let count = min(buffer.count, pending.count - pendingOffset)
        guard count > 0 else { return 0 }
        pending.withUnsafeBytes { source in
            buffer.baseAddress!.copyMemory(from: source.baseAddress! + pendingOffset, byteCount: count)
        }
        pendingOffset += count
        if pendingOffset == pending.count && fileRemaining == 0 && pending != trailer {
            pending = trailer
            pendingOffset = 0
        }
        return count
    }
}

/// Writes the first member of an archive stream to a file, which must be a regular file.
final class ArtifactSpool: Sendable {
    private struct State {
        var reader = TarReader()
        var seenEntry = false
        var written: Int64 = 0
        var done = false
    }

    private let fd: Int32
    private let source: String
    private let state = Mutex(State())

    init(fd: Int32, source: String) {
        self.fd = fd
        self.source = source
    }

    func receive(_ bytes: UnsafeRawBufferPointer) throws {
        try state.withLock { state in
            if state.done { return }
            for event in try state.reader.feed(bytes) {
                switch event {
                case .entry(let entry):
                    if state.seenEntry {
                        state.done = true
                        return
                    }
                    state.seenEntry = true
                    guard entry.kind == .file else { throw DriverError("\(source) is not a regular file") }
                case .data(let data):
                    try SafePaths.writeAll(fd, data)
                    state.written += Int64(data.count)
                case .entryEnd, .end:
                    state.done = true
                    return
                }
            }
        }
    }

    func finish() throws -> Int64 {
        try state.withLock { state in
            guard state.seenEntry else { throw DriverError("\(source): the Docker daemon sent no file") }
            if !state.done { try state.reader.finish() }
            return state.written
        }
    }
}

extension String {
    fileprivate var trimmed: String { trimmingCharacters(in: .whitespacesAndNewlines) }
}
