extension ConfigParser {
    /// Reads and parses `path` with its includes spliced in, or throws every error found
    /// (warnings included) in all the files read.
    ///
    /// `include "FILE"` and `include ["A", "B",]` are recognised at top level. A relative
    /// name is looked up beside the including file first, then in the current directory.
    public static func parse(
        path: String,
        fileSystem: ConfigFileSystem = .local
    ) throws(ConfigError) -> ConfigDocument {
        var resolver = IncludeResolver(fileSystem: fileSystem)
        let parameters = resolver.load(mainPath: path)
        guard !resolver.diagnostics.containsError else {
            throw ConfigError(diagnostics: resolver.diagnostics)
        }
        return ConfigDocument(parameters: parameters, files: resolver.files, warnings: resolver.diagnostics)
    }
}

/// Follows `include` directives from a main file.
struct IncludeResolver {
    let fileSystem: ConfigFileSystem
    private(set) var files: [String] = []
    private(set) var diagnostics: [ConfigDiagnostic] = []
    /// Canonical path of every file read → display name of the file that included it.
    private var includedFrom: [String: String] = [:]
    /// The chain of files being read, main file first: (canonical, display).
    private var stack: [(canonical: String, display: String)] = []

    init(fileSystem: ConfigFileSystem) {
        self.fileSystem = fileSystem
    }

    mutating func load(mainPath: String) -> [ConfigParameter] {
        let canonical = ConfigPath.absolute(mainPath, in: fileSystem.currentDirectory)
        switch fileSystem.read(canonical) {
        case .failure(let failure):
            diagnostics.append(.error("cannot read file: \(failure.message)", at: SourceLocation(file: mainPath, line: 0, column: 0)))
            return []
        case .success(let bytes):
            files.append(mainPath)
            includedFrom[canonical] = ""
            return process(bytes, display: mainPath, canonical: canonical)
        }
    }

    private mutating func process(_ bytes: [UInt8], display: String, canonical: String) -> [ConfigParameter] {
        stack.append((canonical, display))
        defer { stack.removeLast() }
        let parsed = ConfigParser.parse(bytes: bytes, file: display)
        // This file's diagnostics are released as reading passes them, so that those of an
        // included file come between the ones before and after its `include`.
        var pending = parsed.diagnostics[...]
        func release(before location: SourceLocation?, into diagnostics: inout [ConfigDiagnostic]) {
            while let next = pending.first, location.map({ Self.precedes(next.location, $0) }) ?? true {
                diagnostics.append(next)
                pending.removeFirst()
            }
        }
        var parameters: [ConfigParameter] = []
        for parameter in parsed.parameters {
            if parameter.name.text == "include" {
                release(before: parameter.value?.location ?? parameter.location, into: &diagnostics)
                for name in includeNames(parameter) {
                    release(before: name.location, into: &diagnostics)
                    parameters.append(contentsOf: include(name.text, at: name.location))
                }
            } else {
                parameters.append(parameter)
            }
        }
        release(before: nil, into: &diagnostics)
        return parameters
    }

    private static func precedes(_ a: SourceLocation, _ b: SourceLocation) -> Bool {
        a.line != b.line ? a.line < b.line : a.column < b.column
    }

    /// The file names an `include` parameter lists; reports malformed ones.
    private mutating func includeNames(_ parameter: ConfigParameter) -> [(text: String, location: SourceLocation)] {
        if let label = parameter.label {
            diagnostics.append(.error("unexpected name \"\(label.text)\" after include, expected a string or an array of strings", at: label.location))
            return []
        }
        switch parameter.value {
        case .literal(let literal) where literal.kind == .string:
            return [(literal.text, literal.location)]
        case .array(let array):
            var names: [(text: String, location: SourceLocation)] = []
            for item in array.items {
                if case .literal(let literal) = item, literal.kind == .string {
                    names.append((literal.text, literal.location))
                } else {
                    diagnostics.append(.error("expected string literal in include array", at: item.location))
                }
            }
            return names
        case let value?:
            diagnostics.append(.error("include expects a string or an array of strings, not \(value.kindDescription == "int" ? "an" : "a") \(value.kindDescription)", at: value.location))
            return []
        case nil:
            // A bare `include` is already a syntax error.
            return []
        }
    }

    private mutating func include(_ name: String, at location: SourceLocation) -> [ConfigParameter] {
        guard let includer = stack.last else { return [] }
        // Beside the including file first, then in the current directory.
        var candidates: [(display: String, canonical: String)] = []
        if ConfigPath.isAbsolute(name) {
            candidates.append((name, ConfigPath.standardize(name)))
        } else {
            candidates.append((
                ConfigPath.join(ConfigPath.directory(of: includer.display), name),
                ConfigPath.standardize(ConfigPath.join(ConfigPath.directory(of: includer.canonical), name))
            ))
            let fromCurrentDirectory = ConfigPath.absolute(name, in: fileSystem.currentDirectory)
            if fromCurrentDirectory != candidates[0].canonical {
                candidates.append((name, fromCurrentDirectory))
            }
        }

        var found: (display: String, canonical: String, bytes: [UInt8])?
        for candidate in candidates {
            switch fileSystem.read(candidate.canonical) {
            case .success(let bytes):
                found = (candidate.display, candidate.canonical, bytes)
            case .failure(.notFound):
                continue
            case .failure(let failure):
                diagnostics.append(.error("cannot include \"\(name)\": \(failure.message)", at: location))
                return []
            }
            break
        }
        guard let found else {
            diagnostics.append(.error("cannot include \"\(name)\": no such file or directory", at: location))
            return []
        }

        if found.canonical == includer.canonical {
            diagnostics.append(.error("cannot include self", at: location))
            return []
        }
        if let cycleStart = stack.firstIndex(where: { $0.canonical == found.canonical }) {
            let chain = stack[cycleStart...].map(\.display) + [found.display]
            diagnostics.append(.error("include cycle: \(chain.joined(separator: " -> "))", at: location))
            return []
        }
        if let firstIncluder = includedFrom[found.canonical] {
            diagnostics.append(.error("\(found.display) already included from \(firstIncluder)", at: location))
            return []
        }
        includedFrom[found.canonical] = includer.display
        files.append(found.display)
        return process(found.bytes, display: found.display, canonical: found.canonical)
    }
}
