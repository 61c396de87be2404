import Foundation

/// `driver ssh {…}` in the driver file.
public struct SSHDriverSettings: Sendable, Equatable {
    /// `host:port`.
    public var addr: String
    public var user: String
    public var password: String
    /// Private key file (our addition; Go authenticates by password only).
    public var key: String
    /// How long to keep trying to connect; 1 minute when not given.
    public var timeout: Duration
    /// An OpenSSH known_hosts file the build host's key must be in (ours; Go never checks
    /// host keys). Empty: not checked.
    public var knownHosts: String

    public init(
        addr: String = "", user: String = "", password: String = "", key: String = "", timeout: Duration = .seconds(60),
        knownHosts: String = ""
    ) {
        self.addr = addr
        self.user = user
        self.password = password
        self.key = key
        self.timeout = timeout
        self.knownHosts = knownHosts
    }
}

/// `driver docker {…}` in the driver file.
public struct DockerDriverSettings: Sendable, Equatable {
    /// e.g. `unix:///var/run/docker.sock`.
    public var host: String
    /// Docker API version, e.g. `1.40`.
    public var version: String
    public var image: String
    public var workspace: String

    public init(host: String = "", version: String = "", image: String = "", workspace: String = "") {
        self.host = host
        self.version = version
        self.image = image
        self.workspace = workspace
    }
}

/// `driver qemu {…}` in the driver file. Zero and empty values are unset.
public struct QEMUDriverSettings: Sendable, Equatable {
    public var arch: String
    public var cpus: Int
    /// Passed to qemu's `-m`, so in MiB.
    public var memory: Int
    /// Directory holding the disk images.
    public var disks: String
    public var image: String

    public init(arch: String = "", cpus: Int = 0, memory: Int = 0, disks: String = "", image: String = "") {
        self.arch = arch
        self.cpus = cpus
        self.memory = memory
        self.disks = disks
        self.image = image
    }
}

/// `djinn-worker -driver FILE`: one optional block per driver. `driver os {}` is
/// accepted and has no settings.
public struct DriverFileSettings: Sendable, Equatable {
    public var ssh: SSHDriverSettings?
    public var docker: DockerDriverSettings?
    public var qemu: QEMUDriverSettings?

    public init(ssh: SSHDriverSettings? = nil, docker: DockerDriverSettings? = nil, qemu: QEMUDriverSettings? = nil) {
        self.ssh = ssh
        self.docker = docker
        self.qemu = qemu
    }

    /// Reads and checks a driver file; `environment` feeds `${…}` expansion.
    public static func load(
        path: String,
        environment: [String: String] = ProcessInfo.processInfo.environment
    ) throws(ConfigError) -> Loaded<DriverFileSettings> {
        try load(path: path, environment: environment, fileSystem: .local)
    }

    public static func load(
        path: String, environment: [String: String], fileSystem: ConfigFileSystem
    ) throws(ConfigError) -> Loaded<DriverFileSettings> {
        try SettingsLoader.load(path: path, environment: environment, fileSystem: fileSystem, schema: Schemas.driverFile) {
            root, _ in
            var settings = DriverFileSettings()
            if let ssh = root.labelledBlock("driver", "ssh") {
                settings.ssh = SSHDriverSettings(
                    addr: ssh.string("addr"), user: ssh.string("user"), password: ssh.string("password"),
                    key: ssh.string("key"), timeout: ssh.duration("timeout"), knownHosts: ssh.string("known_hosts")
                )
            }
            if let docker = root.labelledBlock("driver", "docker") {
                settings.docker = DockerDriverSettings(
                    host: docker.string("host"), version: docker.string("version"),
                    image: docker.string("image"), workspace: docker.string("workspace")
                )
            }
            if let qemu = root.labelledBlock("driver", "qemu") {
                settings.qemu = QEMUDriverSettings(
                    arch: qemu.string("arch"), cpus: qemu.int("cpus"), memory: qemu.int("memory"),
                    disks: qemu.string("disks"), image: qemu.string("image")
                )
            }
            return settings
        }
    }
}
