import Testing
@testable import DjinnManifest

/// Every key of a manifest, as Djinn reads it.
let everyKeyManifest = """
    namespace: web/frontend@alice
    driver:
      type: docker
      image: golang:1.21
      workspace: /go/src
    env:
      - GOOS=linux
      - EMPTY=
      - URL=a=b
    objects:
      - data.tar => /tmp/data.tar
      - config/app.yml
      - "  spaced   =>   /opt/spaced  "
    sources:
      - https://github.com/git/git v1.2.3 => git-v1.2.3
      - https://github.com/git/git => git-build
      - git@github.com:x/mgrt.git
      - https://example.com/repo main
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
          - coverage.out
      - stage: test
        commands:
          - go test ./...
    unknown: ignored

    """

@Suite struct ManifestParserTests {
    @Test func everyKey() throws {
        let manifest = try Manifest(parsing: everyKeyManifest, file: ".djinn.yml")
        #expect(manifest.namespace == "web/frontend@alice")
        #expect(manifest.namespacePath == NamespacePath(path: "web/frontend", owner: "alice"))
        #expect(manifest.driver == ["type": "docker", "image": "golang:1.21", "workspace": "/go/src"])
        #expect(manifest.driverType == .docker)
        #expect(manifest.env == [
            EnvironmentEntry(key: "GOOS", value: "linux"),
            EnvironmentEntry(key: "EMPTY", value: ""),
            EnvironmentEntry(key: "URL", value: "a=b"),
        ])
        #expect(manifest.objects == Passthrough([
            "data.tar": "/tmp/data.tar", "config/app.yml": "app.yml", "spaced": "/opt/spaced",
        ]))
        #expect(manifest.sources == [
            Source(url: "https://github.com/git/git", ref: "v1.2.3", dir: "git-v1.2.3"),
            Source(url: "https://github.com/git/git", ref: "", dir: "git-build"),
            Source(url: "git@github.com:x/mgrt.git", ref: "", dir: "mgrt"),
            Source(url: "https://example.com/repo", ref: "main", dir: "repo"),
        ])
        #expect(manifest.stages == ["build", "test"])
        #expect(manifest.allowFailures == ["test"])
        #expect(manifest.jobs == [
            Job(stage: "build", name: "Build & Test!", commands: ["go build ./...", "go vet ./..."],
                artifacts: Passthrough(["bin/app": "app", "coverage.out": "coverage.out"])),
            Job(stage: "test", commands: ["go test ./..."]),
        ])
    }

    @Test func minimalManifestsOfEachDriver() throws {
        #expect(try Manifest(parsing: "driver:\n  type: os\n") == Manifest(driver: ["type": "os"]))
        #expect(try Manifest(parsing: "driver:\n  type: ssh\n  address: 10.0.0.2:22\n").driverType == .ssh)
        let docker = try Manifest(parsing: "driver: {type: docker, image: alpine, workspace: /w}")
        #expect(docker.driver == ["type": "docker", "image": "alpine", "workspace": "/w"])
    }

    @Test func qemuArchDefaultsToX86_64AndIsKeptWhenGiven() throws {
        let plain = try Manifest(parsing: "driver:\n  type: qemu\n  image: debian/12\n")
        #expect(plain.driver == ["type": "qemu", "image": "debian/12", "arch": "x86_64"])
        let given = try Manifest(parsing: "driver:\n  type: qemu\n  image: debian/12\n  arch: aarch64\n")
        #expect(given.driver["arch"] == "aarch64")
    }

    @Test func everyScalarIsReadAsItsTextAndNullAsEmpty() throws {
        let manifest = try Manifest(parsing: """
            driver:
              type: os
              cpus: 4
              fast: true
              ratio: 1.50
              nothing: ~
              quoted: "null"
            stages: [1, "2"]
            jobs:
              - stage: 1
                commands: [yes, 0x1F]
            env: ~
            objects:
            """)
        #expect(manifest.driver == ["type": "os", "cpus": "4", "fast": "true", "ratio": "1.50", "nothing": "", "quoted": "null"])
        #expect(manifest.stages == ["1", "2"])
        #expect(manifest.jobs == [Job(stage: "1", commands: ["yes", "0x1F"])])
        #expect(manifest.env.isEmpty && manifest.objects.isEmpty)
    }

    @Test func blockScalarsKeepTheirLines() throws {
        let manifest = try Manifest(parsing: """
            driver:
              type: os
            stages: [s]
            jobs:
              - stage: s
                commands:
                  - |
                    for i in 1 2; do
                      echo $i
                    done
            allow_failures: [s]
            """)
        #expect(manifest.jobs[0].commands == ["for i in 1 2; do\n  echo $i\ndone\n"])
    }

    @Test func aliasesAreFollowed() throws {
        let manifest = try Manifest(parsing: """
            driver: {type: os}
            stages: [build]
            jobs:
              - stage: build
                commands: &cmds [make]
              - stage: build
                commands: *cmds
            """)
        #expect(manifest.jobs.map(\.commands) == [["make"], ["make"]])
    }

    @Test func passthroughEntries() {
        #expect(Passthrough.parseEntry("a/b/c")! == ("a/b/c", "c"))
        #expect(Passthrough.parseEntry("dist/")! == ("dist/", "dist"))
        #expect(Passthrough.parseEntry(" a =>b ")! == ("a", "b"))
        #expect(Passthrough.parseEntry("a => b => c")! == ("a", "b => c"))
        #expect(Passthrough.parseEntry("=> b") == nil)
        #expect(Passthrough.parseEntry("a =>") == nil)
        #expect(Passthrough.parseEntry("   ") == nil)
    }

    @Test func repeatedPassthroughKeyKeepsTheLastValue() throws {
        let manifest = try Manifest(parsing: "driver: {type: os}\nobjects: [a => x, a => y]\n")
        #expect(manifest.objects == Passthrough(["a": "y"]))
    }

    @Test func namespacePaths() throws {
        #expect(try NamespacePath(parsing: "proj") == NamespacePath(path: "proj"))
        #expect(try NamespacePath(parsing: "a/b2/C@bob") == NamespacePath(path: "a/b2/C", owner: "bob"))
        #expect(try NamespacePath(parsing: "a/b@bob").segments == ["a", "b"])
        #expect(try NamespacePath(parsing: "a/b@bob").description == "a/b@bob")
        let deepest = Array(repeating: "n", count: 20).joined(separator: "/")
        #expect(try NamespacePath(parsing: deepest).segments.count == 20)
        for bad in ["", "@bob", "a@", "a//b", "/a", "a/", "a-b", "a b", "a@b@c", "a@b/c", deepest + "/n"] {
            #expect(throws: NamespacePathError.self, "\(bad)") { try NamespacePath(parsing: bad) }
        }
    }
}

