import Testing
@testable import DjinnRunner

/// The sanitising rule using the standard library's UTF-8 validation: a sequence is kept
/// when the bytes its lead byte announces form one valid scalar, otherwise the lead byte
/// alone becomes U+FFFD.
private func referenceSanitize(_ input: [UInt8]) -> [UInt8] {
    var output: [UInt8] = []
    var position = 0
    while position < input.count {
        let lead = input[position]
        if lead == 0 {
            output += Array("NUL".utf8)
            position += 1
            continue
        }
        let length: Int
        switch lead {
        case 0x01...0x7F: length = 1
        case 0xC0...0xDF: length = 2
        case 0xE0...0xEF: length = 3
        case 0xF0...0xF7: length = 4
        default: length = 0
        }
        if length > 0, position + length <= input.count,
            let scalar = String(validating: input[position..<position + length], as: UTF8.self),
            scalar.unicodeScalars.count == 1
        {
            output += input[position..<position + length]
            position += length
        } else {
            output += [0xEF, 0xBF, 0xBD]
            position += 1
        }
    }
    return output
}

private let fffd = "\u{FFFD}"

private func sanitized(_ bytes: [UInt8]) -> String {
    String(decoding: sanitizeAll([bytes]), as: UTF8.self)
}

@Suite struct OutputSanitizerTests {
    @Test func replacesNulWithTheLettersNUL() {
        #expect(sanitized(Array("a\0b\0\0".utf8)) == "aNULbNULNUL")
    }

    @Test func replacesEachInvalidByte() {
        #expect(sanitized([0x61, 0xFF, 0x62]) == "a\(fffd)b")
        #expect(sanitized([0xC0, 0xAF]) == fffd + fffd, "overlong /")
        #expect(sanitized([0xE0, 0x80, 0xAF]) == fffd + fffd + fffd, "overlong")
        #expect(sanitized([0xED, 0xA0, 0x80]) == fffd + fffd + fffd, "surrogate")
        #expect(sanitized([0xF4, 0x90, 0x80, 0x80]) == fffd + fffd + fffd + fffd, "above U+10FFFF")
        #expect(sanitized([0xE2, 0x82, 0x41]) == fffd + fffd + "A", "truncated then ASCII")
        #expect(sanitized([0x80]) == fffd, "lone continuation")
        #expect(sanitized([0xE2, 0x82]) == fffd + fffd, "truncated at the end")
    }

    @Test func keepsValidText() {
        let text = "plain, é, €, 𝄞, 日本語\n\ttabs"
        #expect(sanitized(Array(text.utf8)) == text)
    }

    @Test func holdsBackASplitSequenceAndNothingElse() {
        var sanitizer = OutputSanitizer()
        let euro = Array("€".utf8)
        #expect(sanitizer.process([0x61] + euro.prefix(2)) == [0x61])
        #expect(sanitizer.heldBackCount == 2)
        #expect(sanitizer.process([euro[2], 0x62]) == euro + [0x62])
        #expect(sanitizer.heldBackCount == 0)
        #expect(sanitizer.process([0xF0, 0x9D]) == [])
        #expect(sanitizer.finish() == Array((fffd + fffd).utf8))
    }

    @Test func everySplitPointGivesTheSameResult() {
        let inputs: [[UInt8]] = [
            Array("a€b𝄞c\0é".utf8),
            [0xE2, 0x82, 0x41, 0xF0, 0x9D, 0x84, 0x9E, 0xF0, 0x9D, 0xC3, 0xA9, 0xFF, 0x00],
        ]
        for input in inputs {
            let whole = sanitizeAll([input])
            #expect(whole == referenceSanitize(input))
            for first in 0...input.count {
                for second in first...input.count {
                    #expect(sanitizeAll(chunks(input, splitAt: [first, second])) == whole, "\(input) at \(first),\(second)")
                }
            }
            #expect(sanitizeAll(input.map { [$0] }) == whole)
        }
    }

    @Test func randomBytesAlwaysGiveValidTextWithoutNul() async {
        var generator = SeededGenerator(seed: 7)
        // Bytes biased towards UTF-8 structure so that valid, truncated and ill-formed
        // sequences all occur.
        let interesting: [UInt8] = [0x00, 0x41, 0x7F, 0x80, 0x8F, 0x90, 0x9F, 0xA0, 0xBF, 0xC0, 0xC1, 0xC2, 0xDF,
                                    0xE0, 0xE1, 0xED, 0xEE, 0xEF, 0xF0, 0xF1, 0xF4, 0xF5, 0xFF]
        for _ in 0..<5000 {
            await Task.yield()  // long CPU work: let timing-sensitive tests run
            let input = (0..<Int.random(in: 0...24, using: &generator)).map { _ in
                Bool.random(using: &generator) ? interesting.randomElement(using: &generator)! : UInt8.random(in: 0...255, using: &generator)
            }
            let expected = referenceSanitize(input)
            let whole = sanitizeAll([input])
            #expect(whole == expected, "\(input)")
            #expect(sanitizeAll(randomChunks(input, using: &generator)) == expected, "\(input)")
            #expect(String(validating: whole, as: UTF8.self) != nil)
            #expect(!whole.contains(0))
        }
    }
}
