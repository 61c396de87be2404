/// How much output is kept per buffer.
public struct OutputLimits: Sendable, Hashable {
    /// The first bytes kept.
    public var headBytes: Int
    /// The last bytes kept.
    public var tailBytes: Int

    public init(headBytes: Int = 1 << 20, tailBytes: Int = 1 << 20) {
        precondition(headBytes >= 0 && tailBytes >= 0, "output limits cannot be negative")
        self.headBytes = headBytes
        self.tailBytes = tailBytes
    }

    /// 1 MiB of head and 1 MiB of tail.
    public static let standard = OutputLimits()
}

/// A change to a stored text column, sent instead of the whole text:
///
///     UPDATE … SET output = left(coalesce(output, ''), $keepCharacters) || $suffix
///
/// `keepCharacters` counts Unicode scalars, which is what PostgreSQL's `left` counts in a
/// UTF8 database.
public struct StoredTextUpdate: Sendable, Hashable {
    public let keepCharacters: Int
    public let suffix: String

    public init(keepCharacters: Int, suffix: String) {
        self.keepCharacters = keepCharacters
        self.suffix = suffix
    }

    /// What the column holds after the update (the SQL above, in Swift).
    public func applied(to stored: String?) -> String {
        String(String.UnicodeScalarView((stored ?? "").unicodeScalars.prefix(keepCharacters))) + suffix
    }
}

/// Output kept in bounded memory: the first `headBytes` and the last `tailBytes`, and a
/// count of what was cut between them. Memory is O(head + tail) however much is written.
///
/// Input must be valid UTF-8 written in whole characters (what `OutputSanitizer` emits); the
/// head ends and the tail begins on character boundaries, so the text stays valid.
///
/// **Rendered text** (`render()`, the final stored output): everything written while nothing
/// was cut; once something was cut, `head + "\n[… N bytes cut …]\n" + tail`, where `tail` is
/// the kept last bytes (from the first whole character) and N is the number of bytes between.
///
/// **Live text** (`takeUpdate(final: false)`, what pollers see while the job runs): the same
/// head and marker, but the part after the marker is a *window* that only grows by appending
/// and is re-cut to the last `tailBytes / 2` bytes when it would exceed `tailBytes`. So a job
/// printing slowly costs an append of its new bytes per flush, never a rewrite of the tail;
/// N in the marker is exact for the window stored with it. `takeUpdate(final: true)` brings
/// the stored text to exactly `render()`.
public struct BoundedOutput: Sendable {
    public let limits: OutputLimits

    private var head: [UInt8] = []
    private var headCharacters = 0
    /// Set once a byte did not fit into the head; from then on bytes go to the ring.
    private var headClosed = false
    /// The last bytes after the head, at most `tailBytes`; circular once full.
    private var ring: [UInt8] = []
    private var ringOldest = 0
    /// Every byte ever written.
    public private(set) var totalBytes = 0

    /// What the stored column holds, as far as the updates handed out say.
    private enum Stored: Sendable {
        /// Unknown (nothing written yet, or a write failed): the next update replaces all.
        case unknown
        /// Bytes [0, end) of the output.
        case prefix(end: Int, characters: Int)
        /// The whole head, the marker for [head end, start) and bytes [start, end).
        case window(start: Int, end: Int, characters: Int)
    }

    private var stored: Stored = .unknown

    public init(limits: OutputLimits = .standard) {
        self.limits = limits
    }

    // MARK: Writing

    public mutating func write(_ text: String) {
        write(Array(text.utf8))
    }

    /// Appends valid UTF-8 made of whole characters.
    public mutating func write(_ bytes: [UInt8]) {
        guard !bytes.isEmpty else { return }
        var rest = bytes[...]
        if !headClosed {
            let room = limits.headBytes - head.count
            if rest.count <= room {
                appendToHead(rest)
                totalBytes += bytes.count
                return
            }
            var split = room  // first byte left out; back off so no character is split
            while split > 0 && Self.isContinuation(rest[rest.startIndex + split]) { split -= 1 }
            appendToHead(rest.prefix(split))
            rest = rest.dropFirst(split)
            headClosed = true
        }
        appendToRing(rest)
        totalBytes += bytes.count
    }

    private mutating func appendToHead(_ bytes: ArraySlice<UInt8>) {
        let needed = head.count + bytes.count
        if needed > head.capacity {
            // Grow geometrically but never past the limit, so capacity stays O(head).
            head.reserveCapacity(Swift.min(limits.headBytes, Swift.max(needed, head.count * 2, 256)))
        }
        head.append(contentsOf: bytes)
        headCharacters += Self.characterCount(bytes)
    }

    private mutating func appendToRing(_ bytes: ArraySlice<UInt8>) {
        let capacity = limits.tailBytes
        guard capacity > 0 else { return }
        if bytes.count >= capacity {
            ring = Array(bytes.suffix(capacity))
            ringOldest = 0
            return
        }
        var rest = bytes
        if ring.count < capacity {
            if ring.isEmpty { ring.reserveCapacity(capacity) }
            let fill = Swift.min(capacity - ring.count, rest.count)
            ring.append(contentsOf: rest.prefix(fill))
            rest = rest.dropFirst(fill)
        }
        while !rest.isEmpty {  // full: overwrite the oldest bytes
            let count = Swift.min(capacity - ringOldest, rest.count)
            let start = ringOldest
            ring.replaceSubrange(start..<start + count, with: rest.prefix(count))
            ringOldest = (ringOldest + count) % capacity
            rest = rest.dropFirst(count)
        }
    }

