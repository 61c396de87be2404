import Foundation
import Testing
@testable import DjinnScheduler

/// `YYYY-MM-DD HH:MM:SS` in UTC.
func utc(_ text: String) -> Date {
    let formatter = ISO8601DateFormatter()
    formatter.formatOptions = [.withFullDate, .withTime, .withSpaceBetweenDateAndTime, .withColonSeparatorInTime]
    formatter.timeZone = TimeZone(identifier: "UTC")
    guard let date = formatter.date(from: text) else { fatalError("bad test date \(text)") }
    return date
}

@Suite struct CronScheduleTests {
    struct Case: Sendable, CustomTestStringConvertible {
        var schedule: CronSchedule
        var now: String
        var next: String
        var testDescription: String { "\(schedule) after \(now) → \(next)" }
    }

    @Test(arguments: [
        // daily: the next calendar day, across month, leap-day and year ends.
        Case(schedule: .daily, now: "2023-11-06 00:00:00", next: "2023-11-07 00:00:00"),
        Case(schedule: .daily, now: "2023-11-06 23:59:59", next: "2023-11-07 00:00:00"),
        Case(schedule: .daily, now: "2024-01-31 12:00:00", next: "2024-02-01 00:00:00"),
        Case(schedule: .daily, now: "2023-02-28 08:00:00", next: "2023-03-01 00:00:00"),
        Case(schedule: .daily, now: "2024-02-28 08:00:00", next: "2024-02-29 00:00:00"),
        Case(schedule: .daily, now: "2024-02-29 08:00:00", next: "2024-03-01 00:00:00"),
        Case(schedule: .daily, now: "2023-12-31 23:00:00", next: "2024-01-01 00:00:00"),
        Case(schedule: .daily, now: "2100-02-28 10:00:00", next: "2100-03-01 00:00:00"),  // 2100 is not a leap year
        Case(schedule: .daily, now: "2000-02-28 10:00:00", next: "2000-02-29 00:00:00"),  // 2000 is
        // weekly: the next Monday (ISO weeks); from a Monday, the Monday after.
        Case(schedule: .weekly, now: "2023-11-05 10:00:00", next: "2023-11-06 00:00:00"),  // Sunday
        Case(schedule: .weekly, now: "2023-11-06 00:00:00", next: "2023-11-13 00:00:00"),  // Monday midnight
        Case(schedule: .weekly, now: "2023-11-06 15:30:00", next: "2023-11-13 00:00:00"),  // Monday
        Case(schedule: .weekly, now: "2023-11-07 00:00:00", next: "2023-11-13 00:00:00"),  // Tuesday
        Case(schedule: .weekly, now: "2023-11-08 09:00:00", next: "2023-11-13 00:00:00"),  // Wednesday
        Case(schedule: .weekly, now: "2023-11-09 09:00:00", next: "2023-11-13 00:00:00"),  // Thursday
        Case(schedule: .weekly, now: "2023-11-10 09:00:00", next: "2023-11-13 00:00:00"),  // Friday
        Case(schedule: .weekly, now: "2023-11-11 09:00:00", next: "2023-11-13 00:00:00"),  // Saturday
        Case(schedule: .weekly, now: "2023-12-31 12:00:00", next: "2024-01-01 00:00:00"),  // Sunday, year end
        Case(schedule: .weekly, now: "2024-12-30 12:00:00", next: "2025-01-06 00:00:00"),  // Monday across a year end
        Case(schedule: .weekly, now: "2024-02-26 12:00:00", next: "2024-03-04 00:00:00"),  // across Feb 29
        Case(schedule: .weekly, now: "2023-02-27 12:00:00", next: "2023-03-06 00:00:00"),
        // monthly: the 1st of the next month.
        Case(schedule: .monthly, now: "2023-01-31 12:00:00", next: "2023-02-01 00:00:00"),
        Case(schedule: .monthly, now: "2024-01-31 12:00:00", next: "2024-02-01 00:00:00"),
        Case(schedule: .monthly, now: "2023-02-28 00:00:00", next: "2023-03-01 00:00:00"),
        Case(schedule: .monthly, now: "2024-02-28 00:00:00", next: "2024-03-01 00:00:00"),
        Case(schedule: .monthly, now: "2024-02-29 23:59:59", next: "2024-03-01 00:00:00"),
        Case(schedule: .monthly, now: "2023-03-01 00:00:00", next: "2023-04-01 00:00:00"),
        Case(schedule: .monthly, now: "2023-04-30 18:00:00", next: "2023-05-01 00:00:00"),
        Case(schedule: .monthly, now: "2023-12-01 00:00:00", next: "2024-01-01 00:00:00"),
        Case(schedule: .monthly, now: "2023-12-31 23:59:59", next: "2024-01-01 00:00:00"),
    ])
    func nextRun(_ c: Case) {
        #expect(c.schedule.next(after: utc(c.now)) == utc(c.next))
        #expect(CronSchedule.next(after: utc(c.now), schedule: c.schedule) == utc(c.next))
    }

