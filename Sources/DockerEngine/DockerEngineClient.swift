import DjinnCurl
import Foundation
import Synchronization

/// A client of the Docker Engine API over its unix socket, on libcurl.
///
/// Every request runs on a `BlockingThread` of its own (libcurl blocks), so requests can
/// overlap — a job's log stream and the `kill` that ends it — and none ever blocks Swift's
/// cooperative pool. A cancelled task's request stops within about a second (libcurl's
/// progress callback notices), and the call throws `CancellationError`.
///
/// JSON bodies go through Foundation's Codable; streamed answers (logs, archives) are handed
/// to the caller chunk by chunk on the request's thread as they arrive.
public final class DockerEngineClient: Sendable {
    public let host: DockerHost
    /// The API version used in paths (`/v1.40/…`); empty: the daemon's own.
    public let apiVersion: String

    /// `host` as in driver.conf (`unix:///var/run/docker.sock`); `version` e.g. `1.40`.
    public init(host: String, apiVersion: String) throws(DockerEngineError) {
        self.host = try DockerHost.parse(host)
        let version = apiVersion.trimmingWhitespace
        let bare = version.hasPrefix("v") ? String(version.dropFirst()) : version
        if !bare.isEmpty {
            let parts = bare.split(separator: ".", omittingEmptySubsequences: false)
            guard parts.count == 2, parts.allSatisfy({ !$0.isEmpty && $0.allSatisfy(\.isASCII) && Int($0) != nil }) else {
                throw .invalidHost("docker: invalid API version \(apiVersion) (expected e.g. 1.40)")
            }
        }
        self.apiVersion = bare
    }

    // MARK: System

    /// `GET /_ping`: throws when the daemon cannot be reached.
    public func ping() async throws {
        _ = try await call(EngineRequest(method: "GET", target: "/_ping"))
    }

    public func version() async throws -> EngineVersion {
        try decode(EngineVersion.self, try await call(EngineRequest(method: "GET", target: "/version")))
    }

    // MARK: Images

    /// The image, or nil when the daemon does not have it.
    public func inspectImage(_ name: String) async throws -> ImageInspect? {
        do {
            return try decode(
                ImageInspect.self, try await call(EngineRequest(method: "GET", target: "/images/\(Self.escapePath(name))/json")))
        } catch let error as DockerEngineError where error.isNotFound {
            return nil
        }
    }

    /// Pulls `name` (`repo[:tag]` or `repo@digest`); the progress is discarded, a failure
    /// reported inside the stream is thrown.
    public func pullImage(_ name: String) async throws {
        let reference = Self.splitReference(name)
        var query = [("fromImage", reference.repository)]
        if let tag = reference.tag { query.append(("tag", tag)) }
        let failure = PullFailure()
        _ = try await call(EngineRequest(
            method: "POST", target: "/images/create" + Self.query(query),
            stream: { bytes in failure.scan(bytes) }))
        if let message = failure.message { throw DockerEngineError.api(status: 200, message: message) }
    }

    /// `repo[:tag]` split as the Engine's `fromImage`/`tag` want it; a digest stays in the repository.
    static func splitReference(_ name: String) -> (repository: String, tag: String?) {
        if name.contains("@") { return (name, nil) }
        let lastSlash = name.lastIndex(of: "/")
        if let colon = name.lastIndex(of: ":"), lastSlash.map({ colon > $0 }) ?? true {
            return (String(name[..<colon]), String(name[name.index(after: colon)...]))
        }
        return (name, "latest")
    }

    // MARK: Volumes

    /// Creates an anonymous (daemon-named) volume; returns its name.
    public func createVolume(labels: [String: String] = [:]) async throws -> String {
        let body = try JSONEncoder().encode(VolumeCreateRequest(labels: labels))
        return try decode(
            VolumeSummary.self, try await call(EngineRequest(method: "POST", target: "/volumes/create", json: body))
        ).name
    }

    /// Removes a volume; one already gone is not an error.
    public func removeVolume(_ name: String, force: Bool = true) async throws {
        do {
            _ = try await call(EngineRequest(
                method: "DELETE", target: "/volumes/\(Self.escapePath(name))" + Self.query([("force", force ? "1" : "0")])))
        } catch let error as DockerEngineError where error.isNotFound {}
    }

