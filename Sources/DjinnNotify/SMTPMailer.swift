import CCurl
import DjinnConfig
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
        let result = try await CurlCall.run(name: "smtp") { cancel -> Result<Int, TransportError> in
            let call = CurlCall(upload: text, cancel: cancel, bodyLimit: 0)
            let recipients = CurlStringList(message.recipients.map { "<\($0)>" })
            return withExtendedLifetime(recipients) {
                call.perform { handle in
                    var status = CURLE_OK
                    func set(_ option: CURLoption, _ value: Int) {
                        if status == CURLE_OK { status = djinn_curl_setopt_long(handle, option, value) }
                    }
                    func set(_ option: CURLoption, _ value: String) {
                        if status == CURLE_OK { status = djinn_curl_setopt_string(handle, option, value) }
                    }
                    set(CURLOPT_URL, "smtp://\(settings.addr)")
                    set(CURLOPT_PROTOCOLS_STR, "smtp")
                    set(CURLOPT_MAIL_FROM, "<\(message.from)>")
                    if status == CURLE_OK, let pointer = recipients.pointer {
                        status = djinn_curl_setopt_pointer(handle, CURLOPT_MAIL_RCPT, UnsafeMutableRawPointer(pointer))
                    }
                    set(djinn_curlopt_mail_rcpt_allowfails, 1)
                    set(CURLOPT_UPLOAD, 1)
                    if status == CURLE_OK {
                        status = djinn_curl_setopt_off_t(handle, CURLOPT_INFILESIZE_LARGE, curl_off_t(text.count))
                    }
                    if settings.ca.isEmpty {
                        set(CURLOPT_USE_SSL, djinn_curl_usessl_try)
                    } else {
                        set(CURLOPT_USE_SSL, djinn_curl_usessl_all)
                        set(CURLOPT_CAINFO, settings.ca)
                    }
                    if !settings.username.isEmpty && !settings.password.isEmpty {
                        set(CURLOPT_USERNAME, settings.username)
                        set(CURLOPT_PASSWORD, settings.password)
                    }
                    set(CURLOPT_PROXY, "")
                    set(CURLOPT_TIMEOUT_MS, max(1, Int(timeout.milliseconds)))
                    set(CURLOPT_CONNECTTIMEOUT_MS, max(1, Int(min(timeout, .seconds(30)).milliseconds)))
                    return status
                }
            }
        }
        _ = try result.get()
    }
}
