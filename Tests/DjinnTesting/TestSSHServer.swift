import Foundation

/// A real sshd on 127.0.0.1 for the ssh driver's tests (scripts/testservers/ssh_server.py):
/// a throwaway local user with a shell, a password and an authorized client key. One per
/// test process, started on first use; it exits when the test process does (its standard
/// input closes). Needs root: sshd checks passwords in /etc/shadow and switches users.
public struct TestSSHServer: Sendable {
    public static let user = "djinnssh"
    /// Characters a shell or a URL would trip over.
    public static let password = "ssh p@ss'word"

    public let port: Int
    /// The client's private key (ed25519, no passphrase), authorized for `user`.
    public let privateKeyFile: String
    public let scratch: String

    public var address: String { "127.0.0.1:\(port)" }

    /// The server's host keys, `TYPE BASE64` as an OpenSSH `.pub` file has them (no comment).
    public var hostKeyEd25519: String { get throws { try Self.publicKey(scratch + "/host_ed25519.pub") } }
    public var hostKeyECDSA: String { get throws { try Self.publicKey(scratch + "/host_ecdsa.pub") } }

    /// sshd's log (LogLevel VERBOSE): every connection and authentication attempt.
    public var logFile: String { scratch + "/sshd.log" }

    private static func publicKey(_ path: String) throws -> String {
        let text = try String(contentsOfFile: path, encoding: .utf8)
        return text.split(separator: " ").prefix(2).joined(separator: " ")
    }

    /// The login directory of `user`.
    public static let home = "/home/\(user)"

    public static var available: Bool { getuid() == 0 && FileManager.default.isExecutableFile(atPath: "/usr/sbin/sshd") }

    public static let unavailableReason = "needs root (sshd checks passwords in /etc/shadow and switches users) and /usr/sbin/sshd"

    public static func shared() async throws -> TestSSHServer { try await Launcher.instance.server() }

    private actor Launcher {
        static let instance = Launcher()
        private var task: Task<TestSSHServer, Error>?

        func server() async throws -> TestSSHServer {
            if task == nil { task = Task { try await TestSSHServer.launch() } }
            return try await task!.value
        }
    }

    /// The server process: kept (never stopped) for the life of the test process, so the
    /// server lives exactly as long.
    private nonisolated(unsafe) static var keepAlive: [HelperServer] = []

    private static func launch() async throws -> TestSSHServer {
        let scratch = URL(fileURLWithPath: "/tmp").appendingPathComponent("djinn-sshd-\(UUID().uuidString.prefix(8))")
        let server = try await HelperServer.launch(
            "ssh_server.py", ["--dir", scratch.path, "--user", user, "--password", password], scratch: scratch, recording: false)
        keepAlive.append(server)
        return TestSSHServer(port: server.port, privateKeyFile: scratch.appendingPathComponent("client_ed25519").path, scratch: scratch.path)
    }
}

public struct TestSSHServerError: Error, CustomStringConvertible {
    public var description: String
}

