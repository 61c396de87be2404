import DjinnPostgres
import Foundation

/// The schema's `schedule` enum and when a cron runs next (spec §6.6, intended form).
///
/// Every result is a midnight in UTC, worked out from the UTC calendar date of the given
/// instant, whatever the process's or the database session's time zone (Go used the local
/// date with a UTC midnight, which only agrees when TZ=UTC: spec §12 items 2 and 28):
///
/// - daily: 00:00 UTC of the next calendar day;
/// - weekly: 00:00 UTC of the next Monday (ISO 8601 weeks start on Monday); on a Monday that
///   is the Monday a week later, so a cron never runs twice in one week;
/// - monthly: 00:00 UTC of the 1st of the next month (Jan 31 → Feb 1, Dec → Jan 1 of the next
///   year; no day-of-month overflow as in Go).
///
/// The result is always strictly later than the given instant.
public enum CronSchedule: String, Sendable, CaseIterable, PostgresEnum {
    case daily, weekly, monthly

    /// The first run of this schedule after `date`.
    public func next(after date: Date) -> Date {
        let day = CivilDate.dayNumber(of: date)
        let nextDay: Int64
        switch self {
        case .daily:
            nextDay = day + 1
        case .weekly:
            nextDay = day + 7 - Int64(CivilDate.isoWeekdayIndex(ofDay: day))
        case .monthly:
            let (year, month, _) = CivilDate.civil(fromDay: day)
            nextDay = month == 12
                ? CivilDate.dayNumber(year: year + 1, month: 1, day: 1)
                : CivilDate.dayNumber(year: year, month: month + 1, day: 1)
        }
        return Date(timeIntervalSince1970: Double(nextDay) * 86_400)
    }

    /// `schedule.next(after:)`, spelled as a function of both.
    public static func next(after date: Date, schedule: CronSchedule) -> Date {
        schedule.next(after: date)
    }
}

/// Proleptic Gregorian calendar arithmetic on days since 1970-01-01 (UTC). Pure integer
/// arithmetic: no `Calendar`, no time zone, no locale.
enum CivilDate {
    /// Days from 1970-01-01 to the UTC calendar day containing `date` (floor, so instants
    /// before 1970 land on the right day too).
    static func dayNumber(of date: Date) -> Int64 {
        Int64((date.timeIntervalSince1970 / 86_400).rounded(.down))
    }

    /// 0 for Monday … 6 for Sunday. Day 0 (1970-01-01) was a Thursday.
    static func isoWeekdayIndex(ofDay day: Int64) -> Int {
        Int(((day + 3) % 7 + 7) % 7)
    }

    /// Howard Hinnant's days_from_civil.
    static func dayNumber(year: Int64, month: Int, day: Int) -> Int64 {
        let y = month <= 2 ? year - 1 : year
        let era = (y >= 0 ? y : y - 399) / 400
        let yearOfEra = y - era * 400
        let m = Int64(month)
        let dayOfYear = (153 * (m > 2 ? m - 3 : m + 9) + 2) / 5 + Int64(day) - 1
        let dayOfEra = yearOfEra * 365 + yearOfEra / 4 - yearOfEra / 100 + dayOfYear
        return era * 146_097 + dayOfEra - 719_468
    }

    /// Howard Hinnant's civil_from_days.
    static func civil(fromDay days: Int64) -> (year: Int64, month: Int, day: Int) {
        let z = days + 719_468
        let era = (z >= 0 ? z : z - 146_096) / 146_097
        let dayOfEra = z - era * 146_097
        let yearOfEra = (dayOfEra - dayOfEra / 1460 + dayOfEra / 36_524 - dayOfEra / 146_096) / 365
        let dayOfYear = dayOfEra - (365 * yearOfEra + yearOfEra / 4 - yearOfEra / 100)
        let mp = (5 * dayOfYear + 2) / 153
        let day = Int(dayOfYear - (153 * mp + 2) / 5 + 1)
        let month = Int(mp < 10 ? mp + 3 : mp - 9)
        return (yearOfEra + era * 400 + (month <= 2 ? 1 : 0), month, day)
    }
}

/// Go's `time.Format("Mon Jan 2 15:04:05 2006")` in UTC, as the cron build comment shows the
/// run time (day of month not padded: `Tue Nov 7 00:00:00 2023`).
public enum CronTimeFormat {
    private static let weekdays = ["Mon", "Tue", "Wed", "Thu", "Fri", "Sat", "Sun"]
    private static let months = ["Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"]

    public static func format(_ date: Date) -> String {
        let seconds = Int64((date.timeIntervalSince1970).rounded(.down))
        let day = seconds >= 0 ? seconds / 86_400 : (seconds - 86_399) / 86_400
        let secondOfDay = seconds - day * 86_400
        let (year, month, dayOfMonth) = CivilDate.civil(fromDay: day)
        let time = [secondOfDay / 3600, secondOfDay / 60 % 60, secondOfDay % 60]
            .map { $0 < 10 ? "0\($0)" : "\($0)" }
            .joined(separator: ":")
        return "\(weekdays[CivilDate.isoWeekdayIndex(ofDay: day)]) \(months[month - 1]) \(dayOfMonth) \(time) \(year)"
    }
}
