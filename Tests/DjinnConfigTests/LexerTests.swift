import Testing
@testable import DjinnConfig

@Suite struct LexerTests {
    private func kinds(_ source: String) -> [ConfigToken.Kind] {
        ConfigLexer.tokenize(Array(source.utf8), file: "t.conf").tokens.map(\.kind)
    }

    private func tokens(_ source: String) -> [ConfigToken] {
        ConfigLexer.tokenize(Array(source.utf8), file: "t.conf").tokens
    }

    private func errors(_ source: String) -> [String] {
        ConfigLexer.tokenize(Array(source.utf8), file: "t.conf").diagnostics.map(\.description)
    }

    @Test func namesLiteralsAndPunctuation() {
        #expect(kinds("store artifacts { limit 50MB; path \"/x\" }\n") == [
            .name, .name, .leftBrace, .name, .literal(.size), .terminator, .name, .literal(.string), .rightBrace,
            .terminator, .endOfFile,
        ])
        #expect(kinds("drivers [\"a\", 1, 1.5, true, 30m]") == [
            .name, .leftBracket, .literal(.string), .comma, .literal(.int), .comma, .literal(.float), .comma,
            .name, .comma, .literal(.duration), .rightBracket, .endOfFile,
        ])
    }

    @Test func newlineTerminatesOnlyAfterNameLiteralOrClosingBracket() {
        #expect(kinds("a {\n}\n") == [.name, .leftBrace, .rightBrace, .terminator, .endOfFile])
        #expect(kinds("a [\n1,\n]\n") == [.name, .leftBracket, .literal(.int), .comma, .rightBracket, .terminator, .endOfFile])
        #expect(kinds("\n\n\na\n\n\n") == [.name, .terminator, .endOfFile])
    }

    @Test func locationsAreOneBasedByteColumns() {
        let all = tokens("log info \"x\"\n\tname 标签 \"é\" 1\n")
        #expect(all.map(\.location.description) == [
            "t.conf:1:1", "t.conf:1:5", "t.conf:1:10", "t.conf:1:13",
            "t.conf:2:2", "t.conf:2:7", "t.conf:2:14", "t.conf:2:19", "t.conf:2:20", "t.conf:3:1",
        ])
        #expect(all[5].text == "标签")
        #expect(all[6].text == "é")
    }

    @Test func unicodeLettersMakeNames() {
        let all = tokens("ünïcode_1 _x 标签")
        #expect(all.map(\.kind) == [.name, .name, .name, .endOfFile])
        #expect(all.map(\.text) == ["ünïcode_1", "_x", "标签", ""])
    }

    @Test func commentAtEndOfFileWithoutNewlineEnds() {
        #expect(kinds("pidfile \"x\" # last words") == [.name, .literal(.string), .endOfFile])
        #expect(kinds("#") == [.endOfFile])
        #expect(errors("a 1 # x").isEmpty)
    }

    @Test func commentKeepsTheNewlineThatEndsTheParameter() {
        #expect(kinds("a 1 # note\nb 2") == [.name, .literal(.int), .terminator, .name, .literal(.int), .endOfFile])
        #expect(kinds("# full line\n# another\na 1") == [.name, .literal(.int), .endOfFile])
    }

    @Test func carriageReturnIsWhitespace() {
        #expect(kinds("a 1\r\nb {\r\n c \"x\"\r\n}\r\n") == [
            .name, .literal(.int), .terminator, .name, .leftBrace, .name, .literal(.string), .terminator,
            .rightBrace, .terminator, .endOfFile,
        ])
    }

    @Test func byteOrderMarkIsSkipped() {
        let all = tokens("\u{FEFF}a 1")
        #expect(all.map(\.kind) == [.name, .literal(.int), .endOfFile])
        #expect(all[0].location.column == 1)
    }

    @Test func stringsKeepBackslashesAndEscapedQuotes() {
        #expect(tokens(#"a "x\"y""#)[1].text == #"x\"y"#)
        #expect(tokens(#"a "C:\\dir\\""#)[1].text == #"C:\\dir\\"#)
        #expect(tokens(#"a "" b 1"#).map(\.text) == ["a", "", "b", "1", ""])
        #expect(tokens(#"a "x # not a comment" # a comment"#).map(\.text) == ["a", "x # not a comment", ""])
    }

    @Test(arguments: [
        ("1h30m", LiteralKind.duration), ("1.5h", .duration), ("10ms", .duration), ("-5s", .duration),
        ("1h30m45s", .duration), ("10us", .duration), ("42", .int), ("-7", .int), ("3.25", .float),
        ("10B", .size), ("1KB", .size), ("50MB", .size), ("2GB", .size), ("1TB", .size),
    ])
    func numberKinds(text: String, kind: LiteralKind) {
        let all = tokens("a \(text)")
        #expect(all[1].kind == .literal(kind))
        #expect(all[1].text == text)
        #expect(errors("a \(text)").isEmpty)
    }

    @Test func unexpectedCharacterIsAnError() {
        #expect(errors("pidfile @ \"x\"") == ["t.conf:1:9: unexpected character '@' (U+0040)"])
        #expect(errors("a = 1") == ["t.conf:1:3: unexpected character '=' (U+003D)"])
        #expect(errors("a .5") == ["t.conf:1:3: unexpected character '.' (U+002E)"])
        #expect(errors("a \u{7}") == ["t.conf:1:3: unexpected character U+0007"])
        #expect(kinds("a @ 1") == [.name, .literal(.int), .endOfFile])
    }

    @Test func nulByteIsAnError() {
        #expect(errors("a\u{0} 1") == ["t.conf:1:2: invalid NUL byte"])
        #expect(errors("a \"x\u{0}y\"") == ["t.conf:1:5: invalid NUL byte"])
    }

    @Test func invalidUTF8IsAnError() {
        let result = ConfigLexer.tokenize([UInt8(ascii: "a"), UInt8(ascii: " "), 0xFF], file: "t.conf")
        #expect(result.diagnostics.map(\.description) == ["t.conf:1:3: invalid UTF-8 byte 0xFF"])
    }

    @Test func newlineInStringIsAnErrorAndTheLineStillEnds() {
        #expect(errors("a \"open\nb 1") == ["t.conf:1:3: unexpected newline in string"])
        #expect(kinds("a \"open\nb 1") == [.name, .literal(.string), .terminator, .name, .literal(.int), .endOfFile])
        // A backslash does not carry a string over a newline.
        #expect(errors("a \"x\\\nb 1") == ["t.conf:1:3: unexpected newline in string"])
    }

    @Test func unterminatedStringAtEndOfFile() {
        #expect(errors("a 1\nb \"never closed") == ["t.conf:2:3: unterminated string"])
        #expect(errors("a \"\\\"") == ["t.conf:1:3: unterminated string"])
    }

    @Test func malformedNumbers() {
        #expect(errors("a 1.2.3") == ["t.conf:1:6: invalid point in float"])
        #expect(errors("a 10K") == [#"t.conf:1:3: invalid size "10K" (did you mean 10KB?)"#])
        #expect(errors("a 3kb") == [#"t.conf:1:3: invalid size "3kb" (did you mean 3KB?)"#])
        #expect(errors("a 5mb") == [#"t.conf:1:3: invalid size "5mb" (did you mean 5MB?)"#])
        #expect(errors("a 1.5MB") == [#"t.conf:1:3: invalid size "1.5MB": a size must be a whole number"#])
        #expect(errors("a 5x") == [#"t.conf:1:3: invalid number "5x""#])
        #expect(errors("a -") == [#"t.conf:1:3: invalid number "-""#])
        #expect(errors("a 1_000") == [#"t.conf:1:3: invalid number "1_000""#])
    }
}