/// Each mistake, reported at the line and column of the value at fault.
@Suite struct ManifestErrorTests {
    /// The single problem `text` has, as `LINE:COL: message`.
    func problem(_ text: String) -> String {
        do {
            let manifest = try Manifest(parsing: text, file: "m.yml")
            return "parsed: \(manifest)"
        } catch {
            #expect(error.problems.count == 1, "\(error)")
            guard let first = error.problems.first else { return "no problem" }
            #expect(first.file == "m.yml")
            return "\(first.line):\(first.column): \(first.message)"
        }
    }

    func problems(_ text: String) -> [String] {
        do {
            _ = try Manifest(parsing: text, file: "m.yml")
            return []
        } catch {
            return error.problems.map(\.description)
        }
    }

    @Test func invalidYAML() {
        #expect(problem("driver:\n  type: os\n jobs: [\n").hasPrefix("3:2: invalid YAML: "))
        #expect(problem("driver: {type: os\n").hasPrefix("2:1: invalid YAML: "))
        #expect(problem("a: *nothing\n").hasPrefix("1:4: invalid YAML: found undefined alias"))
    }

    @Test func duplicateKey() {
        #expect(problem("driver: {type: os}\nstages: [a]\nstages: [b]\n") == "2:1: duplicate key \"stages\" in a mapping")
    }

