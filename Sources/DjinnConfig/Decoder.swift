/// Decodes parameters against a schema. Reports every problem it finds (type errors,
/// unknown parameters, missing required settings) and keeps going, so one run gives
/// the user the full list.
struct SchemaDecoder {
    let environment: [String: String]
    private(set) var diagnostics: [ConfigDiagnostic] = []

    init(environment: [String: String]) {
        self.environment = environment
    }

    /// Decodes a whole file; missing top-level settings are reported at its start.
    mutating func decodeFile(_ parameters: [ConfigParameter], schema: BlockSchema, file: String) -> DecodedBlock {
        decodeBlock(parameters, schema: schema, path: "", at: .start(of: file))
    }

    private mutating func error(_ message: String, at location: SourceLocation) {
        diagnostics.append(.error(message, at: location))
    }

    private mutating func warning(_ message: String, at location: SourceLocation) {
        diagnostics.append(.warning(message, at: location))
    }

    private static func qualified(_ name: String, in path: String) -> String {
        path.isEmpty ? name : "\(path).\(name)"
    }

    mutating func decodeBlock(
        _ parameters: [ConfigParameter], schema: BlockSchema, path: String, at location: SourceLocation
    ) -> DecodedBlock {
        var block = DecodedBlock(location: location)
        // Parameters that were written, even if their value was rejected: those are not
        // also "not configured".
        var seen: Set<String> = []
        for parameter in parameters {
            let written = parameter.name.text
            guard let spec = schema.parameter(named: written) else {
                var message = "unknown parameter \"\(Self.qualified(written, in: path))\""
                if let suggestion = Suggestion.closest(to: written, among: schema.parameters.map(\.name)) {
                    message += " (did you mean \"\(Self.qualified(suggestion, in: path))\"?)"
                }
                warning(message, at: parameter.location)
                continue
            }
            let name = Self.qualified(spec.name, in: path)
            seen.insert(spec.name)
            if let deprecation = spec.deprecation {
                warning("\(name) is deprecated, \(deprecation)", at: parameter.location)
            }
            switch spec.type {
            case .labelledBlocks, .labelledStrings, .variants:
                decodeLabelled(parameter, spec: spec, name: name, into: &block)
            default:
                if let label = parameter.label {
                    error("unexpected label \"\(label.text)\" on \(name)", at: label.location)
                    continue
                }
                guard let value = parameter.value,
                      let decoded = decodeValue(value, type: spec.type, spec: spec, name: name, at: parameter.location)
                else { continue }
                // The last occurrence wins; a repeated block replaces the earlier one.
                block.entries[spec.name] = DecodedEntry(value: decoded, location: parameter.location)
            }
        }
        for spec in schema.parameters where block.entries[spec.name] == nil && !seen.contains(spec.name) {
            if spec.required {
                error(spec.missingMessage(Self.qualified(spec.name, in: path)), at: location)
            } else if let defaultValue = spec.defaultValue {
                block.entries[spec.name] = DecodedEntry(value: defaultValue, location: location, isDefault: true)
            }
            if let rule = spec.type.labelRule {
                for label in rule.required { error(rule.missingMessage(label), at: location) }
            }
        }
        for spec in schema.parameters {
            guard let rule = spec.type.labelRule, case .labelled(let entries)? = block.entries[spec.name]?.value
            else { continue }
            for label in rule.required where !entries.contains(where: { $0.label == label }) {
                error(rule.missingMessage(label), at: location)
            }
        }
        return block
    }

    // MARK: Labelled settings

    private mutating func decodeLabelled(_ parameter: ConfigParameter, spec: ParameterSchema, name: String, into block: inout DecodedBlock) {
        var entries: [DecodedLabel] = block.labelled(spec.name)
        if let label = parameter.label {
            addLabel(label, value: parameter.value, at: parameter.location, spec: spec, name: name, to: &entries)
        } else if case .block(let inner)? = parameter.value {
            // A block can stand for the map: `log { info "a" }` is `log info "a"`.
            for item in inner.parameters {
                if let label = item.label {
                    error("unexpected label \"\(label.text)\" on \(name).\(item.name.text)", at: label.location)
                    continue
                }
                addLabel(item.name, value: item.value, at: item.location, spec: spec, name: name, to: &entries)
            }
        } else if let value = parameter.value {
            error("cannot use \(value.kindDescription) as \(spec.type.expectation) for \(name) (write \(Self.shape(of: spec)))", at: parameter.location)
            return
        }
        block.entries[spec.name] = DecodedEntry(value: .labelled(entries), location: parameter.location)
    }

