import Yams

extension Manifest {
    /// Parses and checks a manifest. Every problem found is reported at once, each with the
    /// line and column of the value at fault, as `file:LINE:COL: message`.
    ///
    /// As in Djinn, unknown keys are ignored and every scalar is read as its text (`arch: 64`
    /// is the string `64`; a null value is empty). Unlike Djinn, mistakes that Djinn ignores
    /// or crashes on are errors here: an `env` entry without `=`, a job in an undeclared stage,
    /// a source or passthrough entry that does not parse, a stage declared twice.
    public init(parsing text: String, file: String = "manifest") throws(ManifestError) {
        var decoder = ManifestDecoder(file: file)
        let manifest = decoder.decode(text)
        guard decoder.problems.isEmpty, let manifest else {
            throw ManifestError(problems: decoder.problems.sorted { ($0.line, $0.column) < ($1.line, $1.column) })
        }
        self = manifest
    }
}

/// Walks the YAML node tree (which keeps positions) into a `Manifest`, collecting problems.
struct ManifestDecoder {
    let file: String
    private(set) var problems: [ManifestProblem] = []

    init(file: String) {
        self.file = file
    }

    static let driverTypes = DriverType.allCases.map(\.rawValue)

    mutating func decode(_ text: String) -> Manifest? {
        let root: Node?
        do {
            root = try Yams.compose(yaml: text)
        } catch let error as YamlError {
            report(error, in: text)
            return nil
        } catch {
            problem("cannot read the manifest: \(error)", at: nil)
            return nil
        }
        guard let root else {
            problem("the manifest is empty; it needs at least a driver", at: nil)
            return nil
        }
        guard case .mapping(let mapping) = root else {
            problem("the manifest must be a mapping of keys (namespace, driver, jobs …), found \(describe(root))", at: root)
            return nil
        }

        var manifest = Manifest()
        var driverNode: Node?
        var stageNodes: [(name: String, node: Node)] = []
        var jobStages: [(stage: String?, node: Node?, job: Node)] = []
        for (keyNode, value) in mapping {
            guard case .scalar(let key) = keyNode else { continue }  // no such key: ignored like any unknown one
            switch key.string {
            case "namespace":
                manifest.namespace = string(value, "namespace") ?? ""
                if !manifest.namespace.isEmpty {
                    do {
                        _ = try NamespacePath(parsing: manifest.namespace)
                    } catch {
                        problem(error.message, at: value)
                    }
                }
            case "driver":
                driverNode = value
                manifest.driver = driver(value)
            case "env":
                manifest.env = strings(value, "env").compactMap { entry, node in environmentEntry(entry, at: node) }
            case "objects":
                manifest.objects = passthrough(value, "objects")
            case "sources":
                manifest.sources = strings(value, "sources").compactMap { entry, node in source(entry, at: node) }
            case "stages":
                stageNodes = strings(value, "stages").map { (name: $0.text, node: $0.node) }
                manifest.stages = stageNodes.map(\.name)
            case "allow_failures":
                manifest.allowFailures = strings(value, "allow_failures").map(\.text)
            case "jobs":
                for item in sequence(value, "jobs") {
                    guard let (job, stageNode, stageIsString) = job(item) else { continue }
                    manifest.jobs.append(job)
                    jobStages.append((stageIsString ? job.stage : nil, stageNode, item))
                }
            default:
                continue
            }
        }

        checkDriver(&manifest.driver, node: driverNode, root: root)
        var declared: Set<String> = []
        for (name, node) in stageNodes {
            if name.isEmpty {
                problem("a stage needs a name", at: node)
            } else if !declared.insert(name).inserted {
                problem("stage \(name) is declared twice", at: node)
            }
        }
        for (stage, stageNode, jobNode) in jobStages {
            guard let stage else { continue }  // not a string: already reported
            if stage.isEmpty {
                problem("job has no stage", at: jobNode)
            } else if !declared.contains(stage) {
                problem("job is in stage \(stage), which is not declared in stages", at: stageNode ?? jobNode)
            }
        }
        return manifest
    }

    // MARK: Sections

