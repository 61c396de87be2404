import Testing
@testable import DjinnManifest

@Suite struct ManifestEncoderTests {
    @Test func storedFormOfEveryKey() throws {
        let manifest = try Manifest(parsing: everyKeyManifest)
        let expected = """
            namespace: web/frontend@alice
            driver:
              image: golang:1.21
              type: docker
              workspace: /go/src
            env:
            - GOOS=linux
            - EMPTY=
            - URL=a=b
            objects:
            - config/app.yml => app.yml
            - data.tar => /tmp/data.tar
            - spaced => /opt/spaced
            sources:
            - https://github.com/git/git v1.2.3 => git-v1.2.3
            - https://github.com/git/git => git-build
            - git@github.com:x/mgrt.git => mgrt
            - https://example.com/repo main => repo
            stages:
            - build
            - test
            allow_failures:
            - test
            jobs:
            - stage: build
              name: Build & Test!
              commands:
              - go build ./...
              - go vet ./...
              artifacts:
              - bin/app => app
              - coverage.out => coverage.out
            - stage: test
              commands:
              - go test ./...

            """
        #expect(manifest.encoded() == expected)
        #expect(try Manifest(parsing: manifest.encoded()) == manifest)
    }

    @Test func keyOrderIsFixedAndEmptyKeysAreLeftOut() {
        let manifest = Manifest(
            namespace: "", driver: ["type": "os"], stages: ["b", "a"], allowFailures: [],
            jobs: [Job(stage: "b"), Job(stage: "a", name: "x")])
        #expect(manifest.encoded() == """
            driver:
              type: os
            stages:
            - b
            - a
            jobs:
            - stage: b
            - stage: a
              name: x

            """)
        #expect(Manifest(driver: ["type": "os"], jobs: [Job(stage: "")]).encoded() == "driver:\n  type: os\njobs:\n- {}\n")
    }

    @Test func passthroughEntriesAreSortedByTheirText() {
        let manifest = Manifest(driver: ["type": "os"], objects: Passthrough(["b": "1", "a.b": "2", "a": "3", "B": "4"]))
        #expect(manifest.encoded() == "driver:\n  type: os\nobjects:\n- B => 4\n- a => 3\n- a.b => 2\n- b => 1\n")
    }

    @Test func sourcesAreWrittenAsURLRefDir() {
        #expect(Source(url: "u", ref: "", dir: "d").text == "u => d")
        #expect(Source(url: "u", ref: "r", dir: "d").text == "u r => d")
        #expect(Source(url: "u", ref: "r", dir: "").text == "u r")
        #expect(Source.defaultDirectory(for: "git@github.com:x/mgrt.git") == "mgrt")
        #expect(Source.defaultDirectory(for: "https://github.com/git/git") == "git")
        #expect(Source.defaultDirectory(for: "plain") == "plain")
    }

    /// Strings YAML would read as something else, or that need quoting or escapes, come back
    /// unchanged.
    @Test(arguments: [
        "null", "~", "", "123", "0x1F", "1.5", "true", "yes", "no", "2001-12-14", "=", "<<",
        "a: b", "- item", "# not a comment", "key #x", "'quoted'", "\"double\"", "  leading", "trailing  ",
        "multi\nline", "multi\nline\n", "\n\nblank lines\n\n", "tab\there", "trailing space \nline", "{flow}", "[x]",
        "*alias", "&anchor", "!tag", "%percent", "@at", "`tick`", "ünïcödé ✓", "emoji 🎉", "back\\slash",
        "control \u{1} char", "bell\u{7}", "crlf\r\nend", "nel\u{85}x", "bom\u{FEFF}x", "ls\u{2028}x", "very long " + String(repeating: "word ", count: 60),
    ])
    func trickyStringsRoundTrip(_ text: String) throws {
        let manifest = Manifest(
            namespace: "", driver: ["type": "os", text: text], env: [EnvironmentEntry(key: "K", value: text)],
            stages: [text + "s"], allowFailures: [text],
            jobs: [Job(stage: text + "s", name: text, commands: [text, "echo"])])
        let encoded = manifest.encoded()
        #expect(try Manifest(parsing: encoded) == manifest, "\(encoded)")
    }

    @Test func flowFallbackIsValidYAMLForTheSameManifest() throws {
        var manifest = try Manifest(parsing: everyKeyManifest)
        manifest.jobs.append(Job(stage: "test", name: "odd \"name\"\n\t\u{1}✓", commands: ["null", "~", "", "x: y"]))
        let flow = Manifest.flowYAML(manifest.node) + "\n"
        #expect(try Manifest(parsing: flow) == manifest, "\(flow)")
    }

    @Test func multiLineCommandsUseLiteralBlocks() throws {
        let manifest = Manifest(driver: ["type": "os"], stages: ["s"], jobs: [Job(stage: "s", commands: ["a\nb"])])
        #expect(manifest.encoded() == """
            driver:
              type: os
            stages:
            - s
            jobs:
            - stage: s
              commands:
              - |-
                a
                b

            """)
    }
}
