import DjinnTesting
import Foundation
import Synchronization
import Testing

@testable import DjinnSSH

@Suite struct SSHAddressAndShellWordsTests {
    @Test func addressesParse() {
        #expect(SSHAddress(parsing: "10.0.0.5:22") == SSHAddress(host: "10.0.0.5", port: 22))
        #expect(SSHAddress(parsing: " build.example:2222 ") == SSHAddress(host: "build.example", port: 2222))
        #expect(SSHAddress(parsing: "build.example") == SSHAddress(host: "build.example", port: 22))
        #expect(SSHAddress(parsing: "[::1]:2200") == SSHAddress(host: "::1", port: 2200))
        #expect(SSHAddress(parsing: "[::1]:2200")?.description == "[::1]:2200")
        #expect(SSHAddress(parsing: "") == nil)
        #expect(SSHAddress(parsing: "host:0") == nil)
        #expect(SSHAddress(parsing: "host:70000") == nil)
        #expect(SSHAddress(parsing: "host:ssh") == nil)
        #expect(SSHAddress(parsing: ":22") == nil)
    }

    @Test func quotingKeepsEverythingLiteral() {
        #expect(ShellWords.quote("plain") == "'plain'")
        #expect(ShellWords.quote("it's $HOME `x`") == "'it'\\''s $HOME `x`'")
        #expect(ShellWords.quote("") == "''")
    }

    @Test func globsKeepOnlyGlobCharacters() {
        #expect(ShellWords.glob("out/*.txt") == "'out/'*'.txt'")
        #expect(ShellWords.glob("a?[0-9].log") == "'a'?[0-9]'.log'")
        #expect(ShellWords.glob("$(rm -rf ~)/*") == "'$(rm -rf ~)/'*")
        #expect(ShellWords.glob("[$(x)]") == "'[$(x)]'")
        #expect(ShellWords.glob("file name.txt") == "'file name.txt'")
        #expect(ShellWords.hasGlob("a/*.txt") && !ShellWords.hasGlob("a/b.txt"))
    }
}

/// Against a real sshd on loopback (scripts/testservers/ssh_server.py).
@Suite(.enabled(if: TestSSHServer.available, Comment(rawValue: TestSSHServer.unavailableReason)))
struct SSHSessionTests {
    func connected(key: Bool = false) async throws -> (SSHSession, TestSSHServer) {
        let server = try await TestSSHServer.shared()
        let credentials = key
            ? SSHCredentials(user: TestSSHServer.user, privateKeyFile: server.privateKeyFile)
            : SSHCredentials(user: TestSSHServer.user, password: TestSSHServer.password)
        let session = SSHSession(address: SSHAddress(host: "127.0.0.1", port: server.port), credentials: credentials)
        try await session.connect()
        return (session, server)
    }

    @Test func passwordLoginRunsCommandsWithTheirStatus() async throws {
        let (session, _) = try await connected()
        let (status, output) = try await session.run("echo out; echo err >&2; exit 3")
        #expect(status == .exited(3))
        let text = String(decoding: output, as: UTF8.self)
        #expect(text.contains("out\n") && text.contains("err\n"), "\(text)")
        #expect(try await session.run("pwd").output == Array("\(TestSSHServer.home)\n".utf8))
        await session.close()
    }

    @Test func keyLoginWorks() async throws {
        let (session, _) = try await connected(key: true)
        #expect(try await session.run("id -un").output == Array("\(TestSSHServer.user)\n".utf8))
        await session.close()
    }

    @Test func aWrongPasswordIsAnAuthenticationErrorWithoutThePassword() async throws {
        let server = try await TestSSHServer.shared()
        let session = SSHSession(
            address: SSHAddress(host: "127.0.0.1", port: server.port),
            credentials: SSHCredentials(user: TestSSHServer.user, password: "n0t-the-password"))
        do {
            try await session.connect()
            Issue.record("connected with a wrong password")
        } catch {
            #expect(error.kind == .authentication, "\(error)")
            #expect(!error.description.contains("n0t-the-password"))
        }
        await session.close()
    }

    @Test func nothingListeningIsAConnectError() async throws {
        let port = try unusedLoopbackPort()
        let session = SSHSession(address: SSHAddress(host: "127.0.0.1", port: port), credentials: SSHCredentials(user: "x", password: ""))
        do {
            try await session.connect()
            Issue.record("connected to nothing")
        } catch {
            #expect(error.kind == .connect, "\(error)")
        }
    }

    @Test func filesGoUpAndComeBack() async throws {
        let (session, _) = try await connected()
        let directory = "djinn-sftp-test-\(UUID().uuidString.prefix(8))"
        let bytes = (0..<200_000).map { UInt8($0 % 251) }
        try await session.makeDirectories("\(directory)/a/b", mode: 0o700)
        try await session.makeDirectories("\(directory)/a/b", mode: 0o700)
        try await session.upload(bytes, to: "\(directory)/a/b/data.bin", mode: 0o600)
        try await session.upload(Array("one\n".utf8), to: "\(directory)/one.txt")
        try await session.upload(Array("two\n".utf8), to: "\(directory)/two.txt")
        #expect(try await session.run("stat -c %a \(directory)/a/b/data.bin").output == Array("600\n".utf8))
        try await session.changeMode("\(directory)/one.txt", mode: 0o751)
        #expect(try await session.run("stat -c %a \(directory)/one.txt").output == Array("751\n".utf8))

        let local = FileManager.default.temporaryDirectory.appendingPathComponent("djinn-dl-\(UUID().uuidString.prefix(8))").path
        let fd = open(local, O_RDWR | O_CREAT | O_TRUNC, 0o600)
        defer { close(fd); unlink(local) }
        #expect(try await session.download("\(directory)/a/b/data.bin", into: fd) == Int64(bytes.count))
        #expect(FileManager.default.contents(atPath: local) == Data(bytes))

        #expect(try await session.glob("\(directory)/*.txt") == ["\(directory)/one.txt", "\(directory)/two.txt"])
        #expect(try await session.glob("\(directory)/*.none") == [])
        do {
            _ = try await session.download("\(directory)/missing", into: fd)
            Issue.record("downloaded a missing file")
        } catch {
            #expect(error.description.contains("does not exist"), "\(error)")
        }
        _ = try await session.run("rm -rf \(directory)")
        await session.close()
    }

    /// The remote process is not this layer's business (sshd leaves a no-pty command
    /// running until it writes); the ssh driver's job wrapper ends it (DjinnWorkerTests).
    @Test func abortEndsARunningCommandPromptly() async throws {
        let (session, _) = try await connected()
        let (probe, _) = try await connected()
        let marker = "djinn-abort-\(UUID().uuidString.prefix(8))"
        let started = Mutex(false)
        let running = Task {
            try await session.execute("echo started; sleep 30; echo \(marker)") { chunk in
                if String(decoding: chunk, as: UTF8.self).contains("started") { started.withLock { $0 = true } }
            }
        }
        while !started.withLock({ $0 }) { try await Task.sleep(for: .milliseconds(20)) }
        let clock = ContinuousClock()
        let began = clock.now
        session.abort()
        do {
            _ = try await running.value
            Issue.record("the command finished after abort")
        } catch let error as SSHError {
            #expect(error.kind == .aborted, "\(error)")
        }
        // Well short of the command's 30 s, with room for a loaded machine.
        #expect(clock.now - began < .seconds(15))
        do {
            try await session.connect()
            Issue.record("an aborted session connected again")
        } catch {
            #expect(error.kind == .aborted)
        }
        _ = try await probe.run("pkill -f '\(marker)'; true")
        await session.close()
        await probe.close()
    }
}