    private mutating func driver(_ node: Node) -> [String: String] {
        if isNull(node) { return [:] }
        guard case .mapping(let mapping) = node else {
            problem("driver must be a mapping (type, image …), found \(describe(node))", at: node)
            return [:]
        }
        var driver: [String: String] = [:]
        for (keyNode, value) in mapping {
            guard let key = string(keyNode, "a driver key") else { continue }
            if let text = string(value, "driver \(key)") { driver[key] = text }
        }
        return driver
    }

    /// Djinn's driver validation, positioned at the driver block (or its type).
    private mutating func checkDriver(_ driver: inout [String: String], node: Node?, root: Node) {
        guard let node, !isNull(node) else {
            problem("no driver: the manifest needs a driver with a type (\(Self.driverTypes.joined(separator: ", ")))", at: root)
            return
        }
        guard case .mapping(let mapping) = node else { return }  // already reported
        let typeNode = mapping["type"]
        if typeNode != nil, driver["type"] == nil { return }  // not a string: already reported
        guard let type = driver["type"], !type.isEmpty else {
            problem("driver has no type (\(Self.driverTypes.joined(separator: ", ")))", at: typeNode ?? node)
            return
        }
        guard let driverType = DriverType(rawValue: type) else {
            problem("unknown driver type \(type) (expected \(Self.driverTypes.joined(separator: ", ")))", at: typeNode ?? node)
            return
        }
        func require(_ key: String) {
            if driver[key, default: ""].isEmpty { problem("driver \(type) requires \(key)", at: node) }
        }
        switch driverType {
        case .docker:
            require("image")
            require("workspace")
        case .qemu:
            require("image")
            // Djinn only has x86_64 images; the queue is builds_qemu-<arch>.
            if driver["arch", default: ""].isEmpty { driver["arch"] = "x86_64" }
        case .ssh:
            require("address")
        case .os:
            break
        }
    }

    private mutating func environmentEntry(_ text: String, at node: Node) -> EnvironmentEntry? {
        guard let equals = text.firstIndex(of: "=") else {
            problem("env entry \(quoted(text)) has no = (expected KEY=VALUE)", at: node)
            return nil
        }
        let key = String(text[..<equals])
        guard !key.isEmpty else {
            problem("env entry \(quoted(text)) has no name before =", at: node)
            return nil
        }
        return EnvironmentEntry(key: key, value: String(text[text.index(after: equals)...]))
    }

    private mutating func passthrough(_ node: Node, _ what: String) -> Passthrough {
        var result = Passthrough()
        for (text, entryNode) in strings(node, what) {
            guard text.ranges(of: "=>").count <= 1, let (source, destination) = Passthrough.parseEntry(text) else {
                problem("bad \(what) entry \(quoted(text)) (expected SOURCE or SOURCE => DESTINATION)", at: entryNode)
                continue
            }
            result.mapping[source] = destination
        }
        return result
    }

    /// `URL [REF] [=> DIR]`: the URL runs to the first space; in the rest, spaces are dropped.
    private mutating func source(_ text: String, at node: Node) -> Source? {
        let urlEnd = text.firstIndex(of: " ") ?? text.endIndex
        let url = String(text[..<urlEnd])
        let rest = text[urlEnd...].filter { $0 != " " }
        guard !url.isEmpty else {
            problem("malformed source \(quoted(text)): no URL (expected URL [REF] [=> DIR])", at: node)
            return nil
        }
        guard rest.ranges(of: "=>").count <= 1 else {
            problem("malformed source \(quoted(text)): more than one => (expected URL [REF] [=> DIR])", at: node)
            return nil
        }
        var ref = String(rest)
        var dir = Source.defaultDirectory(for: url)
        if let arrow = rest.range(of: "=>") {
            ref = String(rest[..<arrow.lowerBound])
            dir = String(rest[arrow.upperBound...])
            guard !dir.isEmpty else {
                problem("malformed source \(quoted(text)): no directory after =>", at: node)
                return nil
            }
        }
        guard !dir.isEmpty else {
            problem("malformed source \(quoted(text)): cannot tell which directory to clone into; add => DIR", at: node)
            return nil
        }
        return Source(url: url, ref: ref, dir: dir)
    }

