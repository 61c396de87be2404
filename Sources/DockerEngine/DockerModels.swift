/// `POST /containers/create` (the fields Djinn uses).
public struct ContainerCreateRequest: Codable, Sendable, Equatable {
    public struct Mount: Codable, Sendable, Equatable {
        /// `volume` or `bind`.
        public var type: String
        public var source: String
        public var target: String

        public init(type: String = "volume", source: String, target: String) {
            self.type = type
            self.source = source
            self.target = target
        }

        enum CodingKeys: String, CodingKey {
            case type = "Type", source = "Source", target = "Target"
        }
    }

    public struct HostConfig: Codable, Sendable, Equatable {
        public var mounts: [Mount]
        /// `none`, `host`, `bridge` or a network's name; nil: the daemon's default.
        public var networkMode: String?

        public init(mounts: [Mount] = [], networkMode: String? = nil) {
            self.mounts = mounts
            self.networkMode = networkMode
        }

        enum CodingKeys: String, CodingKey {
            case mounts = "Mounts", networkMode = "NetworkMode"
        }
    }

    public var image: String
    public var entrypoint: [String]?
    public var cmd: [String]?
    public var env: [String]
    public var workingDir: String?
    public var labels: [String: String]
    public var hostConfig: HostConfig
    /// Always false: without a TTY the logs keep stdout and stderr apart (framed).
    public var tty: Bool = false

    public init(
        image: String, entrypoint: [String]? = nil, cmd: [String]? = nil, env: [String] = [], workingDir: String? = nil,
        labels: [String: String] = [:], hostConfig: HostConfig = HostConfig()
    ) {
        self.image = image
        self.entrypoint = entrypoint
        self.cmd = cmd
        self.env = env
        self.workingDir = workingDir
        self.labels = labels
        self.hostConfig = hostConfig
    }

    enum CodingKeys: String, CodingKey {
        case image = "Image", entrypoint = "Entrypoint", cmd = "Cmd", env = "Env", workingDir = "WorkingDir"
        case labels = "Labels", hostConfig = "HostConfig", tty = "Tty"
    }
}

struct ContainerCreateResponse: Decodable {
    var id: String

    enum CodingKeys: String, CodingKey { case id = "Id" }
}

struct ContainerWaitResponse: Decodable {
    struct Failure: Decodable {
        var message: String?

        enum CodingKeys: String, CodingKey { case message = "Message" }
    }

    var statusCode: Int
    var error: Failure?

    enum CodingKeys: String, CodingKey { case statusCode = "StatusCode", error = "Error" }
}

/// `GET /images/{name}/json` (the fields Djinn prints).
public struct ImageInspect: Decodable, Sendable, Equatable {
    public var id: String
    public var repoTags: [String]?

    enum CodingKeys: String, CodingKey { case id = "Id", repoTags = "RepoTags" }
}

/// `GET /containers/json` entries.
public struct ContainerSummary: Decodable, Sendable, Equatable {
    public var id: String
    public var state: String?
    public var labels: [String: String]?

    enum CodingKeys: String, CodingKey { case id = "Id", state = "State", labels = "Labels" }
}

struct VolumeCreateRequest: Encodable {
    var labels: [String: String]

    enum CodingKeys: String, CodingKey { case labels = "Labels" }
}

/// A volume (`POST /volumes/create`, `GET /volumes`).
public struct VolumeSummary: Decodable, Sendable, Equatable {
    public var name: String
    public var labels: [String: String]?

    enum CodingKeys: String, CodingKey { case name = "Name", labels = "Labels" }
}

struct VolumeList: Decodable {
    var volumes: [VolumeSummary]?

    enum CodingKeys: String, CodingKey { case volumes = "Volumes" }
}

/// `GET /version` (the fields Djinn reports).
public struct EngineVersion: Decodable, Sendable, Equatable {
    public var version: String
    public var apiVersion: String
    public var minAPIVersion: String?

    enum CodingKeys: String, CodingKey { case version = "Version", apiVersion = "ApiVersion", minAPIVersion = "MinAPIVersion" }
}

/// The Engine's error body.
struct EngineMessage: Decodable {
    var message: String

    enum CodingKeys: String, CodingKey { case message }
}

/// One line of a pull's progress stream; only a failure matters.
struct PullProgress: Decodable {
    var error: String?
}
