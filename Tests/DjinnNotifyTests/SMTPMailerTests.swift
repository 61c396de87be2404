import DjinnConfig
import DjinnTesting
import Foundation
import Testing

@testable import DjinnNotify

/// SMTPMailer against a real SMTP server on loopback (aiosmtpd, scripts/testservers/smtp_sink.py).
@Suite struct SMTPMailerTests {
    func message(to recipients: [String]) -> MailMessage {
        FailureMail.message(
            for: sampleBuild(output: (1...20).map { "step \($0)" }.joined(separator: "\n") + "\n.leading dot\n"),
            collaborators: recipients, serverURL: "https://djinn.example", admin: "ci@djinn.example", fallbackHost: "h")
    }

    @Test func deliversToEveryRecipientWithSubjectAndBody() async throws {
        let server = try await HelperServer.launch("smtp_sink.py", python: HelperServer.venvPython)
        defer { server.stop() }
        let mail = message(to: ["bob@example.com", "refused-carol@example.com", "ALICE@example.com"])
        #expect(mail.recipients == ["alice@example.com", "bob@example.com", "refused-carol@example.com"])
        try await SMTPMailer(settings: SMTPSettings(addr: "127.0.0.1:\(server.port)")).send(mail)

        let records = try await server.waitForRecords(1)
        let record = try #require(records.first)
        #expect(record["mail_from"] as? String == "ci@djinn.example")
        // The server refused carol; the others still got it.
        #expect(record["rcpt_tos"] as? [String] == ["alice@example.com", "bob@example.com"])
        let data = try #require(record["data"] as? String)
        #expect(data.contains("Subject: Djinn CI - Build #12 failed"))
        #expect(data.contains("From: ci@djinn.example"))
        #expect(data.contains("Build: https://djinn.example/b/alice/12"))
        #expect(data.contains("Submitted by alice <alice@example.com>"))
        // The last 15 elements: steps 8…20, the dot line (dot-stuffing undone), the empty end.
        #expect(data.contains("step 8\r\nstep 9") || data.contains("step 8\nstep 9"))
        #expect(!data.contains("step 7\n") && !data.contains("step 7\r\n"))
        #expect(data.contains(".leading dot"))
    }

    @Test func authenticatesWithUsernameAndPassword() async throws {
        let server = try await HelperServer.launch(
            "smtp_sink.py", ["--user", "mailer", "--password", "p@ss word"], python: HelperServer.venvPython)
        defer { server.stop() }
        let good = SMTPSettings(addr: "127.0.0.1:\(server.port)", username: "mailer", password: "p@ss word")
        try await SMTPMailer(settings: good).send(message(to: []))
        #expect(try await server.waitForRecords(1).count == 1)

        let bad = SMTPSettings(addr: "127.0.0.1:\(server.port)", username: "mailer", password: "wrong-secret")
        do {
            try await SMTPMailer(settings: bad).send(message(to: []))
            Issue.record("a wrong password was accepted")
        } catch {
            #expect(!"\(error)".contains("wrong-secret"), "the password leaked: \(error)")
        }
        #expect(server.recorded().count == 1)
    }

    @Test func unreachableServerFailsFast() async throws {
        let started = ContinuousClock.now
        await #expect(throws: TransportError.self) {
            try await SMTPMailer(settings: SMTPSettings(addr: "127.0.0.1:\(try unusedLoopbackPort())", password: "never-shown"), timeout: .seconds(5))
                .send(message(to: []))
        }
        #expect(ContinuousClock.now - started < .seconds(5))
    }

    @Test func requiredTLSWithCAFailsAgainstAPlainServer() async throws {
        let server = try await HelperServer.launch("smtp_sink.py", python: HelperServer.venvPython)
        defer { server.stop() }
        let settings = SMTPSettings(addr: "127.0.0.1:\(server.port)", ca: "/etc/ssl/certs/ca-certificates.crt")
        await #expect(throws: TransportError.self) { try await SMTPMailer(settings: settings, timeout: .seconds(10)).send(message(to: [])) }
        #expect(server.recorded().isEmpty)
    }
}