    // MARK: Reading

    /// Bytes cut between head and tail in the rendered text (0 while nothing was cut).
    public var cutBytes: Int { tailStart - head.count }

    /// Bytes of storage held (for memory-bound checks): O(head + tail).
    public var storageCapacity: Int { head.capacity + ring.capacity }

    /// The text to store: see the type's documentation.
    public func render() -> String {
        String(decoding: renderedBytes(), as: UTF8.self)
    }

    public func renderedBytes() -> [UInt8] {
        var output = head
        let start = tailStart
        if start > head.count { output += Self.marker(cut: start - head.count) }
        output += bytes(from: start, to: totalBytes)
        return output
    }

    /// The marker put between head and tail when `cut` bytes were left out.
    public static func marker(cut: Int) -> [UInt8] {
        Array("\n[… \(cut) bytes cut …]\n".utf8)
    }

    // MARK: Live updates

    /// The update that brings the stored column up to date, or nil when it already is.
    /// `final: false` gives the live text, `final: true` exactly `render()` (see above).
    /// The caller must apply every update it takes, in order; after a failed write call
    /// `invalidateStoredText()` so the next update rewrites everything.
    public mutating func takeUpdate(final: Bool = false) -> StoredTextUpdate? {
        let total = totalBytes
        if !somethingDropped {
            // Nothing cut: the stored text is a prefix of the output; append the rest.
            var keep = 0
            var end = 0
            if case .prefix(let storedEnd, let characters) = stored {
                if storedEnd == total { return nil }
                keep = characters
                end = storedEnd
            }
            let suffix = bytes(from: end, to: total)
            stored = .prefix(end: total, characters: keep + Self.characterCount(suffix[...]))
            return StoredTextUpdate(keepCharacters: keep, suffix: String(decoding: suffix, as: UTF8.self))
        }
        if case .window(let start, let end, let characters) = stored,
            final ? start == tailStart : total - start <= limits.tailBytes
        {
            if end == total { return nil }
            let suffix = bytes(from: end, to: total)
            stored = .window(start: start, end: total, characters: characters + Self.characterCount(suffix[...]))
            return StoredTextUpdate(keepCharacters: characters, suffix: String(decoding: suffix, as: UTF8.self))
        }
        // Re-cut the window: keep whatever part of the head is stored, rewrite the rest.
        var start = final ? tailStart : Swift.max(tailStart, total - limits.tailBytes / 2)
        while start < total && Self.isContinuation(byte(at: start)) { start += 1 }
        var keep = 0
        var suffix: [UInt8] = []
        switch stored {
        case .unknown:
            suffix = head
        case .prefix(let end, let characters) where end < head.count:
            keep = characters
            suffix = Array(head[end...])
        case .prefix, .window:
            keep = headCharacters
        }
        suffix += Self.marker(cut: start - head.count)
        suffix += bytes(from: start, to: total)
        let characters = keep + Self.characterCount(suffix[...])
        stored = .window(start: start, end: total, characters: characters)
        return StoredTextUpdate(keepCharacters: keep, suffix: String(decoding: suffix, as: UTF8.self))
    }

    /// The stored column is in an unknown state (e.g. a write failed).
    public mutating func invalidateStoredText() {
        stored = .unknown
    }

    // MARK: Internals

    private var ringFirst: Int { totalBytes - ring.count }

    /// True once bytes between head and ring were dropped.
    private var somethingDropped: Bool { ringFirst > head.count }

    /// The first character boundary of what the ring holds.
    private var tailStart: Int {
        var start = ringFirst
        if start > head.count {
            while start < totalBytes && Self.isContinuation(byte(at: start)) { start += 1 }
        }
        return start
    }

    /// The byte at an absolute offset that is still held.
    private func byte(at offset: Int) -> UInt8 {
        if offset < head.count { return head[offset] }
        let index = offset - ringFirst
        precondition(index >= 0 && index < ring.count, "byte \(offset) is no longer held")
        return ring.count < limits.tailBytes ? ring[index] : ring[(ringOldest + index) % ring.count]
    }

    /// Bytes [from, to) of the output; they must all still be held.
    private func bytes(from start: Int, to end: Int) -> [UInt8] {
        guard start < end else { return [] }
        var output: [UInt8] = []
        output.reserveCapacity(end - start)
        var position = start
        if position < head.count {
            let headEnd = Swift.min(end, head.count)
            output += head[position..<headEnd]
            position = headEnd
        }
        guard position < end else { return output }
        precondition(position >= ringFirst, "bytes from \(position) are no longer held")
        let first = position - ringFirst
        let last = end - ringFirst
        if ring.count < limits.tailBytes || ringOldest == 0 {
            output += ring[first..<last]
        } else {
            // Physical order: [ringOldest, count) then [0, ringOldest).
            let firstPhysical = (ringOldest + first) % ring.count
            let length = last - first
            if firstPhysical + length <= ring.count {
                output += ring[firstPhysical..<(firstPhysical + length)]
            } else {
                output += ring[firstPhysical...]
                output += ring[..<(firstPhysical + length - ring.count)]
            }
        }
        return output
    }

    private static func isContinuation(_ byte: UInt8) -> Bool { byte & 0xC0 == 0x80 }

    private static func characterCount(_ bytes: ArraySlice<UInt8>) -> Int {
        var count = 0
        for byte in bytes where !isContinuation(byte) { count += 1 }
        return count
    }
}