    @Test func notAMapping() {
        #expect(problem("- driver\n- jobs\n") == "1:1: the manifest must be a mapping of keys (namespace, driver, jobs …), found a list")
        #expect(problem("\n\nhello\n") == "3:1: the manifest must be a mapping of keys (namespace, driver, jobs …), found the scalar \"hello\"")
    }

    @Test func emptyManifest() {
        #expect(problem("") == "1:1: the manifest is empty; it needs at least a driver")
        #expect(problem("# only a comment\n") == "1:1: the manifest is empty; it needs at least a driver")
    }

    @Test func driver() {
        #expect(problem("stages: [a]\n") == "1:1: no driver: the manifest needs a driver with a type (ssh, qemu, docker, os)")
        #expect(problem("driver:\nstages: [a]\n") == "1:1: no driver: the manifest needs a driver with a type (ssh, qemu, docker, os)")
        #expect(problem("driver: docker\n") == "1:9: driver must be a mapping (type, image …), found the scalar \"docker\"")
        #expect(problem("driver:\n  image: alpine\n") == "2:3: driver has no type (ssh, qemu, docker, os)")
        #expect(problem("driver:\n  image: alpine\n  type: ''\n") == "3:9: driver has no type (ssh, qemu, docker, os)")
        #expect(problem("driver:\n  type: kvm\n") == "2:9: unknown driver type kvm (expected ssh, qemu, docker, os)")
        #expect(problem("driver:\n  type: [os]\n") == "2:9: driver type must be a string, found a list")
        #expect(problem("x: 1\ndriver:\n    type: qemu\n") == "3:5: driver qemu requires image")
        #expect(problem("driver:\n  type: ssh\n  addr: h:22\n") == "2:3: driver ssh requires address")
        #expect(problems("driver:\n  type: docker\n") == [
            "m.yml:2:3: driver docker requires image", "m.yml:2:3: driver docker requires workspace",
        ])
    }

    @Test func env() {
        #expect(problem("driver: {type: os}\nenv:\n  - A=1\n  - NOVALUE\n") == "4:5: env entry \"NOVALUE\" has no = (expected KEY=VALUE)")
        #expect(problem("driver: {type: os}\nenv: [=x]\n") == "2:7: env entry \"=x\" has no name before =")
        #expect(problem("driver: {type: os}\nenv: A=1\n") == "2:6: env must be a list, found the scalar \"A=1\"")
        #expect(problem("driver: {type: os}\nenv:\n  - {A: 1}\n") == "3:5: each entry of env must be a string, found a mapping")
    }

    @Test func badPassthrough() {
        #expect(problem("driver: {type: os}\nobjects:\n  - => /tmp/x\n") == "3:5: bad objects entry \"=> /tmp/x\" (expected SOURCE or SOURCE => DESTINATION)")
        #expect(problem("driver: {type: os}\nobjects:\n  - 'a =>'\n") == "3:5: bad objects entry \"a =>\" (expected SOURCE or SOURCE => DESTINATION)")
        #expect(problem("driver: {type: os}\nobjects: [a => b => c]\n") == "2:11: bad objects entry \"a => b => c\" (expected SOURCE or SOURCE => DESTINATION)")
        #expect(problem("""
            driver: {type: os}
            stages: [s]
            jobs:
              - stage: s
                artifacts:
                  - out.txt
                  - "  => x"
            """) == "7:9: bad artifacts entry \"  => x\" (expected SOURCE or SOURCE => DESTINATION)")
    }

    @Test func malformedSource() {
        #expect(problem("driver: {type: os}\nsources:\n  - ' https://x/y'\n") == "3:5: malformed source \" https://x/y\": no URL (expected URL [REF] [=> DIR])")
        #expect(problem("driver: {type: os}\nsources: ['https://x/y =>']\n") == "2:11: malformed source \"https://x/y =>\": no directory after =>")
        #expect(problem("driver: {type: os}\nsources: ['https://x/y a => b => c']\n") == "2:11: malformed source \"https://x/y a => b => c\": more than one => (expected URL [REF] [=> DIR])")
        #expect(problem("driver: {type: os}\nsources:\n  - https://example.com/\n") == "3:5: malformed source \"https://example.com/\": cannot tell which directory to clone into; add => DIR")
    }

    @Test func stages() {
        #expect(problem("driver: {type: os}\nstages:\n  - a\n  - b\n  - a\n") == "5:5: stage a is declared twice")
        #expect(problem("driver: {type: os}\nstages: [a, '']\n") == "2:13: a stage needs a name")
        #expect(problem("driver: {type: os}\nstages: a\n") == "2:9: stages must be a list, found the scalar \"a\"")
        #expect(problem("driver: {type: os}\nallow_failures: {a: b}\n") == "2:17: allow_failures must be a list, found a mapping")
    }

    @Test func jobs() {
        let undeclared = """
            driver: {type: os}
            jobs:
              - stage: deploy
                commands: [make]
            stages: [build]
            """
        #expect(problem(undeclared) == "3:12: job is in stage deploy, which is not declared in stages")
        #expect(problem("driver: {type: os}\nstages: [a]\njobs:\n  - commands: [make]\n") == "4:5: job has no stage")
        #expect(problem("driver: {type: os}\nstages: [a]\njobs:\n  - make\n") == "4:5: a job must be a mapping (stage, name, commands, artifacts), found the scalar \"make\"")
        #expect(problem("driver: {type: os}\nstages: [a]\njobs:\n  - stage: a\n    commands: make\n") == "5:15: job commands must be a list, found the scalar \"make\"")
        #expect(problem("driver: {type: os}\nstages: [a]\njobs:\n  - stage: [a]\n") == "4:12: job stage must be a string, found a list")
        #expect(problem("driver: {type: os}\nstages: [a]\njobs: {stage: a}\n") == "3:7: jobs must be a list, found a mapping")
        #expect(problem("driver: {type: os}\nstages: [a]\njobs:\n  - stage: a\n    name: {x: 1}\n") == "5:11: job name must be a string, found a mapping")
    }

    @Test func namespace() {
        #expect(problem("namespace: a//b\ndriver: {type: os}\n") == "1:12: namespace a//b has an empty name between slashes")
        #expect(problem("namespace: 'my-proj'\ndriver: {type: os}\n") == "1:12: namespace name my-proj can only contain letters and numbers")
        #expect(problem("driver: {type: os}\nnamespace: proj@\n") == "2:12: no owner after @ in namespace proj@")
        #expect(problem("driver: {type: os}\nnamespace: [a]\n") == "2:12: namespace must be a string, found a list")
    }

    @Test func everyProblemIsReportedInFileOrder() {
        let text = """
            stages: [a, a]
            env: [X]
            jobs:
              - stage: b
            driver:
              type: docker
            """
        #expect(problems(text) == [
            "m.yml:1:13: stage a is declared twice",
            "m.yml:2:7: env entry \"X\" has no = (expected KEY=VALUE)",
            "m.yml:4:12: job is in stage b, which is not declared in stages",
            "m.yml:6:3: driver docker requires image",
            "m.yml:6:3: driver docker requires workspace",
        ])
        do {
            _ = try Manifest(parsing: "driver: {type: kvm}\n", file: "/src/.djinn.yml")
            Issue.record("parsed")
        } catch {
            #expect(error.description == "/src/.djinn.yml:1:16: unknown driver type kvm (expected ssh, qemu, docker, os)")
        }
    }
}
