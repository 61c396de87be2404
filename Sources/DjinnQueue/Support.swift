#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// Wall-clock time as Redis scores use it (curlyq stores Unix seconds).
enum WallClock {
    static func nowMilliseconds() -> Int64 {
        var now = timespec()
        clock_gettime(CLOCK_REALTIME, &now)
        return Int64(now.tv_sec) * 1000 + Int64(now.tv_nsec) / 1_000_000
    }

    /// A score or timestamp in seconds with millisecond precision: `12` or `12.345`.
    static func secondsText(milliseconds: Int64) -> String {
        let seconds = milliseconds / 1000
        let fraction = milliseconds % 1000
        if fraction == 0 { return String(seconds) }
        let digits = String(fraction)
        return String(seconds) + "." + String(repeating: "0", count: 3 - digits.count) + digits
    }
}

/// Random (version 4) UUIDs as lowercase text, the form curlyq gives job and consumer ids.
enum UUIDv4 {
    private static let hexDigits: [UInt8] = Array("0123456789abcdef".utf8)

    static func generate() -> String {
        generate(count: 1)[0]
    }

    /// `count` ids. The system's random source costs a system call per 8 bytes, so a batch
    /// draws its ids from a fast generator seeded from it (ids must be unique, not secret).
    static func generate(count: Int) -> [String] {
        var system = SystemRandomNumberGenerator()
        if count <= 2 { return (0..<count).map { _ in generate(using: &system) } }
        var fast = Xoshiro256StarStar(seededFrom: &system)
        return (0..<count).map { _ in generate(using: &fast) }
    }

    static func generate<G: RandomNumberGenerator>(using generator: inout G) -> String {
        var bytes = [UInt8](repeating: 0, count: 16)
        for index in stride(from: 0, to: 16, by: 8) {
            let word = generator.next() as UInt64
            for shift in 0..<8 { bytes[index + shift] = UInt8(truncatingIfNeeded: word >> UInt64(shift * 8)) }
        }
        return format(bytes[...])
    }

    private static func format(_ random: ArraySlice<UInt8>) -> String {
        var bytes = Array(random)
        bytes[6] = bytes[6] & 0x0f | 0x40  // version 4
        bytes[8] = bytes[8] & 0x3f | 0x80  // RFC 4122 variant
        return String(unsafeUninitializedCapacity: 36) { text in
            var position = 0
            for (index, byte) in bytes.enumerated() {
                if index == 4 || index == 6 || index == 8 || index == 10 {
                    text[position] = UInt8(ascii: "-")
                    position += 1
                }
                text[position] = hexDigits[Int(byte >> 4)]
                text[position + 1] = hexDigits[Int(byte & 0x0f)]
                position += 2
            }
            return position
        }
    }
}

/// xoshiro256** (Blackman and Vigna): a small, fast, high-quality non-cryptographic generator.
struct Xoshiro256StarStar: RandomNumberGenerator {
    private var state: (UInt64, UInt64, UInt64, UInt64)

    init<G: RandomNumberGenerator>(seededFrom source: inout G) {
        repeat {
            state = (source.next(), source.next(), source.next(), source.next())
        } while state == (0, 0, 0, 0)
    }

    mutating func next() -> UInt64 {
        let result = (state.1 &* 5).rotatedLeft(7) &* 9
        let shifted = state.1 << 17
        state.2 ^= state.0
        state.3 ^= state.1
        state.1 ^= state.2
        state.0 ^= state.3
        state.2 ^= shifted
        state.3 = state.3.rotatedLeft(45)
        return result
    }
}

extension UInt64 {
    fileprivate func rotatedLeft(_ count: UInt64) -> UInt64 {
        (self << count) | (self >> (64 - count))
    }
}

extension Duration {
    /// Whole milliseconds (rounded down).
    var wholeMilliseconds: Int64 {
        let (seconds, attoseconds) = components
        return seconds * 1000 + attoseconds / 1_000_000_000_000_000
    }

    var secondsDouble: Double {
        let (seconds, attoseconds) = components
        return Double(seconds) + Double(attoseconds) / 1e18
    }

    /// Whole seconds, rounded up, at least 1 (Redis scores of heartbeats are whole seconds).
    var wholeSecondsRoundedUp: Int64 {
        let (seconds, attoseconds) = components
        return Swift.max(1, attoseconds > 0 ? seconds + 1 : seconds)
    }
}

/// A FIFO queue with amortised O(1) push and pop (the consumer's local job buffer).
struct RingBuffer<Element> {
    private var storage: [Element?] = []
    private var head = 0
    private(set) var count = 0

    var isEmpty: Bool { count == 0 }

    mutating func append(_ element: Element) {
        if count == storage.count {
            // Grow, moving the elements to the front in order.
            var grown: [Element?] = []
            grown.reserveCapacity(Swift.max(8, storage.count * 2))
            for offset in 0..<count { grown.append(storage[(head + offset) % storage.count]) }
            grown.append(contentsOf: repeatElement(nil, count: grown.capacity - grown.count))
            storage = grown
            head = 0
        }
        storage[(head + count) % storage.count] = element
        count += 1
    }

    mutating func popFirst() -> Element? {
        guard count > 0 else { return nil }
        let element = storage[head]
        storage[head] = nil
        head = (head + 1) % storage.count
        count -= 1
        return element
    }

    /// Empties the buffer, returning the elements in order.
    mutating func removeAll() -> [Element] {
        var elements: [Element] = []
        elements.reserveCapacity(count)
        while let element = popFirst() { elements.append(element) }
        return elements
    }
}
