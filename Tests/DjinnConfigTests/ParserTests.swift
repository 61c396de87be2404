import Testing
@testable import DjinnConfig

@Suite struct ParserTests {
    private func parse(_ source: String) -> ParsedSource {
        ConfigParser.parse(source: source, file: "test.conf")
    }

    private func literal(_ value: ConfigValue?) -> ConfigLiteral? {
        if case .literal(let literal)? = value { return literal }
        return nil
    }

    private func block(_ value: ConfigValue?) -> ConfigBlock? {
        if case .block(let block)? = value { return block }
        return nil
    }

    private func array(_ value: ConfigValue?) -> ConfigArray? {
        if case .array(let array)? = value { return array }
        return nil
    }

    @Test func topLevelParametersNeedNoSeparator() {
        let parsed = parse("pidfile \"/run/w.pid\" parallelism 4 timeout 1h30m")
        #expect(parsed.diagnostics.isEmpty)
        #expect(parsed.parameters.map(\.name.text) == ["pidfile", "parallelism", "timeout"])
        #expect(literal(parsed.parameters[1].value) == ConfigLiteral(kind: .int, text: "4", location: SourceLocation(file: "test.conf", line: 1, column: 34)))
    }

    @Test func labelsAndValues() {
        let parsed = parse("""
            store artifacts {
                type "file"
                limit 50MB
            }
            log info "/dev/stdout"
            provider github
            flag true
            other false;
            """)
        #expect(parsed.diagnostics.isEmpty)
        let params = parsed.parameters
        #expect(params.map(\.name.text) == ["store", "log", "provider", "flag", "other"])
        #expect(params.map { $0.label?.text } == ["artifacts", "info", "github", nil, nil])
        #expect(block(params[0].value)?.parameters.map(\.name.text) == ["type", "limit"])
        #expect(block(params[0].value)?.location == SourceLocation(file: "test.conf", line: 1, column: 17))
        #expect(params[2].value == nil)
        #expect(literal(params[3].value)?.kind == .bool)
        #expect(literal(params[3].value)?.text == "true")
        #expect(literal(params[4].value)?.text == "false")
    }

    @Test func blocksNeedSeparatorsAndAcceptSemicolons() {
        let parsed = parse("database { addr \"h:1\"; name \"n\"; }\nredis {\n\n  addr \"r:2\"\n\n}")
        #expect(parsed.diagnostics.isEmpty)
        #expect(block(parsed.parameters[0].value)?.parameters.count == 2)
        #expect(block(parsed.parameters[1].value)?.parameters.count == 1)
    }

    @Test func emptyBlocksAndArrays() {
        let parsed = parse("a {}\nb []\nc {\n}\nd [\n]")
        #expect(parsed.diagnostics.isEmpty)
        #expect(block(parsed.parameters[0].value)?.parameters.isEmpty == true)
        #expect(array(parsed.parameters[1].value)?.items.isEmpty == true)
    }

    @Test func arraysWithAndWithoutTrailingCommas() {
        let parsed = parse("""
            a ["x", "y"]
            b ["x", "y",]
            c [
                "x",
                "y",
            ]
            d [
                "x", # comment after a comma
                # a full-line comment
                "y",
            ]
            """)
        #expect(parsed.diagnostics.isEmpty)
        for parameter in parsed.parameters {
            #expect(array(parameter.value)?.items.compactMap { literal($0)?.text } == ["x", "y"])
        }
    }

    @Test func nestedArraysAndBlocksInArrays() {
        let parsed = parse("matrix [[1, 2], [3], { a 1; b 2 }, []]")
        #expect(parsed.diagnostics.isEmpty)
        let items = array(parsed.parameters[0].value)?.items ?? []
        #expect(items.count == 4)
        #expect(array(items[0])?.items.count == 2)
        #expect(block(items[2])?.parameters.map(\.name.text) == ["a", "b"])
    }

    @Test func inlineCommentsInsideBlocksDoNotBreakParsing() {
        let parsed = parse("""
            database {
                addr "localhost:5432" # the primary
                name "djinn"          # the name
                username "u"
            }
            """)
        #expect(parsed.diagnostics.isEmpty)
        #expect(block(parsed.parameters[0].value)?.parameters.map(\.name.text) == ["addr", "name", "username"])
    }

    @Test func commentAtEndOfFile() {
        let parsed = parse("redis {\n addr \"x\"\n}\n# end")
        #expect(parsed.diagnostics.isEmpty)
        #expect(parsed.parameters.count == 1)
    }

