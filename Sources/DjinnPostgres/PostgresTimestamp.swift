import Foundation

/// Text form of timestamps, as Djinn stores them: UTC, `TIMESTAMP without time zone`,
/// microsecond precision. Pure arithmetic on the proleptic Gregorian calendar (no
/// `Calendar`/`DateFormatter`, which are slow and locale-sensitive).
public enum PostgresTimestamp {
    /// Microseconds from 1970 to `Date`'s reference date (2001-01-01).
    private static let referenceDateMicros: Int64 = 978_307_200_000_000

    /// `YYYY-MM-DD HH:MM:SS.ffffff` in UTC, rounded to the microsecond.
    ///
    /// Works from `timeIntervalSinceReferenceDate` (what `Date` stores) so only one
    /// floating-point rounding happens each way: format ∘ parse is exact for 1865–2137.
    public static func format(_ date: Date) -> String {
        let micros = Int64((date.timeIntervalSinceReferenceDate * 1_000_000).rounded()) + referenceDateMicros
        let (days, dayMicros) = floorDivide(micros, 86_400_000_000)
        let (year, month, day) = civil(fromDays: days)
        let seconds = dayMicros / 1_000_000
        let fraction = dayMicros % 1_000_000
        var text = ""
        text.reserveCapacity(26)
        text += year < 0 ? "-" + pad(-year, 4) : pad(year, 4)
        text += "-" + pad(month, 2) + "-" + pad(day, 2)
        text += " " + pad(seconds / 3600, 2) + ":" + pad(seconds / 60 % 60, 2) + ":" + pad(seconds % 60, 2)
        text += "." + pad(fraction, 6)
        return text
    }

    /// Parses PostgreSQL's ISO output of `timestamp`, `timestamptz` (with its `+HH[:MM[:SS]]`
    /// offset) and `date`. `infinity`/`-infinity` map to `Date.distantFuture`/`distantPast`.
    /// Returns nil for anything else (including BC dates, which Djinn never stores).
    public static func parse<Bytes: Collection<UInt8>>(_ bytes: Bytes) -> Date? {
        var scanner = Scanner(Array(bytes))
        if scanner.rest.elementsEqual("infinity".utf8) { return Date.distantFuture }
        if scanner.rest.elementsEqual("-infinity".utf8) { return Date.distantPast }

        guard let year = scanner.digits(min: 4, max: 7), scanner.take(UInt8(ascii: "-")),
            let month = scanner.digits(min: 2, max: 2), scanner.take(UInt8(ascii: "-")),
            let day = scanner.digits(min: 2, max: 2),
            (1...12).contains(month), (1...daysIn(month: month, year: year)).contains(day)
        else { return nil }
        var micros: Int64 = 0
        if scanner.take(UInt8(ascii: " ")) || scanner.take(UInt8(ascii: "T")) {
            guard let hour = scanner.digits(min: 2, max: 2), scanner.take(UInt8(ascii: ":")),
                let minute = scanner.digits(min: 2, max: 2), scanner.take(UInt8(ascii: ":")),
                let second = scanner.digits(min: 2, max: 2),
                hour <= 24, minute < 60, second < 60
            else { return nil }
            micros = Int64(hour * 3600 + minute * 60 + second) * 1_000_000
            if scanner.take(UInt8(ascii: ".")) {
                let start = scanner.position
                guard let fraction = scanner.digits(min: 1, max: 6) else { return nil }
                let width = scanner.position - start
                var scaled = Int64(fraction)
                for _ in width..<6 { scaled *= 10 }
                micros += scaled
            }
            if let signByte = scanner.peek, signByte == UInt8(ascii: "+") || signByte == UInt8(ascii: "-") {
                scanner.position += 1
                guard let offsetHours = scanner.digits(min: 2, max: 2) else { return nil }
                var offset = offsetHours * 3600
                if scanner.take(UInt8(ascii: ":")) {
                    guard let offsetMinutes = scanner.digits(min: 2, max: 2) else { return nil }
                    offset += offsetMinutes * 60
                    if scanner.take(UInt8(ascii: ":")) {
                        guard let offsetSeconds = scanner.digits(min: 2, max: 2) else { return nil }
                        offset += offsetSeconds
                    }
                }
                // The text is local time at `offset` east of UTC: subtract it to get UTC.
                micros -= Int64(signByte == UInt8(ascii: "+") ? offset : -offset) * 1_000_000
            }
        }
        guard scanner.atEnd else { return nil }
        let total = days(fromCivil: year, month, day) * 86_400_000_000 + micros
        return Date(timeIntervalSinceReferenceDate: Double(total - referenceDateMicros) / 1_000_000)
    }

    // MARK: Calendar arithmetic (days relative to 1970-01-01)

    static func days(fromCivil year: Int, _ month: Int, _ day: Int) -> Int64 {
        CivilCalendar.dayNumber(year: year, month: month, day: day)
    }

    static func civil(fromDays days: Int64) -> (year: Int, month: Int, day: Int) {
        CivilCalendar.civil(fromDay: days)
    }

    static func daysIn(month: Int, year: Int) -> Int {
        switch month {
        case 2: return (year % 4 == 0 && year % 100 != 0) || year % 400 == 0 ? 29 : 28
        case 4, 6, 9, 11: return 30
        default: return 31
        }
    }

    private static func floorDivide(_ a: Int64, _ b: Int64) -> (quotient: Int64, remainder: Int64) {
        var q = a / b
        var r = a % b
        if r < 0 { q -= 1; r += b }
        return (q, r)
    }

    private static func pad<I: BinaryInteger>(_ value: I, _ width: Int) -> String {
        let digits = String(value)
        return digits.count >= width ? digits : String(repeating: "0", count: width - digits.count) + digits
    }

    private struct Scanner {
        let bytes: [UInt8]
        var position = 0
        init(_ bytes: [UInt8]) { self.bytes = bytes }
        var atEnd: Bool { position == bytes.count }
        var peek: UInt8? { atEnd ? nil : bytes[position] }
        var rest: ArraySlice<UInt8> { bytes[position...] }
        mutating func take(_ byte: UInt8) -> Bool {
            guard peek == byte else { return false }
            position += 1
            return true
        }
        mutating func digits(min: Int, max: Int) -> Int? {
            var value = 0
            var count = 0
            while count < max, let byte = peek, byte >= UInt8(ascii: "0"), byte <= UInt8(ascii: "9") {
                value = value * 10 + Int(byte - UInt8(ascii: "0"))
                count += 1
                position += 1
            }
            return count >= min ? value : nil
        }
    }
}
