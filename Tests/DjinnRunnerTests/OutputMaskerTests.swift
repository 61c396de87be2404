import Testing
@testable import DjinnRunner

/// The masking rule stated independently: collect every occurrence of every mask, merge the
/// ones that overlap, replace each merged run by `xxxxxx`.
private func referenceMask(_ input: [UInt8], masks: [String]) -> [UInt8] {
    var intervals: [(start: Int, end: Int)] = []
    for mask in masks where !mask.isEmpty {
        let bytes = Array(mask.utf8)
        for start in input.occurrences(of: bytes) { intervals.append((start, start + bytes.count)) }
    }
    intervals.sort { $0.start < $1.start }
    var merged: [(start: Int, end: Int)] = []
    for interval in intervals {
        if let last = merged.last, interval.start < last.end {
            merged[merged.count - 1].end = max(last.end, interval.end)
        } else {
            merged.append(interval)
        }
    }
    var output: [UInt8] = []
    var position = 0
    for run in merged {
        output += input[position..<run.start]
        output += Array("xxxxxx".utf8)
        position = run.end
    }
    return output + input[position...]
}

private func mask(_ text: String, _ masks: [String]) -> String {
    String(decoding: maskAll([Array(text.utf8)], masks: masks), as: UTF8.self)
}

@Suite struct OutputMaskerTests {
    @Test func replacesEveryOccurrence() {
        #expect(mask("my password is hunter2, really hunter2", ["hunter2"]) == "my password is xxxxxx, really xxxxxx")
        #expect(mask("secretsecret", ["secret"]) == "xxxxxxxxxxxx", "adjacent occurrences each give xxxxxx (as Go)")
        #expect(mask("nothing here", ["secret"]) == "nothing here")
        #expect(mask("pässwörd€ ok", ["pässwörd€"]) == "xxxxxx ok")
    }

    @Test func overlappingOccurrencesBecomeOneRun() {
        #expect(mask("aaa", ["aa"]) == "xxxxxx")
        #expect(mask("password1", ["pass", "password"]) == "xxxxxx1", "no part of the longer secret survives")
        #expect(mask("password1", ["password", "pass"]) == "xxxxxx1", "mask order does not matter")
        #expect(mask("abcdefgh", ["abcd", "cdefg"]) == "xxxxxxh")
        #expect(mask("abcdefgh", ["abcd", "efgh"]) == "xxxxxxxxxxxx", "touching runs stay separate")
    }

    @Test func emptyAndDuplicateMasksAreIgnored() {
        #expect(OutputMasker(masks: []).isEmpty)
        #expect(OutputMasker(masks: ["", ""]).isEmpty)
        #expect(mask("abc", [""]) == "abc")
        #expect(mask("a secret", ["secret", "secret", ""]) == "a xxxxxx")
    }

    @Test func holdsBackOnlyWhatCouldStillBecomeAMatch() {
        var masker = OutputMasker(masks: ["secret", "pw"])
        #expect(masker.process(Array("hello sec".utf8)) == Array("hell".utf8))
        #expect(masker.heldBackCount == 5)
        #expect(masker.process(Array("ret and more".utf8)) == Array("o xxxxxx and".utf8))
        #expect(masker.finish() == Array(" more".utf8))
        #expect(masker.heldBackCount == 0)
        var plain = OutputMasker(masks: [])
        #expect(plain.process(Array("straight through".utf8)) == Array("straight through".utf8))
    }

    @Test func everySplitPointGivesTheSameResult() {
        let cases: [(String, [String])] = [
            ("the secret is secretsecret and s3cr3t", ["secret", "s3cr3t"]),
            ("aaaaaaa", ["aa", "aaa"]),
            ("abcdefghij", ["abcd", "cdefg", "ij"]),
            ("pässwörd€pässwörd€", ["wörd€p", "ss"]),
        ]
        for (text, masks) in cases {
            let input = Array(text.utf8)
            let whole = maskAll([input], masks: masks)
            #expect(whole == referenceMask(input, masks: masks))
            for first in 0...input.count {
                for second in first...input.count {
                    #expect(maskAll(chunks(input, splitAt: [first, second]), masks: masks) == whole, "\(text) at \(first),\(second)")
                }
            }
            #expect(maskAll(input.map { [$0] }, masks: masks) == whole, "byte by byte")
        }
    }

    @Test func randomInputsAndChunkingsMatchTheRule() async {
        var generator = SeededGenerator(seed: 0xD1CE)
        let alphabet = Array("abc€".utf8)
        for _ in 0..<3000 {
            await Task.yield()  // long CPU work: let timing-sensitive tests run
            let masks = (0..<Int.random(in: 0...3, using: &generator)).map { _ in
                String(decoding: (0..<Int.random(in: 0...4, using: &generator)).map { _ in alphabet.randomElement(using: &generator)! }, as: UTF8.self)
            }
            let input = (0..<Int.random(in: 0...40, using: &generator)).map { _ in alphabet.randomElement(using: &generator)! }
            let expected = referenceMask(input, masks: masks)
            #expect(maskAll([input], masks: masks) == expected, "\(input) \(masks)")
            #expect(maskAll(randomChunks(input, using: &generator), masks: masks) == expected, "\(input) \(masks)")
        }
    }

    @Test func secretsNeverSurviveInRandomOutput() async {
        var generator = SeededGenerator(seed: 42)
        // No `x` in secrets or filler, so any surviving secret would be a real leak.
        let alphabet = Array("abcdefgh \n\0é".utf8)
        for _ in 0..<2000 {
            await Task.yield()
            let secrets = (0..<Int.random(in: 1...3, using: &generator)).map { _ in
                String(decoding: (0..<Int.random(in: 1...8, using: &generator)).map { _ in alphabet.randomElement(using: &generator)! }, as: UTF8.self)
            }
            var input: [UInt8] = []
            for _ in 0..<Int.random(in: 1...10, using: &generator) {
                input += (0..<Int.random(in: 0...6, using: &generator)).map { _ in alphabet.randomElement(using: &generator)! }
                input += Array(secrets.randomElement(using: &generator)!.utf8)
            }
            var masker = OutputMasker(masks: secrets)
            let longest = secrets.map(\.utf8.count).max()!
            var output: [UInt8] = []
            for part in randomChunks(input, using: &generator) {
                output += masker.process(part)
                #expect(masker.heldBackCount <= longest - 1)
            }
            output += masker.finish()
            for secret in secrets {
                #expect(!output.contains(subsequence: Array(secret.utf8)), "\(secret) leaked from \(input)")
            }
        }
    }
}
