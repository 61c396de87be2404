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
            nextDay = day + 7 - Int64(CivilCalendar.isoWeekdayIndex(ofDay: day))
        case .monthly:
            let (year, month, _) = CivilCalendar.civil(fromDay: day)
            nextDay = month == 12
                ? CivilCalendar.dayNumber(year: year + 1, month: 1, day: 1)
                : CivilCalendar.dayNumber(year: year, month: month + 1, day: 1)
        }
        return Date(timeIntervalSince1970: Double(nextDay) * 86_400)
    }

    /// `schedule.next(after:)`, spelled as a function of both.
    public static func next(after date: Date, schedule: CronSchedule) -> Date {
        schedule.next(after: date)
    }
}

/// Day numbers (days since 1970-01-01) of instants, in UTC.
enum CivilDate {
    /// Days from 1970-01-01 to the UTC calendar day containing `date` (floor, so instants
    /// before 1970 land on the right day too).
    static func dayNumber(of date: Date) -> Int64 {
        Int64((date.timeIntervalSince1970 / 86_400).rounded(.down))
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
        let (year, month, dayOfMonth) = CivilCalendar.civil(fromDay: day)
        let time = [secondOfDay / 3600, secondOfDay / 60 % 60, secondOfDay % 60]
            .map { $0 < 10 ? "0\($0)" : "\($0)" }
            .joined(separator: ":")
        return "\(weekdays[CivilCalendar.isoWeekdayIndex(ofDay: day)]) \(months[month - 1]) \(dayOfMonth) \(time) \(year)"
    }
}
