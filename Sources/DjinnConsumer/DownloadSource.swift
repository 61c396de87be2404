/// A download URL as a `DownloadJob` carries it (userinfo and password included), with the
/// forms that may be shown: logs and `image_downloads.source` never see the password.
public struct DownloadSource: Sendable, Equatable, CustomStringConvertible {
    /// The URL exactly as given. Holds the password, if any: never log it.
    public let text: String

    public init(_ text: String) {
        self.text = text
    }

    /// The schemes a download may use.
    public static let supportedSchemes: Set<String> = ["http", "https", "sftp"]

    /// What Go's `url.Redacted()` does: the password, if present, becomes `xxxxx`.
    public var redacted: String { Self.redact(text) }

    /// `image_downloads.source` as Djinn's server writes it: redacted, then lower-cased.
    public var storedForm: String { redacted.lowercased() }

    /// The redacted URL: safe to print.
    public var description: String { redacted }

    /// The scheme, lower-cased (URL schemes are case-insensitive); "" if there is none.
    public var scheme: String {
        guard let colon = text.firstIndex(of: ":") else { return "" }
        let scheme = text[..<colon]
        guard let first = scheme.first, first.isASCII, first.isLetter,
            scheme.allSatisfy({ $0.isASCII && ($0.isLetter || $0.isNumber || "+-.".contains($0)) })
        else { return "" }
        return scheme.lowercased()
    }

    /// The password as written in the URL (still percent-encoded); nil without one.
    var rawPassword: Substring? {
        guard let userinfo = Self.userinfoRange(in: text) else { return nil }
        let info = text[userinfo]
        guard let colon = info.firstIndex(of: ":") else { return nil }
        return info[info.index(after: colon)...]
    }

    /// Replaces the password of `url`'s userinfo with `xxxxx`; URLs without one are unchanged.
    public static func redact(_ url: String) -> String {
        guard let userinfo = userinfoRange(in: url) else { return url }
        let info = url[userinfo]
        guard let colon = info.firstIndex(of: ":") else { return url }
        return String(url[..<info.index(after: colon)]) + "xxxxx" + String(url[userinfo.upperBound...])
    }

    /// The userinfo of `scheme://userinfo@host…`: the authority runs to the first `/`, `?`
    /// or `#`, and (as Go's parser) the userinfo to the last `@` in it.
    static func userinfoRange(in url: String) -> Range<String.Index>? {
        guard let separator = url.range(of: "://") else { return nil }
        let authorityStart = separator.upperBound
        let authorityEnd = url[authorityStart...].firstIndex(where: { "/?#".contains($0) }) ?? url.endIndex
        guard let at = url[authorityStart..<authorityEnd].lastIndex(of: "@") else { return nil }
        return authorityStart..<at
    }

    /// `message` with every appearance of this URL's password (as written and percent-decoded)
    /// replaced by `xxxxx`: for error texts from libraries that might echo the URL.
    public func scrub(_ message: String) -> String {
        guard let raw = rawPassword, !raw.isEmpty else { return message }
        var result = message.replacingAll(String(raw), with: "xxxxx")
        if let decoded = String(raw).removingPercentEncodingIfValid, decoded != String(raw), !decoded.isEmpty {
            result = result.replacingAll(decoded, with: "xxxxx")
        }
        return result
    }
}

extension String {
    func replacingAll(_ target: String, with replacement: String) -> String {
        guard !target.isEmpty else { return self }
        var result = ""
        var rest = self[...]
        while let range = rest.range(of: target) {
            result += rest[..<range.lowerBound]
            result += replacement
            rest = rest[range.upperBound...]
        }
        result += rest
        return result
    }

    /// Percent-decoding without Foundation; nil when an escape is malformed or the bytes are
    /// not UTF-8.
    var removingPercentEncodingIfValid: String? {
        var bytes: [UInt8] = []
        bytes.reserveCapacity(utf8.count)
        var iterator = utf8.makeIterator()
        while let byte = iterator.next() {
            guard byte == UInt8(ascii: "%") else {
                bytes.append(byte)
                continue
            }
            guard let high = iterator.next().flatMap(hexValue), let low = iterator.next().flatMap(hexValue) else {
                return nil
            }
            bytes.append(high << 4 | low)
        }
        return String(validating: bytes, as: UTF8.self)
    }
}

private func hexValue(_ byte: UInt8) -> UInt8? {
    switch byte {
    case UInt8(ascii: "0")...UInt8(ascii: "9"): byte - UInt8(ascii: "0")
    case UInt8(ascii: "a")...UInt8(ascii: "f"): byte - UInt8(ascii: "a") + 10
    case UInt8(ascii: "A")...UInt8(ascii: "F"): byte - UInt8(ascii: "A") + 10
    default: nil
    }
}
