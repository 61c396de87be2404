import Foundation
import Testing
@testable import DjinnPostgres

@Suite struct PostgresTimestampTests {
    @Test func formatsUTCWithMicroseconds() {
        #expect(PostgresTimestamp.format(Date(timeIntervalSince1970: 0)) == "1970-01-01 00:00:00.000000")
        #expect(PostgresTimestamp.format(Date(timeIntervalSince1970: 1_700_000_000.123456)) == "2023-11-14 22:13:20.123456")
        #expect(PostgresTimestamp.format(Date(timeIntervalSince1970: -1)) == "1969-12-31 23:59:59.000000")
        #expect(PostgresTimestamp.format(Date(timeIntervalSince1970: 951_782_400)) == "2000-02-29 00:00:00.000000")
        #expect(PostgresTimestamp.format(Date(timeIntervalSince1970: 253_402_300_799)) == "9999-12-31 23:59:59.000000")
    }

    @Test func parsesPostgresOutput() throws {
        func parse(_ text: String) -> Date? { PostgresTimestamp.parse(Array(text.utf8)) }
        #expect(parse("1970-01-01 00:00:00") == Date(timeIntervalSince1970: 0))
        #expect(parse("2023-11-14 22:13:20.5") == Date(timeIntervalSince1970: 1_700_000_000.5))
        #expect(parse("2023-11-14 22:13:20+00") == Date(timeIntervalSince1970: 1_700_000_000))
        #expect(parse("2023-11-15 00:13:20+02") == Date(timeIntervalSince1970: 1_700_000_000))
        #expect(parse("2023-11-14 17:43:20-04:30") == Date(timeIntervalSince1970: 1_700_000_000))
        #expect(parse("2023-11-14 22:13:50+00:00:30") == Date(timeIntervalSince1970: 1_700_000_000))
        #expect(parse("2023-11-14") == Date(timeIntervalSince1970: 1_699_920_000))
        #expect(parse("infinity") == Date.distantFuture)
        #expect(parse("-infinity") == Date.distantPast)
        let micro = try #require(parse("2023-11-14 22:13:20.000001"))
        #expect(abs(micro.timeIntervalSince1970 - 1_700_000_000.000001) < 1e-7)
        for bad in ["", "2023-13-01", "2023-02-30 00:00:00", "2023-11-14 25:00:00", "2023-11-14 22:13", "0044-03-15 BC",
                    "2023-11-14 22:13:20.1234567", "2023-11-14 22:13:20 x", "yesterday"] {
            #expect(parse(bad) == nil, "\(bad)")
        }
    }

    @Test func calendarRoundTripsEveryDayOverFourCenturies() {
        // Covers every leap-year rule (4, 100, 400) on both sides of the epoch.
        for days in Int64(-146_097)...Int64(146_097) {
            let (y, m, d) = PostgresTimestamp.civil(fromDays: days)
            #expect(PostgresTimestamp.days(fromCivil: y, m, d) == days)
            if d > PostgresTimestamp.daysIn(month: m, year: y) || d < 1 { Issue.record("bad day \(y)-\(m)-\(d)") }
        }
    }

    @Test func formatThenParseIsIdentityToTheMicrosecond() throws {
        var generator = SystemRandomNumberGenerator()
        // 1900 … 2100: within that span a Date's Double resolves well under a microsecond.
        for _ in 0..<5000 {
            let micros = Int64.random(in: -2_208_988_800_000_000...4_102_444_800_000_000, using: &generator)
            let date = Date(timeIntervalSince1970: Double(micros) / 1_000_000)
            let text = PostgresTimestamp.format(date)
            let back = try #require(PostgresTimestamp.parse(Array(text.utf8)), "\(text)")
            #expect(PostgresTimestamp.format(back) == text)
            #expect(abs(back.timeIntervalSince1970 - date.timeIntervalSince1970) < 0.000_001)
        }
    }
}