    @Test func crlfSource() {
        let parsed = parse("database {\r\n\taddr \"h:1\"\r\n\tname \"n\"\r\n}\r\nlog info \"x\"\r\n")
        #expect(parsed.diagnostics.isEmpty)
        #expect(parsed.parameters.count == 2)
        #expect(block(parsed.parameters[0].value)?.parameters.compactMap { literal($0.value)?.text } == ["h:1", "n"])
    }

    @Test func includeIsAnOrdinaryParameterWhenParsingOneSource() {
        let parsed = parse("include \"a.conf\"\ninclude [\"b.conf\", \"c.conf\",]")
        #expect(parsed.diagnostics.isEmpty)
        #expect(parsed.parameters.map(\.name.text) == ["include", "include"])
    }

    // MARK: Errors

    @Test func nameThenNewline() {
        #expect(syntaxErrors("pidfile\nlog info \"x\"") == ["test.conf:1:8: unexpected newline"])
        #expect(syntaxErrors("a {\n  b\n}") == ["test.conf:2:4: unexpected newline"])
        #expect(syntaxErrors("a;") == ["test.conf:1:2: unexpected ;"])
        #expect(syntaxErrors("a") == ["test.conf:1:2: unexpected end of file"])
        #expect(syntaxErrors("a { b }") == ["test.conf:1:7: unexpected }"])
    }

    @Test func valueMustBeOnTheSameLine() {
        #expect(syntaxErrors("database\n{\n addr \"x\"\n}") == ["test.conf:1:9: unexpected newline", "test.conf:2:1: unexpected {"])
    }

    @Test func missingTerminatorInBlock() {
        #expect(syntaxErrors("database { addr \"h:1\" name \"n\" }") == ["test.conf:1:23: expected newline or }"])
        #expect(syntaxErrors("a { b 1 2 }\nc 3") == ["test.conf:1:9: expected newline or }"])
    }

    @Test func recoveryKeepsTheNextParameter() {
        let parsed = parse("database { addr \"h:1\" name \"n\" }")
        #expect(block(parsed.parameters[0].value)?.parameters.map(\.name.text) == ["addr", "name"])
    }

    @Test func arrayWithoutTrailingCommaBeforeClosingLine() {
        #expect(syntaxErrors("drivers [\n\t\"docker\",\n\t\"qemu\"\n]") == ["test.conf:3:8: expected comma or ]"])
        #expect(syntaxErrors("drivers [\"a\" \"b\"]") == ["test.conf:1:14: expected comma or ]"])
    }

    @Test func unclosedBlockAndArray() {
        #expect(syntaxErrors("database {\n addr \"x\"\n") == ["test.conf:3:1: unexpected end of file, expected } to close the block opened at 1:10"])
        #expect(syntaxErrors("a [1, 2") == ["test.conf:1:8: unexpected end of file, expected ] to close the array opened at 1:3"])
        #expect(syntaxErrors("a { b { c 1 }") == ["test.conf:1:14: unexpected end of file, expected } to close the block opened at 1:3"])
    }

    @Test func strayTokens() {
        #expect(syntaxErrors("}\na 1") == ["test.conf:1:1: unexpected }"])
        #expect(syntaxErrors("\"x\"\na 1") == ["test.conf:1:1: unexpected string"])
        #expect(syntaxErrors("a { 1 }") == ["test.conf:1:5: expected name"])
        #expect(syntaxErrors("a b c") == [#"test.conf:1:5: unexpected name "c""#])
        #expect(syntaxErrors("a [x]") == [#"test.conf:1:4: unexpected name "x""#])
    }

    @Test func severalErrorsAreAllReported() {
        let errors = syntaxErrors("""
            a {
              b 1 c 2
            }
            d
            e @ 1
            f [1
            2]
            """)
        #expect(errors == [
            "test.conf:2:7: expected newline or }",
            "test.conf:4:2: unexpected newline",
            "test.conf:5:3: unexpected character '@' (U+0040)",
            "test.conf:6:5: expected comma or ]",
        ])
    }

    @Test func lexicalAndSyntaxErrorsAreInSourceOrder() {
        #expect(syntaxErrors("a {\n b 1 c 2\n}\nd 1.2.3") == [
            "test.conf:2:6: expected newline or }",
            "test.conf:4:6: invalid point in float",
        ])
    }

    @Test func deepNestingIsRefused() {
        let source = "a " + String(repeating: "[", count: 100) + String(repeating: "]", count: 100)
        #expect(syntaxErrors(source) == ["test.conf:1:67: blocks and arrays nested too deeply"])
    }
}
