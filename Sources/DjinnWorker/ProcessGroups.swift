#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif
import DjinnRunner
import Foundation

/// Process groups of a build, seen through /proc: a group is over when none of its members
/// is alive. Zombies do not count — an orphaned member is reaped by init, which can take a
/// while (a second, in some containers), but it runs nothing any more.
enum ProcessGroups {
    /// The pids of the group's members that are not zombies.
    static func liveMembers(of pgid: pid_t) -> [pid_t] {
        guard let entries = try? FileManager.default.contentsOfDirectory(atPath: "/proc") else {
            return kill(-pgid, 0) == 0 ? [pgid] : []
        }
        var members: [pid_t] = []
        for entry in entries {
            guard let pid = pid_t(entry), let stat = try? String(contentsOfFile: "/proc/\(entry)/stat", encoding: .utf8) else {
                continue
            }
            // "pid (comm) S ppid pgrp …": comm may hold spaces and parentheses.
            guard let close = stat.lastIndex(of: ")") else { continue }
            let fields = stat[stat.index(after: close)...].split(separator: " ", omittingEmptySubsequences: true)
            guard fields.count >= 3, let group = pid_t(fields[2]) else { continue }
            if group == pgid && fields[0] != "Z" && fields[0] != "X" { members.append(pid) }
        }
        return members
    }

    static func isAlive(_ pgid: pid_t) -> Bool {
        // Cheap first: no member at all, zombies included.
        guard kill(-pgid, 0) == 0 || errno == EPERM else { return false }
        return !liveMembers(of: pgid).isEmpty
    }

    /// SIGTERM to the group (and SIGCONT, so stopped members act on it), SIGKILL to what is
    /// left after `grace`, then waits (up to `settle`) until no member is alive.
    static func terminate(_ pgid: pid_t, grace: Duration, settle: Duration = .seconds(2)) async {
        guard kill(-pgid, SIGTERM) == 0 else { return }
        _ = kill(-pgid, SIGCONT)
        let clock = ContinuousClock()
        let graceEnd = clock.now + grace
        while clock.now < graceEnd {
            if !isAlive(pgid) { return }
            try? await clock.sleep(for: .milliseconds(10))
        }
        _ = kill(-pgid, SIGKILL)
        let settleEnd = clock.now + settle
        while isAlive(pgid) && clock.now < settleEnd {
            try? await clock.sleep(for: .milliseconds(10))
        }
    }
}
