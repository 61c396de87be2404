import Yams

extension Manifest {
    /// The YAML Djinn stores in `builds.manifest` and `cron.manifest` (spec §9): keys in the
    /// order namespace, driver, env, objects, sources, stages, allow_failures, jobs, empty ones
    /// left out; driver keys sorted; passthrough entries as sorted `A => B`; sources as
    /// `URL[ REF][ => DIR]`; job keys stage, name, commands, artifacts. Ends with a newline.
    /// `Manifest(parsing: m.encoded()) == m` for every parsed manifest.
    public func encoded() -> String {
        let root = node
        // libyaml only fails to emit malformed event streams, which a Node tree cannot make;
        // the flow form below is a valid YAML rendering of the same tree should it ever happen.
        let text = try? Yams.serialize(node: root, width: -1, allowUnicode: true)
        return text ?? Self.flowYAML(root) + "\n"
    }

    var node: Node {
        var pairs: [(Node, Node)] = []
        func add(_ key: String, _ value: Node) { pairs.append((Node(key), value)) }
        func add(_ key: String, strings: [String]) {
            if !strings.isEmpty { add(key, Node(strings.map(Self.scalar))) }
        }

        if !namespace.isEmpty { add("namespace", Self.scalar(namespace)) }
        if !driver.isEmpty {
            let keys = driver.keys.sorted { Array($0.utf8).lexicographicallyPrecedes(Array($1.utf8)) }
            add("driver", Node(keys.map { (Self.scalar($0), Self.scalar(driver[$0]!)) }))
        }
        add("env", strings: env.map(\.text))
        add("objects", strings: objects.sortedEntries.map { Passthrough.text($0.source, $0.destination) })
        add("sources", strings: sources.map(\.text))
        add("stages", strings: stages)
        add("allow_failures", strings: allowFailures)
        if !jobs.isEmpty {
            add("jobs", Node(jobs.map { job in
                var jobPairs: [(Node, Node)] = []
                if !job.stage.isEmpty { jobPairs.append((Node("stage"), Self.scalar(job.stage))) }
                if !job.name.isEmpty { jobPairs.append((Node("name"), Self.scalar(job.name))) }
                if !job.commands.isEmpty { jobPairs.append((Node("commands"), Node(job.commands.map(Self.scalar)))) }
                if !job.artifacts.isEmpty {
                    let entries = job.artifacts.sortedEntries.map { Self.scalar(Passthrough.text($0.source, $0.destination)) }
                    jobPairs.append((Node("artifacts"), Node(entries)))
                }
                return Node(jobPairs)
            }))
        }
        return Node(pairs)
    }

    /// A string scalar, quoted when its plain form would read as something else (`null`, `123`);
    /// a literal block when it has several lines (libyaml falls back to double quotes when a
    /// block cannot represent it).
    static func scalar(_ text: String) -> Node {
        if text.contains("\n") { return Node(text, Tag(.str), .literal) }
        return .scalar(text.represented())
    }

    /// The tree in flow style with every scalar double-quoted (JSON-like, valid YAML).
    static func flowYAML(_ node: Node) -> String {
        switch node {
        case .scalar(let scalar): return doubleQuoted(scalar.string)
        case .sequence(let sequence): return "[" + sequence.map(flowYAML).joined(separator: ", ") + "]"
        case .mapping(let mapping):
            return "{" + mapping.map { flowYAML($0.key) + ": " + flowYAML($0.value) }.joined(separator: ", ") + "}"
        case .alias: return "null"
        }
    }

    static func doubleQuoted(_ text: String) -> String {
        var out = "\""
        for scalar in text.unicodeScalars {
            switch scalar {
            case "\"": out += "\\\""
            case "\\": out += "\\\\"
            case "\n": out += "\\n"
            case "\t": out += "\\t"
            case "\r": out += "\\r"
            default:
                if scalar.value < 0x20 || scalar.value == 0x7f || (0x80...0x9f).contains(scalar.value)
                    || scalar.value == 0xfeff || scalar.value == 0x2028 || scalar.value == 0x2029 {
                    let hex = String(scalar.value, radix: 16)
                    out += scalar.value <= 0xff ? "\\x" + String(repeating: "0", count: 2 - hex.count) + hex
                        : "\\u" + String(repeating: "0", count: 4 - hex.count) + hex
                } else {
                    out.unicodeScalars.append(scalar)
                }
            }
        }
        return out + "\""
    }
}
