import Foundation
import Testing
@testable import DjinnConfig

/// Every directive the daemons accept (Schemas.swift) is documented: in docs/configuration.md,
/// and in the commented example config of dist/ for that file. A directive added to a schema
/// without documentation fails here.
@Suite struct DocumentationCoverageTests {
    static let repository = URL(fileURLWithPath: #filePath)
        .deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()

    /// Every parameter of a schema as a dotted path: `database.tls.ca`, `driver.qemu.cpus`;
    /// labelled blocks contribute their parameters without a label (`store.path`).
    static func directivePaths(_ block: BlockSchema, prefix: [String] = []) -> [[String]] {
        block.parameters.flatMap { parameter -> [[String]] in
            let path = prefix + [parameter.name]
            switch parameter.type {
            case .block(let inner), .labelledBlocks(let inner, _):
                return [path] + directivePaths(inner, prefix: path)
            case .variants(let variants, _):
                return [path] + variants.keys.sorted().flatMap { label in
                    [path + [label]] + directivePaths(variants[label]!, prefix: path + [label])
                }
            default:
                return [path]
            }
        }
    }

    static let files: [(name: String, schema: BlockSchema)] = [
        ("worker.conf", Schemas.worker), ("driver.conf", Schemas.driverFile),
        ("scheduler.conf", Schemas.scheduler), ("consumer.conf", Schemas.consumer),
    ]

    static func read(_ relative: String) throws -> String {
        try String(contentsOf: repository.appendingPathComponent(relative), encoding: .utf8)
    }

    /// Words written inside `code spans` of a Markdown text.
    static func codeWords(_ markdown: String) -> Set<String> {
        var words = Set<String>()
        for (index, span) in markdown.split(separator: "`", omittingEmptySubsequences: false).enumerated() where index % 2 == 1 {
            for word in span.split(whereSeparator: { !($0.isLetter || $0.isNumber || $0 == "_") }) {
                words.insert(String(word))
            }
        }
        return words
    }

    @Test(arguments: files.map(\.name))
    func configurationPageNamesEveryDirective(_ file: String) throws {
        let schema = Self.files.first { $0.name == file }!.schema
        let documented = Self.codeWords(try Self.read("docs/configuration.md"))
        for path in Self.directivePaths(schema) {
            #expect(documented.contains(path.last!), "docs/configuration.md does not name `\(path.last!)` (\(file): \(path.joined(separator: ".")))")
        }
    }

    /// Each directive starts a line of the example, written or commented out (`# name …`).
    @Test(arguments: files.map(\.name))
    func distExampleShowsEveryDirective(_ file: String) throws {
        let schema = Self.files.first { $0.name == file }!.schema
        let firstWords = Set(try Self.read("dist/\(file)").split(separator: "\n").compactMap { line -> String? in
            var text = line.drop { $0 == " " || $0 == "\t" }
            if text.hasPrefix("#") { text = text.dropFirst().drop { $0 == " " || $0 == "\t" } }
            return text.split(whereSeparator: { $0 == " " || $0 == "\t" }).first.map(String.init)
        })
        for path in Self.directivePaths(schema) {
            // `driver qemu {`: the label is the second word; the name `driver` is checked too.
            #expect(firstWords.contains(path.last!) || file == "driver.conf" && path.count == 2,
                    "dist/\(file) does not show `\(path.joined(separator: "."))`")
        }
    }

    @Test func pathsCoverNestedAndLabelledDirectives() {
        let worker = Set(Self.directivePaths(Schemas.worker).map { $0.joined(separator: ".") })
        #expect(worker.isSuperset(of: ["database.tls.ca", "store.limit", "provider.client_secret", "smtp.admin", "timeout"]))
        let driver = Set(Self.directivePaths(Schemas.driverFile).map { $0.joined(separator: ".") })
        #expect(driver.isSuperset(of: ["driver.os", "driver.qemu.cpus", "driver.ssh.key"]))
    }
}