    /// Independent check against Foundation's Gregorian calendar in UTC over several years,
    /// every 7 hours (so every hour of the day and every weekday is visited).
    @Test func agreesWithFoundationsCalendarForYears() {
        var calendar = Calendar(identifier: .iso8601)
        calendar.timeZone = TimeZone(identifier: "UTC")!
        var date = utc("1999-12-25 00:00:00")
        let end = utc("2030-01-10 00:00:00")
        while date < end {
            let startOfDay = calendar.startOfDay(for: date)
            let daily = calendar.date(byAdding: .day, value: 1, to: startOfDay)!
            let weekStart = calendar.dateInterval(of: .weekOfYear, for: date)!.start  // ISO: Monday
            let weekly = calendar.date(byAdding: .day, value: 7, to: weekStart)!
            let monthStart = calendar.dateInterval(of: .month, for: date)!.start
            let monthly = calendar.date(byAdding: .month, value: 1, to: monthStart)!
            #expect(CronSchedule.daily.next(after: date) == daily)
            #expect(CronSchedule.weekly.next(after: date) == weekly)
            #expect(CronSchedule.monthly.next(after: date) == monthly)
            date += 7 * 3600
        }
    }

    @Test func resultIsAlwaysLaterAndAMidnight() {
        for schedule in CronSchedule.allCases {
            for offset in stride(from: 0.0, to: 86_400 * 40, by: 3_599.5) {
                let now = utc("2024-02-20 00:00:00") + offset
                let next = schedule.next(after: now)
                #expect(next > now)
                #expect(next.timeIntervalSince1970.truncatingRemainder(dividingBy: 86_400) == 0)
            }
        }
    }

    /// Go's `Mon Jan 2 15:04:05 2006` layout: the day of month is not padded.
    @Test(arguments: [
        ("2023-11-07 00:00:00", "Tue Nov 7 00:00:00 2023"),
        ("2024-02-29 13:05:09", "Thu Feb 29 13:05:09 2024"),
        ("2023-12-31 23:59:59", "Sun Dec 31 23:59:59 2023"),
        ("2006-01-02 15:04:05", "Mon Jan 2 15:04:05 2006"),
        ("2025-06-15 07:08:00", "Sun Jun 15 07:08:00 2025"),
    ])
    func ansiCommentTime(_ input: String, _ expected: String) {
        #expect(CronTimeFormat.format(utc(input)) == expected)
        #expect(CronTimeFormat.format(utc(input) + 0.75) == expected)  // fractions are cut, not rounded
    }

    @Test func tagAndComment() {
        #expect(CronInvocation.tag(forCronNamed: "nightly build all") == "cron:nightly-build-all")
        #expect(CronInvocation.comment(forCronNamed: "nightly", dueAt: utc("2023-11-07 00:00:00"))
            == "nightly: Scheduled build, next run Tue Nov 7 00:00:00 2023")
    }
}