    /// A job, the node of its `stage` value (for positioning stage problems) and whether that
    /// value was a string.
    private mutating func job(_ node: Node) -> (Job, Node?, Bool)? {
        guard case .mapping(let mapping) = node else {
            problem("a job must be a mapping (stage, name, commands, artifacts), found \(describe(node))", at: node)
            return nil
        }
        var job = Job(stage: "")
        var stageNode: Node?
        var stageIsString = true
        for (keyNode, value) in mapping {
            guard case .scalar(let key) = keyNode else { continue }
            switch key.string {
            case "stage":
                stageNode = value
                let stage = string(value, "job stage")
                stageIsString = stage != nil
                job.stage = stage ?? ""
            case "name":
                job.name = string(value, "job name") ?? ""
            case "commands":
                job.commands = strings(value, "job commands").map(\.text)
            case "artifacts":
                job.artifacts = passthrough(value, "artifacts")
            default:
                continue
            }
        }
        return (job, stageNode, stageIsString)
    }

    // MARK: Values

    private func isNull(_ node: Node) -> Bool {
        if case .scalar = node { return Resolver.default.resolveTag(of: node) == .null }
        return false
    }

    /// A scalar's text ("" for null); a problem for anything else.
    private mutating func string(_ node: Node, _ what: String) -> String? {
        guard case .scalar(let scalar) = node else {
            problem("\(what) must be a string, found \(describe(node))", at: node)
            return nil
        }
        return isNull(node) ? "" : scalar.string
    }

    /// The items of a list (none for null); a problem for anything else.
    private mutating func sequence(_ node: Node, _ what: String) -> [Node] {
        if isNull(node) { return [] }
        guard case .sequence(let sequence) = node else {
            problem("\(what) must be a list, found \(describe(node))", at: node)
            return []
        }
        return Array(sequence)
    }

    private mutating func strings(_ node: Node, _ what: String) -> [(text: String, node: Node)] {
        sequence(node, what).compactMap { item in
            string(item, "each entry of \(what)").map { (text: $0, node: item) }
        }
    }

    private func describe(_ node: Node) -> String {
        switch node {
        case .mapping: "a mapping"
        case .sequence: "a list"
        case .scalar(let scalar): "the scalar \(quoted(scalar.string))"
        case .alias: "an alias"
        }
    }

    private func quoted(_ text: String) -> String {
        "\"" + text.replacingOccurrences(of: "\\", with: "\\\\").replacingOccurrences(of: "\"", with: "\\\"")
            .replacingOccurrences(of: "\n", with: "\\n") + "\""
    }

    // MARK: Problems

    private mutating func problem(_ message: String, at node: Node?) {
        problem(message, line: node?.mark?.line ?? 1, column: node?.mark?.column ?? 1)
    }

    private mutating func problem(_ message: String, line: Int, column: Int) {
        problems.append(ManifestProblem(file: file, line: line, column: column, message: message))
    }

    /// libyaml's own errors, at the position it gives.
    private mutating func report(_ error: YamlError, in text: String) {
        switch error {
        case .scanner(let context, let problem, let mark, _),
             .parser(let context, let problem, let mark, _),
             .composer(let context, let problem, let mark, _):
            var message = "invalid YAML: \(problem)"
            if let context { message += " (\(context.text) at \(context.mark.line):\(context.mark.column))" }
            self.problem(message, line: mark.line, column: mark.column)
        case .duplicatedKeysInMapping(let duplicates, let context):
            let keys = duplicates.map { quoted($0) }.joined(separator: ", ")
            problem("duplicate key \(keys) in a mapping", line: context.mark.line, column: context.mark.column)
        case .reader(let problem, let offset, _, _):
            let (line, column) = Self.position(ofCharacter: offset ?? 0, in: text)
            self.problem("invalid YAML: \(problem)", line: line, column: column)
        default:
            problem("invalid YAML: \(error)", line: 1, column: 1)
        }
    }

    /// 1-based line and column of the character at `offset`.
    static func position(ofCharacter offset: Int, in text: String) -> (line: Int, column: Int) {
        var line = 1
        var column = 1
        for character in text.prefix(offset) {
            if character == "\n" {
                line += 1
                column = 1
            } else {
                column += 1
            }
        }
        return (line, column)
    }
}
