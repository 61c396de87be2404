import Foundation
import Testing

/// Every djinnctl command and subcommand answers -h, -help and --help with usage text and
/// exit 0. The walk starts at the root and follows each help's SUBCOMMANDS list, so a
/// command added later is covered without touching this test.
@Suite struct DjinnctlHelpTests {
    /// The command paths below `path`, read from its help's SUBCOMMANDS section.
    static func subcommands(inHelp text: String) -> [String] {
        guard let start = text.range(of: "\nSUBCOMMANDS:\n") else { return [] }
        return text[start.upperBound...].split(separator: "\n").compactMap { line in
            // Entries are indented two spaces; wrapped descriptions are indented further.
            guard line.hasPrefix("  "), !line.hasPrefix("   "), !line.hasPrefix("  See ") else { return nil }
            return line.split(separator: " ").first.map(String.init)
        }
    }

    @Test func everyCommandHasHelp() async throws {
        var pending: [[String]] = [[]]
        var visited: [String] = []
        while let path = pending.popLast() {
            let name = (["djinnctl"] + path).joined(separator: " ")
            visited.append(name)
            var texts: [String] = []
            for flag in ["-h", "-help", "--help"] {
                let result = try await Djinnctl.run(path + [flag])
                #expect(result.status == 0, "\(name) \(flag): exit \(result.status) \(result.stderr)")
                #expect(result.stdout.hasPrefix("OVERVIEW: "), "\(name) \(flag): \(result.stdout)")
                #expect(result.stdout.contains("USAGE: \(name)"), "\(name) \(flag): \(result.stdout)")
                #expect(result.stdout.contains("-h, -help, --help"), "\(name) \(flag)")
                texts.append(result.stdout)
            }
            #expect(Set(texts).count == 1, "\(name): -h, -help and --help differ")
            let children = Self.subcommands(inHelp: texts[0])
            if children.isEmpty, !path.isEmpty {
                // A command that does something reads a config file; say so the same way everywhere.
                #expect(texts[0].contains("-config, --config <file>"), "\(name) has no -config")
            }
            pending += children.map { path + [$0] }
        }
        // What the README and docs/operations.md name; more is fine, fewer is a regression.
        for expected in [
            "djinnctl migrate", "djinnctl build submit", "djinnctl build kill", "djinnctl build show",
            "djinnctl user add", "djinnctl cron add", "djinnctl cron list", "djinnctl cron rm",
            "djinnctl image add", "djinnctl queues", "djinnctl dead list", "djinnctl dead show",
            "djinnctl dead retry", "djinnctl dead purge",
        ] {
            #expect(visited.contains(expected), "\(expected) not reached from djinnctl -h (walked \(visited))")
        }
    }

    @Test func helpSubcommandAndBareGroupsPrintUsage() async throws {
        let viaHelp = try await Djinnctl.run(["help", "cron", "add"])
        #expect(viaHelp.status == 0)
        #expect(viaHelp.stdout.contains("USAGE: djinnctl cron add"))
        let bare = try await Djinnctl.run(["dead"])
        #expect(bare.status == 0)
        #expect(bare.stdout.contains("SUBCOMMANDS:"))
    }
}
