/// Hides masked variable values in a byte stream that arrives in arbitrary chunks (spec §4.5).
///
/// Rule: every byte that belongs to an occurrence of any mask is hidden. Occurrences that
/// overlap (of one mask or of several) form one run, replaced by a single `xxxxxx`;
/// occurrences that merely touch each give their own `xxxxxx`. For a single mask whose
/// occurrences do not overlap this is exactly Go's replace (`secretsecret` →
/// `xxxxxxxxxxxx`). Unlike applying the masks one after the other (Go), no part of a secret
/// survives because a shorter overlapping secret was replaced first (`pass` and `password`
/// on `password` give `xxxxxx`, not `xxxxxxword`).
///
/// Matching is on the raw bytes, before sanitising. Empty masks are ignored. To catch a
/// secret split across chunks, up to (longest mask − 1) bytes are held back until more data
/// arrives or `finish()` is called; memory is O(longest mask).
public struct OutputMasker: Sendable {
    public static let replacement: [UInt8] = Array("xxxxxx".utf8)

    /// Distinct non-empty masks, longest first (so the first match is the longest).
    private let masks: [[UInt8]]
    private let longest: Int
    /// Which bytes start some mask: most bytes are passed on without comparing anything.
    private let startsAMask: [Bool]
    private var pending: [UInt8] = []
    /// How many bytes from the next undecided one on are still inside the current run.
    private var coverRemaining = 0

    public init(masks: [String]) {
        self.init(maskBytes: masks.map { Array($0.utf8) })
    }

    public init(maskBytes: [[UInt8]]) {
        var distinct: [[UInt8]] = []
        for mask in maskBytes where !mask.isEmpty && !distinct.contains(mask) { distinct.append(mask) }
        distinct.sort { $0.count > $1.count }
        var starts = [Bool](repeating: false, count: 256)
        for mask in distinct { starts[Int(mask[0])] = true }
        self.masks = distinct
        self.longest = distinct.first?.count ?? 0
        self.startsAMask = starts
    }

    /// True when there is nothing to mask (bytes pass straight through).
    public var isEmpty: Bool { masks.isEmpty }

    /// Bytes currently held back.
    public var heldBackCount: Int { pending.count }

    /// Masks `chunk`; returns what can be emitted now.
    public mutating func process(_ chunk: [UInt8]) -> [UInt8] {
        if masks.isEmpty { return chunk }
        var input = pending
        input.append(contentsOf: chunk)
        var output: [UInt8] = []
        output.reserveCapacity(input.count)
        let consumed = scan(input, final: false, into: &output)
        pending = Array(input[consumed...])
        return output
    }

    /// Emits what was held back (the stream ended).
    public mutating func finish() -> [UInt8] {
        if masks.isEmpty || pending.isEmpty {
            pending = []
            coverRemaining = 0
            return []
        }
        var output: [UInt8] = []
        _ = scan(pending, final: true, into: &output)
        pending = []
        coverRemaining = 0
        return output
    }

    /// Decides every position whose lookahead is complete (all of them when `final`);
    /// returns how many bytes were decided.
    private mutating func scan(_ input: [UInt8], final: Bool, into output: inout [UInt8]) -> Int {
        let count = input.count
        let limit = final ? count : count - (longest - 1)
        guard limit > 0 else { return 0 }
        let masks = self.masks
        let startsAMask = self.startsAMask
        var coverRemaining = self.coverRemaining
        defer { self.coverRemaining = coverRemaining }
        return input.withUnsafeBufferPointer { bytes in
            startsAMask.withUnsafeBufferPointer { starts in
                var position = 0
                var literalStart = 0
                while position < limit {
                    let byte = bytes[position]
                    if coverRemaining == 0 && !starts[Int(byte)] {
                        position += 1
                        continue
                    }
                    output.append(contentsOf: bytes[literalStart..<position])
                    let match = Self.longestMatch(of: masks, in: bytes, at: position)
                    if coverRemaining > 0 {
                        coverRemaining = Swift.max(coverRemaining, match) - 1
                    } else if match > 0 {
                        output.append(contentsOf: Self.replacement)
                        coverRemaining = match - 1
                    } else {
                        output.append(byte)
                    }
                    position += 1
                    literalStart = position
                }
                output.append(contentsOf: bytes[literalStart..<position])
                return position
            }
        }
    }

    private static func longestMatch(of masks: [[UInt8]], in bytes: UnsafeBufferPointer<UInt8>, at position: Int) -> Int {
        let available = bytes.count - position
        for mask in masks where mask.count <= available {
            var index = 0
            while index < mask.count && bytes[position + index] == mask[index] { index += 1 }
            if index == mask.count { return mask.count }
        }
        return 0
    }
}
