import Testing
@testable import DjinnConfig

@Suite struct GoDurationTests {
    @Test(arguments: [
        ("0", Int64(0)), ("0s", 0), ("-0", 0), ("+5s", 5_000_000_000), ("1h30m", 5_400_000_000_000),
        ("1.5h", 5_400_000_000_000), ("10ms", 10_000_000), ("-5s", -5_000_000_000), ("1h30m45s", 5_445_000_000_000),
        ("300ms", 300_000_000), ("1.5s", 1_500_000_000), (".5s", 500_000_000), ("1.s", 1_000_000_000),
        ("2h45m", 9_900_000_000_000), ("10us", 10_000), ("10\u{B5}s", 10_000), ("10\u{3BC}s", 10_000), ("7ns", 7),
        ("9223372036854775807ns", Int64.max), ("-9223372036854775808ns", Int64.min),
        ("0.000000001s", 1), ("1.0000000001s", 1_000_000_000),
    ])
    func parses(text: String, nanoseconds: Int64) throws {
        let duration = try GoDuration.parse(text).get()
        #expect(GoDuration.nanoseconds(duration) == nanoseconds)
    }

    @Test(arguments: [
        ("", GoDuration.ParseError.invalid), ("-", .invalid), ("s", .invalid), (".s", .invalid), ("1", .missingUnit),
        ("1h30", .missingUnit), ("10mm", .unknownUnit("mm")), ("3d", .unknownUnit("d")), ("1h-5m", .unknownUnit("h-")),
        ("9223372036854775808ns", .overflow), ("3000000h", .overflow), ("99999999999999999999s", .overflow),
    ])
    func rejects(text: String, error: GoDuration.ParseError) {
        #expect(throws: error) { try GoDuration.parse(text).get() }
    }

    @Test(arguments: [
        (Int64(0), "0s"), (1, "1ns"), (1_500, "1.5\u{B5}s"), (10_000_000, "10ms"), (1_500_000_000, "1.5s"),
        (60_000_000_000, "1m0s"), (5_400_000_000_000, "1h30m0s"), (5_445_500_000_000, "1h30m45.5s"),
        (-5_000_000_000, "-5s"), (1_800_000_000_000, "30m0s"), (Int64.max, "2562047h47m16.854775807s"),
    ])
    func formatsLikeGo(nanoseconds: Int64, text: String) {
        #expect(GoDuration.format(.nanoseconds(nanoseconds)) == text)
    }
}

@Suite struct StringExpansionTests {
    private func expand(_ raw: String, _ environment: [String: String] = [:]) -> String? {
        try? StringExpansion.expand(raw, environment: environment).get().value
    }

    @Test func everyBackslashIsDeleted() {
        #expect(expand(#"a\"b"#) == #"a"b"#)
        #expect(expand(#"x\ny"#) == "xny")
        #expect(expand(#"C:\\dir"#) == "C:dir")
        #expect(expand(#"\$HOME"#) == "$HOME")
    }

    @Test func environmentVariables() {
        let environment = ["DB_PASSWORD": "s3cret", "HOST": "db", "EMPTY": ""]
        #expect(expand("${DB_PASSWORD}", environment) == "s3cret")
        #expect(expand("${env:HOST}:5432", environment) == "db:5432")
        #expect(expand("${UNSET}x", environment) == "x")
        #expect(expand("${EMPTY}", environment) == "")
        #expect(expand("$HOST", environment) == "$HOST")
        #expect(expand("a${}b", environment) == "ab")
        #expect(expand("${HOST}${HOST}", environment) == "dbdb")
        #expect(expand("$", environment) == "$")
        #expect(expand("{HOST}", environment) == "{HOST}")
        // A backslash never protects `$`.
        #expect(expand(#"\${HOST}"#, environment) == "db")
    }

    @Test func unterminatedExpressionIsDroppedAndFlagged() throws {
        let result = try StringExpansion.expand("abc${HOST", environment: ["HOST": "db"]).get()
        #expect(result == .init(value: "abc", unterminated: true))
    }

    @Test func unknownPrefixFails() {
        #expect(throws: StringExpansion.Failure.unknownPrefix("vault")) {
            try StringExpansion.expand("${vault:db/password}", environment: [:]).get()
        }
        // A colon first is part of the name, as in Go.
        #expect(expand("${:X}", [":X": "y"]) == "y")
    }
}

@Suite struct SuggestionTests {
    @Test func closeNamesAreSuggested() {
        #expect(Suggestion.closest(to: "timout", among: ["timeout", "driver"]) == "timeout")
        #expect(Suggestion.closest(to: "adr", among: ["addr", "name"]) == "addr")
        #expect(Suggestion.closest(to: "paralellism", among: ["parallelism"]) == "parallelism")
        #expect(Suggestion.closest(to: "PIDFILE_", among: ["pidfile"]) == "pidfile")
        #expect(Suggestion.closest(to: "drvier", among: ["driver"]) == "driver")
        #expect(Suggestion.closest(to: "batchsize", among: ["batch_size"]) == "batch_size")
    }

    @Test func distantNamesAreNot() {
        #expect(Suggestion.closest(to: "colour", among: ["timeout", "driver"]) == nil)
        #expect(Suggestion.closest(to: "xy", among: ["ab"]) == nil)
    }

    @Test func editDistance() {
        func distance(_ a: String, _ b: String) -> Int {
            Suggestion.editDistance(Array(a.unicodeScalars), Array(b.unicodeScalars))
        }
        #expect(distance("", "abc") == 3)
        #expect(distance("kitten", "sitting") == 3)
        #expect(distance("ab", "ba") == 1)
        #expect(distance("same", "same") == 0)
    }
}