    private static func shape(of spec: ParameterSchema) -> String {
        switch spec.type {
        case .labelledStrings: "\(spec.name) LABEL \"...\""
        default: "\(spec.name) LABEL {...}"
        }
    }

    private mutating func addLabel(
        _ label: ConfigName, value: ConfigValue?, at location: SourceLocation,
        spec: ParameterSchema, name: String, to entries: inout [DecodedLabel]
    ) {
        guard let rule = spec.type.labelRule else { return }
        let candidates: [String]
        if case .variants(let variants, _) = spec.type {
            candidates = variants.keys.sorted()
        } else {
            candidates = rule.known ?? [label.text]
        }
        guard candidates.contains(label.text) else {
            var message = rule.unknownMessage(label.text)
            if let suggestion = Suggestion.closest(to: label.text, among: candidates), suggestion != label.text {
                message += " (did you mean \"\(suggestion)\"?)"
            }
            if rule.unknownIsError {
                error(message, at: location)
            } else {
                warning(message + ", ignored", at: location)
            }
            return
        }
        let path = "\(name).\(label.text)"
        let decoded: DecodedValue?
        switch spec.type {
        case .labelledBlocks(let schema, _):
            decoded = decodeLabelledBlock(value, schema: schema, path: path, at: location)
        case .variants(let variants, _):
            decoded = decodeLabelledBlock(value, schema: variants[label.text] ?? .empty, path: path, at: location)
        case .labelledStrings:
            if let value {
                decoded = decodeValue(value, type: .string, spec: spec, name: path, at: location)
            } else {
                decoded = .string("")
            }
        default:
            decoded = nil
        }
        guard let decoded else { return }
        // The same label again: the later one wins.
        entries.removeAll { $0.label == label.text }
        entries.append(DecodedLabel(label: label.text, location: location, value: decoded))
    }

    /// `store artifacts {…}`, or `provider github` alone, which stands for an empty
    /// block (all defaults).
    private mutating func decodeLabelledBlock(_ value: ConfigValue?, schema: BlockSchema, path: String, at location: SourceLocation) -> DecodedValue? {
        switch value {
        case nil:
            return .block(decodeBlock([], schema: schema, path: path, at: location))
        case .block(let block)?:
            return .block(decodeBlock(block.parameters, schema: schema, path: path, at: location))
        case let value?:
            error("cannot use \(value.kindDescription) as block for \(path)", at: location)
            return nil
        }
    }

    // MARK: Values

    private mutating func decodeValue(
        _ value: ConfigValue, type: SettingType, spec: ParameterSchema, name: String, at location: SourceLocation
    ) -> DecodedValue? {
        switch (type, value) {
        case (.block(let schema), .block(let block)):
            return .block(decodeBlock(block.parameters, schema: schema, path: name, at: location))

        case (.stringArray, .array(let array)):
            var strings: [LocatedString] = []
            for item in array.items {
                guard case .literal(let literal) = item, literal.kind == .string else {
                    error("cannot use \(item.kindDescription) as string in \(name)", at: item.location)
                    continue
                }
                guard let text = expand(literal.text, name: name, at: literal.location) else { continue }
                if let message = spec.validate?(text) {
                    error(message, at: literal.location)
                    continue
                }
                strings.append(LocatedString(value: text, location: literal.location))
            }
            return .strings(strings)

        case (_, .literal(let literal)):
            return decodeLiteral(literal, type: type, spec: spec, name: name, at: location)

        default:
            error("cannot use \(value.kindDescription) as \(type.expectation) for \(name)", at: location)
            return nil
        }
    }

