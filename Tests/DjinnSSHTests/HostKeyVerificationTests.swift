import DjinnTesting
import Foundation
import Testing

@testable import DjinnSSH

/// The pure rules: known_hosts names, algorithm preference, fingerprints.
@Suite struct HostKeyRulesTests {
    @Test func knownHostsNamesAreOpenSSHs() {
        #expect(HostKeyVerification.knownHostsName(SSHAddress(host: "build.example", port: 22)) == "build.example")
        #expect(HostKeyVerification.knownHostsName(SSHAddress(host: "127.0.0.1", port: 2222)) == "[127.0.0.1]:2222")
        #expect(HostKeyVerification.knownHostsName(SSHAddress(host: "::1", port: 22)) == "::1")
        #expect(HostKeyVerification.knownHostsName(SSHAddress(host: "::1", port: 2200)) == "[::1]:2200")
    }

    @Test func algorithmsOfTheKnownTypesComeFirst() {
        let supported = ["ecdsa-sha2-nistp256", "ecdsa-sha2-nistp384", "ssh-ed25519", "rsa-sha2-512", "ssh-rsa", "ssh-dss"]
        #expect(HostKeyVerification.preferredAlgorithms(supported: supported, known: [.ed25519])
            == ["ssh-ed25519", "ecdsa-sha2-nistp256", "ecdsa-sha2-nistp384", "rsa-sha2-512", "ssh-rsa", "ssh-dss"])
        #expect(HostKeyVerification.preferredAlgorithms(supported: supported, known: [.rsa, .ecdsa384])
            == ["ecdsa-sha2-nistp384", "rsa-sha2-512", "ssh-rsa", "ecdsa-sha2-nistp256", "ssh-ed25519", "ssh-dss"])
        #expect(HostKeyVerification.preferredAlgorithms(supported: supported, known: []) == nil)
        #expect(HostKeyVerification.preferredAlgorithms(supported: supported, known: [.ecdsa521]) == nil)
    }

    @Test func keyTypesByAlgorithm() {
        #expect(SSHHostKeyType(algorithm: "rsa-sha2-256") == .rsa)
        #expect(SSHHostKeyType(algorithm: "ssh-ed25519") == .ed25519)
        #expect(SSHHostKeyType(algorithm: "ssh-ed25519-cert-v01@openssh.com") == nil)
        #expect(SSHHostKeyType.ecdsa256.name == "ecdsa-sha2-nistp256")
    }

    @Test func fingerprintsAreUnpaddedBase64() {
        #expect(HostKeyVerification.base64(Array("f".utf8), padded: true) == "Zg==")
        #expect(HostKeyVerification.base64(Array("fo".utf8), padded: true) == "Zm8=")
        #expect(HostKeyVerification.base64(Array("foo".utf8), padded: true) == "Zm9v")
        #expect(HostKeyVerification.base64(Array("foob".utf8), padded: false) == "Zm9vYg")
        let digest = (0..<32).map { UInt8($0 * 7 % 256) }
        #expect(HostKeyVerification.fingerprint(sha256: digest) == "SHA256:" + Data(digest).base64EncodedString().replacingOccurrences(of: "=", with: ""))
    }
}

/// Against the real sshd (scripts/testservers/ssh_server.py), which has an Ed25519 and an
/// ECDSA host key.
@Suite(.enabled(if: TestSSHServer.available, Comment(rawValue: TestSSHServer.unavailableReason)))
struct HostKeyVerificationTests {
    /// A known_hosts file with `lines`, removed by the caller.
    func knownHosts(_ lines: [String]) throws -> String {
        let path = FileManager.default.temporaryDirectory.appendingPathComponent("djinn-known-hosts-\(UUID().uuidString.prefix(8))").path
        try (lines.joined(separator: "\n") + "\n").write(toFile: path, atomically: true, encoding: .utf8)
        return path
    }

    func session(_ server: TestSSHServer, user: String = TestSSHServer.user, password: String = TestSSHServer.password, knownHosts: String?)
        -> SSHSession
    {
        SSHSession(
            address: SSHAddress(host: "127.0.0.1", port: server.port),
            credentials: SSHCredentials(user: user, password: password), knownHostsFile: knownHosts)
    }

    /// The error of a connection expected to fail.
    func failure(_ session: SSHSession, sourceLocation: SourceLocation = #_sourceLocation) async -> SSHError? {
        var failed: SSHError?
        do {
            try await session.connect()
            Issue.record("connected", sourceLocation: sourceLocation)
        } catch {
            failed = error
        }
        await session.close()
        return failed
    }

    /// An Ed25519 public key that is not the server's.
    func wrongKey() -> String {
        "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIOMqqnkVzrm0SdG6UOoqKLsabgH5C9okWi0dh2l9GKJl"
    }

