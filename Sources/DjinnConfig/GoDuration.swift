/// Go's duration syntax (`time.ParseDuration`, `Duration.String`), which config files
/// use for durations whether written as literals (`1h30m`) or strings (`"60s"`).
public enum GoDuration {
    public enum ParseError: Error, Sendable, Equatable, CustomStringConvertible {
        case invalid
        case missingUnit
        case unknownUnit(String)
        case overflow

        public var description: String {
            switch self {
            case .invalid: "invalid duration"
            case .missingUnit: "missing unit in duration"
            case .unknownUnit(let unit): "unknown unit \"\(unit)\" in duration"
            case .overflow: "duration out of range"
            }
        }
    }

    private static let nanosecondsPerUnit: [String: UInt64] = [
        "ns": 1,
        "us": 1_000,
        "\u{B5}s": 1_000, // MICRO SIGN
        "\u{3BC}s": 1_000, // GREEK SMALL LETTER MU
        "ms": 1_000_000,
        "s": 1_000_000_000,
        "m": 60_000_000_000,
        "h": 3_600_000_000_000,
    ]

    /// Parses e.g. `1h30m`, `1.5h`, `10ms`, `-5s`, `0`. The range is that of Go's
    /// duration: a signed 64-bit count of nanoseconds.
    public static func parse(_ text: String) -> Result<Duration, ParseError> {
        var rest = Substring(text).utf8[...]
        var negative = false
        if let first = rest.first, first == UInt8(ascii: "-") || first == UInt8(ascii: "+") {
            negative = first == UInt8(ascii: "-")
            rest = rest.dropFirst()
        }
        if rest.elementsEqual("0".utf8) { return .success(.zero) }
        if rest.isEmpty { return .failure(.invalid) }

        let limit: UInt64 = 1 << 63
        var total: UInt64 = 0
        while let first = rest.first {
            guard first == UInt8(ascii: ".") || isDigit(first) else { return .failure(.invalid) }
            // Whole part.
            var whole: UInt64 = 0
            var sawWhole = false
            while let digit = rest.first, isDigit(digit) {
                guard whole <= limit / 10 else { return .failure(.overflow) }
                whole = whole * 10 + UInt64(digit - UInt8(ascii: "0"))
                guard whole <= limit else { return .failure(.overflow) }
                rest = rest.dropFirst()
                sawWhole = true
            }
            // Fraction: digits beyond what fits are ignored, as in Go.
            var fraction: UInt64 = 0
            var scale: Double = 1
            var sawFraction = false
            if rest.first == UInt8(ascii: ".") {
                rest = rest.dropFirst()
                var overflowed = false
                while let digit = rest.first, isDigit(digit) {
                    rest = rest.dropFirst()
                    sawFraction = true
                    if overflowed { continue }
                    if fraction > (limit - 1) / 10 { overflowed = true; continue }
                    let next = fraction * 10 + UInt64(digit - UInt8(ascii: "0"))
                    if next > limit { overflowed = true; continue }
                    fraction = next
                    scale *= 10
                }
            }
            guard sawWhole || sawFraction else { return .failure(.invalid) }
            // Unit: everything up to the next number.
            let unitBytes = rest.prefix { $0 != UInt8(ascii: ".") && !isDigit($0) }
            guard !unitBytes.isEmpty else { return .failure(.missingUnit) }
            rest = rest.dropFirst(unitBytes.count)
            let unit = String(decoding: unitBytes, as: UTF8.self)
            guard let perUnit = nanosecondsPerUnit[unit] else { return .failure(.unknownUnit(unit)) }
            guard whole <= limit / perUnit else { return .failure(.overflow) }
            var value = whole * perUnit
            if fraction > 0 {
                value += UInt64(Double(fraction) * (Double(perUnit) / scale))
                guard value <= limit else { return .failure(.overflow) }
            }
            total += value
            guard total <= limit else { return .failure(.overflow) }
        }
        if negative {
            // -2^63 is representable.
            return .success(.nanoseconds(total == limit ? Int64.min : -Int64(total)))
        }
        guard total <= UInt64(Int64.max) else { return .failure(.overflow) }
        return .success(.nanoseconds(Int64(total)))
    }

    private static func isDigit(_ byte: UInt8) -> Bool {
        byte >= UInt8(ascii: "0") && byte <= UInt8(ascii: "9")
    }

    /// The duration in whole nanoseconds, clamped to Go's range.
    public static func nanoseconds(_ duration: Duration) -> Int64 {
        let (seconds, attoseconds) = duration.components
        let (product, overflow) = seconds.multipliedReportingOverflow(by: 1_000_000_000)
        guard !overflow else { return seconds < 0 ? .min : .max }
        let (sum, overflowSum) = product.addingReportingOverflow(attoseconds / 1_000_000_000)
        guard !overflowSum else { return seconds < 0 ? .min : .max }
        return sum
    }

    /// Go's `Duration.String`: `1h30m0s`, `1m0s`, `1.5s`, `10ms`, `0s`.
    public static func format(_ duration: Duration) -> String {
        let nanoseconds = nanoseconds(duration)
        if nanoseconds == 0 { return "0s" }
        let negative = nanoseconds < 0
        let magnitude = nanoseconds.magnitude
        var text: String
        if magnitude < 1_000_000_000 {
            // Below a second: one unit with a fraction.
            let (unit, perUnit): (String, UInt64) =
                magnitude < 1_000 ? ("ns", 1) : magnitude < 1_000_000 ? ("\u{B5}s", 1_000) : ("ms", 1_000_000)
            text = fixed(magnitude, per: perUnit) + unit
        } else {
            let hours = magnitude / 3_600_000_000_000
            let minutes = magnitude / 60_000_000_000 % 60
            let seconds = magnitude % 60_000_000_000
            text = fixed(seconds, per: 1_000_000_000) + "s"
            if hours > 0 || minutes > 0 { text = "\(minutes)m" + text }
            if hours > 0 { text = "\(hours)h" + text }
        }
        return negative ? "-" + text : text
    }

    /// `value / per` with the fraction's trailing zeros dropped.
    private static func fixed(_ value: UInt64, per: UInt64) -> String {
        let whole = value / per
        var fraction = value % per
        guard fraction > 0 else { return "\(whole)" }
        var digits = String(per).count - 1
        while fraction % 10 == 0 {
            fraction /= 10
            digits -= 1
        }
        var fractionText = String(fraction)
        while fractionText.count < digits { fractionText = "0" + fractionText }
        return "\(whole).\(fractionText)"
    }
}
