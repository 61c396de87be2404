import CCurl
import DjinnConfig
import DjinnCurl
import Foundation

/// Sends mail over SMTP with libcurl, one connection per mail, on a thread of its own.
///
/// STARTTLS is used whenever the server offers it (`CURLUSESSL_TRY`), verified against the
/// system roots; with `ca` set it is required and verified against that file (Go's
/// behaviour: a configured CA means the server speaks TLS, so a plain-text fallback would be
/// a downgrade). AUTH with `username` and `password` when both are set. A recipient the
/// server refuses does not stop the mail going to the others. The password never appears in
/// errors or logs.
public struct SMTPMailer: Sendable {
    public let settings: SMTPSettings
    public var timeout: Duration

    public init(settings: SMTPSettings, timeout: Duration = .seconds(60)) {
        self.settings = settings
        self.timeout = timeout
    }

    /// Throws `TransportError` when the mail was not accepted.
    public func send(_ message: MailMessage, date: Date = Date()) async throws {
        let settings = self.settings
        let timeout = self.timeout
        let text = Array(message.rendered(date: date).utf8)
        let recipients = message.recipients.map { "<\($0)>" }
        _ = try await CurlCall.perform(threadName: "smtp", upload: text, bodyLimit: 0) { easy throws(CurlError) in
            try easy.set(CURLOPT_URL, "smtp://\(settings.addr)")
            try easy.set(CURLOPT_PROTOCOLS_STR, "smtp")
            try easy.set(CURLOPT_MAIL_FROM, "<\(message.from)>")
            try easy.set(CURLOPT_MAIL_RCPT, list: recipients)
            try easy.set(djinn_curlopt_mail_rcpt_allowfails, 1)
            try easy.set(CURLOPT_UPLOAD, 1)
            try easy.set(CURLOPT_INFILESIZE_LARGE, large: Int64(text.count))
            if settings.ca.isEmpty {
                try easy.set(CURLOPT_USE_SSL, djinn_curl_usessl_try)
            } else {
                try easy.set(CURLOPT_USE_SSL, djinn_curl_usessl_all)
                try easy.set(CURLOPT_CAINFO, settings.ca)
            }
            if !settings.username.isEmpty && !settings.password.isEmpty {
                try easy.set(CURLOPT_USERNAME, settings.username)
                try easy.set(CURLOPT_PASSWORD, settings.password)
            }
            try easy.set(CURLOPT_TIMEOUT_MS, milliseconds: timeout)
            try easy.set(CURLOPT_CONNECTTIMEOUT_MS, milliseconds: min(timeout, .seconds(30)))
        }
    }
}
