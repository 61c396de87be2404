import DjinnRunner

/// A small deterministic generator, so a failing random case can be reproduced.
struct SeededGenerator: RandomNumberGenerator {
    private var state: UInt64

    init(seed: UInt64) { state = seed }

    mutating func next() -> UInt64 {  // SplitMix64
        state &+= 0x9E37_79B9_7F4A_7C15
        var z = state
        z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
        z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
        return z ^ (z >> 31)
    }
}

extension Array where Element == UInt8 {
    /// Every index at which `needle` occurs.
    func occurrences(of needle: [UInt8]) -> [Int] {
        guard !needle.isEmpty, needle.count <= count else { return [] }
        return (0...(count - needle.count)).filter { self[$0..<($0 + needle.count)].elementsEqual(needle) }
    }

    func contains(subsequence needle: [UInt8]) -> Bool { !occurrences(of: needle).isEmpty }
}

/// Splits `bytes` at the given offsets.
func chunks(_ bytes: [UInt8], splitAt offsets: [Int]) -> [[UInt8]] {
    var result: [[UInt8]] = []
    var start = 0
    for offset in offsets.sorted() where offset >= start && offset <= bytes.count {
        result.append(Array(bytes[start..<offset]))
        start = offset
    }
    result.append(Array(bytes[start...]))
    return result
}

/// Random chunk boundaries (empty chunks included now and then).
func randomChunks(_ bytes: [UInt8], using generator: inout SeededGenerator) -> [[UInt8]] {
    guard !bytes.isEmpty else { return [[]] }
    let cuts = (0..<Int.random(in: 0...8, using: &generator)).map { _ in Int.random(in: 0...bytes.count, using: &generator) }
    return chunks(bytes, splitAt: cuts)
}

/// Pushes chunks through a masker and returns everything it emitted.
func maskAll(_ parts: [[UInt8]], masks: [String]) -> [UInt8] {
    var masker = OutputMasker(masks: masks)
    var output: [UInt8] = []
    for part in parts { output += masker.process(part) }
    return output + masker.finish()
}

func sanitizeAll(_ parts: [[UInt8]]) -> [UInt8] {
    var sanitizer = OutputSanitizer()
    var output: [UInt8] = []
    for part in parts { output += sanitizer.process(part) }
    return output + sanitizer.finish()
}