    /// Volumes carrying the label `key=value`.
    public func listVolumes(label: String) async throws -> [VolumeSummary] {
        let filters = try Self.filters(["label": [label]])
        return try decode(
            VolumeList.self, try await call(EngineRequest(method: "GET", target: "/volumes" + Self.query([("filters", filters)])))
        ).volumes ?? []
    }

    // MARK: Containers

    /// Creates a container; returns its id.
    public func createContainer(_ request: ContainerCreateRequest) async throws -> String {
        let body = try JSONEncoder().encode(request)
        return try decode(
            ContainerCreateResponse.self, try await call(EngineRequest(method: "POST", target: "/containers/create", json: body))
        ).id
    }

    public func startContainer(_ id: String) async throws {
        _ = try await call(EngineRequest(method: "POST", target: "/containers/\(Self.escapePath(id))/start"))
    }

    /// Streams the container's stdout and stderr from its start until it stops (`follow`),
    /// demultiplexed; `output` is called on the request's thread for each piece as it comes.
    public func followLogs(_ id: String, output: @escaping @Sendable (DockerStream, [UInt8]) -> Void) async throws {
        let demultiplexer = LockedDemultiplexer()
        _ = try await call(EngineRequest(
            method: "GET",
            target: "/containers/\(Self.escapePath(id))/logs" + Self.query([("follow", "1"), ("stdout", "1"), ("stderr", "1")]),
            stream: { bytes in
                for (stream, payload) in try demultiplexer.feed(bytes) { output(stream, payload) }
            }))
        try demultiplexer.finish()
    }

    /// Waits until the container stops; returns its exit code.
    public func waitContainer(_ id: String) async throws -> Int {
        let answer = try decode(
            ContainerWaitResponse.self,
            try await call(EngineRequest(method: "POST", target: "/containers/\(Self.escapePath(id))/wait")))
        if let message = answer.error?.message, !message.isEmpty {
            throw DockerEngineError.api(status: 200, message: "waiting for container \(id.prefix(12)): \(message)")
        }
        return answer.statusCode
    }

    /// Sends SIGKILL; a container that is not running (or is gone) is not an error.
    public func killContainer(_ id: String) async throws {
        do {
            _ = try await call(EngineRequest(method: "POST", target: "/containers/\(Self.escapePath(id))/kill"))
        } catch let error as DockerEngineError {
            if case .api(let status, _) = error, status == 404 || status == 409 { return }
            throw error
        }
    }

    /// Removes the container (killing it if it runs, with its anonymous volumes when
    /// `volumes`); one already gone is not an error.
    public func removeContainer(_ id: String, force: Bool = true, volumes: Bool = true) async throws {
        do {
            _ = try await call(EngineRequest(
                method: "DELETE",
                target: "/containers/\(Self.escapePath(id))" + Self.query([("force", force ? "1" : "0"), ("v", volumes ? "1" : "0")])))
        } catch let error as DockerEngineError where error.isNotFound {}
    }

    /// Containers (running or not) carrying the label `key=value`.
    public func listContainers(label: String) async throws -> [ContainerSummary] {
        let filters = try Self.filters(["label": [label]])
        return try decode(
            [ContainerSummary].self,
            try await call(EngineRequest(method: "GET", target: "/containers/json" + Self.query([("all", "1"), ("filters", filters)]))))
    }

    // MARK: Archives

    /// Extracts the tar archive `body` makes into the directory `path` of the container
    /// (which need not be running; its volumes are included).
    public func putArchive(_ id: String, path: String, body: @escaping @Sendable () throws -> any RequestBodySource) async throws {
        _ = try await call(EngineRequest(
            method: "PUT", target: "/containers/\(Self.escapePath(id))/archive" + Self.query([("path", path)]),
            contentType: "application/x-tar", body: body))
    }

    public func putArchive(_ id: String, path: String, tar: [UInt8]) async throws {
        try await putArchive(id, path: path) { BytesBody(tar) }
    }

    /// Streams `path` of the container as a tar archive to `receive` (on the request's thread).
    public func getArchive(_ id: String, path: String, receive: @escaping @Sendable (UnsafeRawBufferPointer) throws -> Void) async throws {
        _ = try await call(EngineRequest(
            method: "GET", target: "/containers/\(Self.escapePath(id))/archive" + Self.query([("path", path)]), stream: receive))
    }