    private mutating func decodeLiteral(
        _ literal: ConfigLiteral, type: SettingType, spec: ParameterSchema, name: String, at location: SourceLocation
    ) -> DecodedValue? {
        switch (type, literal.kind) {
        case (.string, .string):
            guard let text = expand(literal.text, name: name, at: location) else { return nil }
            if let message = spec.validate?(text) {
                error(message, at: location)
                return nil
            }
            return .string(text)

        case (.int(let minimum), .int):
            guard let value = Int(literal.text) else {
                error("integer \(literal.text) out of range for \(name)", at: location)
                return nil
            }
            if let minimum, value < minimum {
                error(minimum == 0 ? "\(name) cannot be negative" : "\(name) must be at least \(minimum)", at: location)
                return nil
            }
            return .int(value)

        case (.byteCount, .int), (.byteCount, .size):
            guard let value = Self.byteCount(literal) else {
                error("\(literal.kind == .size ? "size" : "integer") \(literal.text) out of range for \(name)", at: location)
                return nil
            }
            guard value >= 0 else {
                error("\(name) cannot be negative", at: location)
                return nil
            }
            return .byteCount(value)

        case (.bool, .bool):
            return .bool(literal.text == "true")

        case (.duration(let positive), .duration), (.duration(let positive), .string):
            var text = literal.text
            if literal.kind == .string {
                guard let expanded = expand(literal.text, name: name, at: location) else { return nil }
                text = expanded
            }
            switch GoDuration.parse(text) {
            case .failure(let failure):
                var message = "invalid duration \"\(text)\" for \(name)"
                if failure != .invalid { message += ": \(failure)" }
                error(message, at: location)
                return nil
            case .success(let duration):
                if positive, duration <= .zero {
                    error("\(name) must be greater than zero", at: location)
                    return nil
                }
                return .duration(duration)
            }

        case (.duration, .int), (.duration, .float):
            // Go would read `timeout 90` as 90 nanoseconds: never what was meant.
            error("missing unit in duration \(literal.text) for \(name) (did you mean \(literal.text)s?)", at: location)
            return nil

        default:
            error("cannot use \(literal.kind.rawValue) as \(type.expectation) for \(name)", at: location)
            return nil
        }
    }

    private static func byteCount(_ literal: ConfigLiteral) -> Int64? {
        guard literal.kind == .size else { return Int64(literal.text) }
        let text = literal.text
        let unitLength = text.hasSuffix("KB") || text.hasSuffix("MB") || text.hasSuffix("GB") || text.hasSuffix("TB") ? 2 : 1
        guard let number = Int64(text.dropLast(unitLength)) else { return nil }
        let shift: Int64 = switch text.suffix(unitLength) {
        case "KB": 10
        case "MB": 20
        case "GB": 30
        case "TB": 40
        default: 0
        }
        let (value, overflow) = number.multipliedReportingOverflow(by: 1 << shift)
        return overflow ? nil : value
    }

    /// Backslash deletion and `${…}` expansion. The messages name the setting, never
    /// the text, which may be a password.
    private mutating func expand(_ raw: String, name: String, at location: SourceLocation) -> String? {
        switch StringExpansion.expand(raw, environment: environment) {
        case .failure(.unknownPrefix(let prefix)):
            error("unknown expansion prefix \"\(prefix)\" in \(name) (use ${NAME} or ${env:NAME})", at: location)
            return nil
        case .success(let result):
            if result.unterminated {
                warning("unterminated ${ in \(name): the text from it to the end of the string is dropped", at: location)
            }
            return result.value
        }
    }
}

/// "Did you mean …?" by edit distance.
enum Suggestion {
    /// The candidate closest to `word` (case-insensitively), if close enough to be a typo.
    static func closest(to word: String, among candidates: [String]) -> String? {
        let folded = Array(word.lowercased().unicodeScalars)
        let allowed = max(1, min(2, folded.count / 3))
        var best: (candidate: String, distance: Int)?
        for candidate in candidates {
            let distance = editDistance(folded, Array(candidate.lowercased().unicodeScalars))
            if distance <= allowed, distance < (best?.distance ?? .max) {
                best = (candidate, distance)
            }
        }
        return best?.candidate
    }

    /// Levenshtein distance, with a transposition of neighbours counting as one edit.
    static func editDistance(_ a: [Unicode.Scalar], _ b: [Unicode.Scalar]) -> Int {
        if a.isEmpty { return b.count }
        if b.isEmpty { return a.count }
        var before = [Int](repeating: 0, count: b.count + 1)
        var previous = Array(0...b.count)
        var current = [Int](repeating: 0, count: b.count + 1)
        for i in 1...a.count {
            current[0] = i
            for j in 1...b.count {
                let cost = a[i - 1] == b[j - 1] ? 0 : 1
                current[j] = min(previous[j] + 1, current[j - 1] + 1, previous[j - 1] + cost)
                if i > 1, j > 1, a[i - 1] == b[j - 2], a[i - 2] == b[j - 1] {
                    current[j] = min(current[j], before[j - 2] + 1)
                }
            }
            (before, previous, current) = (previous, current, before)
        }
        return previous[b.count]
    }
}