    @Test func theServersKeyConnects() async throws {
        let server = try await TestSSHServer.shared()
        let name = "[127.0.0.1]:\(server.port)"
        // Ed25519 only, ECDSA only (libssh2 would pick ECDSA by itself), with other hosts around.
        for entry in [try server.hostKeyEd25519, try server.hostKeyECDSA] {
            let path = try knownHosts(["# build hosts", "", "other.example \(wrongKey())", "\(name) \(entry) comment"])
            defer { unlink(path) }
            let session = session(server, knownHosts: path)
            try await session.connect()
            #expect(try await session.run("id -un").output == Array("\(TestSSHServer.user)\n".utf8))
            await session.close()
        }
    }

    @Test func hashedNamesWork() async throws {
        let server = try await TestSSHServer.shared()
        let path = try knownHosts(["[127.0.0.1]:\(server.port) \(try server.hostKeyEd25519)"])
        defer {
            unlink(path)
            unlink(path + ".old")
        }
        _ = try await runCommand(["ssh-keygen", "-H", "-f", path])
        #expect(try String(contentsOfFile: path, encoding: .utf8).hasPrefix("|1|"))
        let session = session(server, knownHosts: path)
        try await session.connect()
        await session.close()
    }

    @Test func anUnknownHostFailsBeforeAuthentication() async throws {
        let server = try await TestSSHServer.shared()
        // The right key under the plain name: OpenSSH only takes it for port 22.
        let path = try knownHosts(["127.0.0.1 \(try server.hostKeyEd25519)", "other.example \(wrongKey())"])
        defer { unlink(path) }
        let user = "probe\(UUID().uuidString.prefix(8).lowercased())"
        let error = try #require(await failure(session(server, user: user, password: "s3cret-pw", knownHosts: path)))
        #expect(error.kind == .hostKey)
        #expect(error.description.hasPrefix("host key verification failed for 127.0.0.1:\(server.port) ("), "\(error)")
        #expect(error.description.contains("): not in \(path); the server's key is SHA256:"), "\(error)")
        #expect(!error.description.contains("s3cret-pw"))
        try await expectNoLogin(server, as: user)
    }

    @Test func aDifferentKeyFailsBeforeAuthentication() async throws {
        let server = try await TestSSHServer.shared()
        let path = try knownHosts(["[127.0.0.1]:\(server.port) \(wrongKey())"])
        defer { unlink(path) }
        let user = "probe\(UUID().uuidString.prefix(8).lowercased())"
        let error = try #require(await failure(session(server, user: user, password: "s3cret-pw", knownHosts: path)))
        #expect(error.kind == .hostKey)
        #expect(error.description.hasPrefix(
            "host key verification failed for 127.0.0.1:\(server.port) (ssh-ed25519): does not match the key in \(path); the server's key is SHA256:"),
            "\(error)")
        // The fingerprint as ssh-keygen shows it: "256 SHA256:… comment (ED25519)".
        let listed = try await runCommand(["ssh-keygen", "-l", "-E", "sha256", "-f", server.scratch + "/host_ed25519.pub"])
        let fingerprint = try #require(listed.split(separator: " ").dropFirst().first)
        #expect(error.description.hasSuffix("the server's key is \(fingerprint)"), "\(error) / \(listed)")
        try await expectNoLogin(server, as: user)
    }

    /// sshd logs `Invalid user NAME` at the first authentication request for a user it does
    /// not have: that line never appears for a connection that stopped at the host key. The
    /// same connection without known_hosts shows the line (so its absence means something).
    func expectNoLogin(_ server: TestSSHServer, as user: String, sourceLocation: SourceLocation = #_sourceLocation) async throws {
        try await Task.sleep(for: .milliseconds(200))
        #expect(!(try String(contentsOfFile: server.logFile, encoding: .isoLatin1)).contains("Invalid user \(user)"),
                "sshd saw an authentication attempt", sourceLocation: sourceLocation)
        let control = try #require(await failure(session(server, user: user, password: "s3cret-pw", knownHosts: nil)))
        #expect(control.kind == .authentication, sourceLocation: sourceLocation)
        var logged = false
        for _ in 0..<50 where !logged {
            logged = try String(contentsOfFile: server.logFile, encoding: .isoLatin1).contains("Invalid user \(user)")
            if !logged { try await Task.sleep(for: .milliseconds(50)) }
        }
        #expect(logged, "sshd does not log the attempt of an unchecked connection", sourceLocation: sourceLocation)
    }

    @Test func anUnusableFileFailsWithTheReason() async throws {
        let server = try await TestSSHServer.shared()
        let missing = "/nonexistent/djinn/known_hosts"
        let error = try #require(await failure(session(server, knownHosts: missing)))
        #expect(error.kind == .hostKey)
        #expect(error.description == "host key verification failed for 127.0.0.1:\(server.port): cannot read \(missing): No such file or directory")

        let path = try knownHosts(["[127.0.0.1]:\(server.port) \(try server.hostKeyEd25519)", "garbage"])
        defer { unlink(path) }
        let bad = try #require(await failure(session(server, knownHosts: path)))
        #expect(bad.kind == .hostKey)
        #expect(bad.description.hasPrefix("host key verification failed for 127.0.0.1:\(server.port): cannot read \(path) line 2: "), "\(bad)")
    }
}