    // MARK: Requests

    /// Runs one request on a thread of its own; a non-2xx answer throws `.api` with the
    /// Engine's message.
    func call(_ request: EngineRequest) async throws -> EngineResponse {
        let prefix = apiVersion.isEmpty ? "" : "/v" + apiVersion
        let url = "http://localhost" + prefix + request.target
        let socketPath = host.socketPath
        let response: EngineResponse
        do {
            response = try await CurlEasy.run(threadName: "docker-api") { easy in
                try UnixSocketTransfer(socketPath: socketPath, url: url, request: request).run(easy)
            }
        } catch let error as CurlError {
            throw DockerEngineError.transport(error.message)  // no handle
        }
        guard (200..<300).contains(response.status) else {
            let message = (try? JSONDecoder().decode(EngineMessage.self, from: Data(response.body)))?.message
                ?? String(decoding: response.body, as: UTF8.self).trimmingWhitespace
            throw DockerEngineError.api(
                status: response.status, message: message.isEmpty ? "\(request.method) \(request.target) failed" : message)
        }
        return response
    }

    private func decode<T: Decodable>(_ type: T.Type, _ response: EngineResponse) throws -> T {
        do {
            return try JSONDecoder().decode(type, from: Data(response.body))
        } catch {
            let text = String(decoding: response.body.prefix(200), as: UTF8.self)
            throw DockerEngineError.invalidResponse("\(T.self): \(text)")
        }
    }

    // MARK: Encoding

    static let unreserved = Set("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-._~".utf8)

    static func percentEncode(_ text: String, keeping extra: Set<UInt8> = []) -> String {
        var result = ""
        for byte in text.utf8 {
            if unreserved.contains(byte) || extra.contains(byte) {
                result.unicodeScalars.append(Unicode.Scalar(byte))
            } else {
                result += "%" + String(byte, radix: 16, uppercase: true).leftPadded(to: 2)
            }
        }
        return result
    }

    /// A path segment that may itself hold `/` (image names): kept, everything else escaped.
    static func escapePath(_ segment: String) -> String {
        percentEncode(segment, keeping: Set("/:@".utf8))
    }

    static func query(_ items: [(String, String)]) -> String {
        guard !items.isEmpty else { return "" }
        return "?" + items.map { percentEncode($0.0) + "=" + percentEncode($0.1) }.joined(separator: "&")
    }

    static func filters(_ filters: [String: [String]]) throws -> String {
        String(decoding: try JSONEncoder().encode(filters), as: UTF8.self)
    }
}

extension EngineRequest {
    init(method: String, target: String, json: Data) {
        let bytes = [UInt8](json)
        self.init(method: method, target: target, contentType: "application/json", body: { BytesBody(bytes) })
    }
}

extension String {
    fileprivate func leftPadded(to width: Int) -> String {
        count >= width ? self : String(repeating: "0", count: width - count) + self
    }
}

/// The demultiplexer of one log stream, fed on the request's thread.
private final class LockedDemultiplexer: Sendable {
    private let state = Mutex(DockerStreamDemultiplexer())

    func feed(_ bytes: UnsafeRawBufferPointer) throws -> [(DockerStream, [UInt8])] {
        try state.withLock { demultiplexer in try demultiplexer.feed(bytes) }
    }

    func finish() throws {
        try state.withLock { demultiplexer in try demultiplexer.finish() }
    }
}

/// Scans a pull's JSON-lines progress for `{"error": …}`.
private final class PullFailure: Sendable {
    private struct State {
        var line: [UInt8] = []
        var message: String?
    }

    private let state = Mutex(State())

    var message: String? { state.withLock { $0.message } }

    func scan(_ bytes: UnsafeRawBufferPointer) {
        state.withLock { state in
            for byte in bytes {
                if byte == UInt8(ascii: "\n") {
                    if let progress = try? JSONDecoder().decode(PullProgress.self, from: Data(state.line)), let error = progress.error {
                        state.message = error
                    }
                    state.line = []
                } else if state.line.count < 64 * 1024 {
                    state.line.append(byte)
                }
            }
        }
    }
}
