/// One member of a tar archive (POSIX ustar, with PAX or GNU records for long names).
public struct TarEntry: Sendable, Equatable {
    public enum Kind: Sendable, Equatable {
        case file
        case directory
        case symbolicLink
        case hardLink
        /// Anything else (devices, FIFOs …), by its type flag.
        case other(UInt8)
    }

    public var name: String
    public var kind: Kind
    /// Permission bits, e.g. `0o755` (octal: Go Djinn wrote decimal 755, spec §5.5).
    public var mode: UInt32
    public var size: Int64
    public var linkName: String
    /// Seconds since the epoch.
    public var modificationTime: Int64

    public init(
        name: String, kind: Kind = .file, mode: UInt32 = 0o644, size: Int64 = 0, linkName: String = "",
        modificationTime: Int64 = 0
    ) {
        self.name = name
        self.kind = kind
        self.mode = mode
        self.size = size
        self.linkName = linkName
        self.modificationTime = modificationTime
    }

    var typeFlag: UInt8 {
        switch kind {
        case .file: return UInt8(ascii: "0")
        case .directory: return UInt8(ascii: "5")
        case .symbolicLink: return UInt8(ascii: "2")
        case .hardLink: return UInt8(ascii: "1")
        case .other(let flag): return flag
        }
    }

    static func kind(ofTypeFlag flag: UInt8) -> Kind {
        switch flag {
        case 0, UInt8(ascii: "0"), UInt8(ascii: "7"): return .file
        case UInt8(ascii: "5"): return .directory
        case UInt8(ascii: "2"): return .symbolicLink
        case UInt8(ascii: "1"): return .hardLink
        default: return .other(flag)
        }
    }
}

public enum TarError: Error, Equatable, CustomStringConvertible {
    case badChecksum
    case badNumber(String)
    case badPAXRecord
    case truncated

    public var description: String {
        switch self {
        case .badChecksum: return "tar: header checksum mismatch"
        case .badNumber(let field): return "tar: invalid number in the \(field) field"
        case .badPAXRecord: return "tar: invalid PAX record"
        case .truncated: return "tar: archive ends inside a member"
        }
    }
}

/// Writes tar archives the Docker Engine accepts (`PUT /containers/{id}/archive`).
public enum TarWriter {
    public static let blockSize = 512
    /// Two zero blocks end an archive.
    public static let endOfArchive = [UInt8](repeating: 0, count: 1024)

    /// A whole archive of regular files held in memory (scripts, keys, small objects).
    public static func archive(_ files: [(entry: TarEntry, content: [UInt8])]) -> [UInt8] {
        var bytes: [UInt8] = []
        for (entry, content) in files {
            var entry = entry
            entry.size = Int64(content.count)
            bytes += header(for: entry)
            bytes += content
            bytes += padding(forSize: entry.size)
        }
        return bytes + endOfArchive
    }

    /// The header block(s) of `entry`: a PAX record block first when the name or link does
    /// not fit ustar's fields.
    public static func header(for entry: TarEntry) -> [UInt8] {
        var result: [UInt8] = []
        var name = Array(entry.name.utf8)
        if entry.kind == .directory, name.last != UInt8(ascii: "/") { name.append(UInt8(ascii: "/")) }
        let link = Array(entry.linkName.utf8)
        var ustarName = name
        var prefix: [UInt8] = []
        var pax: [(String, [UInt8])] = []
        if name.count > 100 {
            if let split = ustarSplit(name) {
                (prefix, ustarName) = split
            } else {
                pax.append(("path", name))
                ustarName = Array(name.suffix(99))
            }
        }
        if link.count > 100 { pax.append(("linkpath", link)) }
        if !pax.isEmpty {
            var records: [UInt8] = []
            for (key, value) in pax { records += paxRecord(key, value) }
            var paxEntry = TarEntry(name: "PaxHeaders/" + String(decoding: ustarName.suffix(80), as: UTF8.self))
            paxEntry.kind = .other(UInt8(ascii: "x"))
            paxEntry.size = Int64(records.count)
            result += block(paxEntry, name: Array(paxEntry.name.utf8).prefix(100).map { $0 }, prefix: [], link: [])
            result += records
            result += padding(forSize: Int64(records.count))
        }
        result += block(entry, name: ustarName, prefix: prefix, link: Array(link.prefix(100)))
        return result
    }

    /// Zero bytes that complete a member of `size` bytes to whole blocks.
    public static func padding(forSize size: Int64) -> [UInt8] {
        let remainder = Int(size % Int64(blockSize))
        return remainder == 0 ? [] : [UInt8](repeating: 0, count: blockSize - remainder)
    }

    private static func block(_ entry: TarEntry, name: [UInt8], prefix: [UInt8], link: [UInt8]) -> [UInt8] {
        var header = [UInt8](repeating: 0, count: blockSize)
        func put(_ bytes: [UInt8], at offset: Int, width: Int) {
            for (index, byte) in bytes.prefix(width).enumerated() { header[offset + index] = byte }
        }
        put(name, at: 0, width: 100)
        put(octal(UInt64(entry.mode & 0o7777), width: 8), at: 100, width: 8)
        put(octal(0, width: 8), at: 108, width: 8)
        put(octal(0, width: 8), at: 116, width: 8)
        put(number(entry.size, width: 12), at: 124, width: 12)
        put(number(entry.modificationTime, width: 12), at: 136, width: 12)
        header[156] = entry.typeFlag
        put(link, at: 157, width: 100)
        put(Array("ustar\u{0}00".utf8), at: 257, width: 8)
        put(Array("root".utf8), at: 265, width: 32)
        put(Array("root".utf8), at: 297, width: 32)
        put(prefix, at: 345, width: 155)
        for index in 148..<156 { header[index] = UInt8(ascii: " ") }
        let sum = header.reduce(0) { $0 + Int($1) }
        put(octal(UInt64(sum), width: 7), at: 148, width: 7)
        return header
    }

    /// ustar's prefix/name split at a `/`, when the parts fit 155 and 100 bytes.
    static func ustarSplit(_ name: [UInt8]) -> (prefix: [UInt8], name: [UInt8])? {
        guard name.count <= 256 else { return nil }
        for index in stride(from: min(name.count - 1, 155), through: 1, by: -1) where name[index] == UInt8(ascii: "/") {
            let rest = Array(name[(index + 1)...])
            if !rest.isEmpty && rest.count <= 100 { return (Array(name[..<index]), rest) }
        }
        return nil
    }

    /// `width - 1` octal digits and a NUL.
    static func octal(_ value: UInt64, width: Int) -> [UInt8] {
        var digits = Array(String(value, radix: 8).utf8)
        while digits.count < width - 1 { digits.insert(UInt8(ascii: "0"), at: 0) }
        return digits + [0]
    }

    /// Octal when it fits, else base-256 (GNU/POSIX extension) for large sizes.
    static func number(_ value: Int64, width: Int) -> [UInt8] {
        let limit: Int64 = 1 << (3 * Int64(width - 1))
        if value >= 0 && value < limit { return octal(UInt64(value), width: width) }
        var bytes = [UInt8](repeating: 0, count: width)
        var rest = UInt64(bitPattern: value)
        for index in stride(from: width - 1, through: 1, by: -1) {
            bytes[index] = UInt8(rest & 0xFF)
            rest >>= 8
        }
        bytes[0] = 0x80
        return bytes
    }

    /// `"<length> key=value\n"`, the length counting the whole record.
    static func paxRecord(_ key: String, _ value: [UInt8]) -> [UInt8] {
        let body = Array(" \(key)=".utf8) + value + [UInt8(ascii: "\n")]
        var length = body.count + 1
        while String(length).utf8.count + body.count != length { length = String(length).utf8.count + body.count }
        return Array(String(length).utf8) + body
    }
}

/// What `TarReader` finds, in archive order.
public enum TarEvent: Sendable, Equatable {
    /// A member starts (its data, if any, follows as `.data`).
    case entry(TarEntry)
    case data([UInt8])
    /// The current member's data is complete.
    case entryEnd
    /// The end-of-archive blocks.
    case end
}

/// Reads a tar archive pushed in chunks of any size (as `GET …/archive` streams it), so a
/// large artifact never has to be held in memory.
public struct TarReader: Sendable {
    private enum State: Sendable {
        case header
        case data(remaining: Int64, padding: Int)
        /// A PAX (`x`, `g`) or GNU long-name (`L`, `K`) member being collected.
        case meta(kind: UInt8, remaining: Int64, padding: Int, collected: [UInt8])
        case padding(Int)
        case finished
    }

    private var state = State.header
    private var pending: [UInt8] = []
    private var zeroBlocks = 0
    /// Overrides from PAX/GNU records for the next member.
    private var nextPath: String?
    private var nextLink: String?
    private var nextSize: Int64?

    public init() {}

    public var isFinished: Bool {
        if case .finished = state { return true }
        return false
    }

    public mutating func feed(_ chunk: UnsafeRawBufferPointer) throws(TarError) -> [TarEvent] {
        var events: [TarEvent] = []
        var input = chunk[...]
        while !input.isEmpty {
            switch state {
            case .finished:
                return events
            case .header:
                let need = TarWriter.blockSize - pending.count
                let take = input.prefix(need)
                pending += take
                input = input.dropFirst(take.count)
                guard pending.count == TarWriter.blockSize else { continue }
                let block = pending
                pending = []
                try handleHeader(block, events: &events)
            case .data(let remaining, let padding):
                let take = input.prefix(Int(min(Int64(input.count), remaining)))
                if !take.isEmpty { events.append(.data(Array(take))) }
                input = input.dropFirst(take.count)
                let left = remaining - Int64(take.count)
                if left == 0 {
                    events.append(.entryEnd)
                    state = padding > 0 ? .padding(padding) : .header
                } else {
                    state = .data(remaining: left, padding: padding)
                }
            case .meta(let kind, let remaining, let padding, var collected):
                let take = input.prefix(Int(min(Int64(input.count), remaining)))
                collected += take
                input = input.dropFirst(take.count)
                let left = remaining - Int64(take.count)
                if left == 0 {
                    try applyMeta(kind: kind, collected)
                    state = padding > 0 ? .padding(padding) : .header
                } else {
                    state = .meta(kind: kind, remaining: left, padding: padding, collected: collected)
                }
            case .padding(let count):
                let take = min(count, input.count)
                input = input.dropFirst(take)
                state = count - take > 0 ? .padding(count - take) : .header
            }
        }
        return events
    }

    public mutating func feed(_ bytes: [UInt8]) throws(TarError) -> [TarEvent] {
        var result: Result<[TarEvent], TarError> = .success([])
        bytes.withUnsafeBytes { buffer in
            do throws(TarError) { result = .success(try feed(buffer)) } catch { result = .failure(error) }
        }
        return try result.get()
    }

    /// Checks that the archive did not stop inside a member (a missing end block is accepted,
    /// as most readers do).
    public func finish() throws(TarError) {
        switch state {
        case .header, .finished:
            if !pending.isEmpty { throw .truncated }
        case .padding:
            return
        case .data, .meta:
            throw .truncated
        }
    }

    private mutating func handleHeader(_ block: [UInt8], events: inout [TarEvent]) throws(TarError) {
        if block.allSatisfy({ $0 == 0 }) {
            zeroBlocks += 1
            if zeroBlocks == 2 {
                state = .finished
                events.append(.end)
            }
            return
        }
        zeroBlocks = 0
        let stored = try Self.number(block[148..<156], field: "checksum")
        var sum: Int64 = 0
        for (index, byte) in block.enumerated() { sum += (148..<156).contains(index) ? 32 : Int64(byte) }
        guard stored == sum else { throw .badChecksum }

        let flag = block[156]
        var size = try Self.number(block[124..<136], field: "size")
        let kindFlag = UInt8(ascii: "x"), global = UInt8(ascii: "g")
        let longName = UInt8(ascii: "L"), longLink = UInt8(ascii: "K")
        if [kindFlag, global, longName, longLink].contains(flag) {
            state = .meta(kind: flag, remaining: size, padding: TarWriter.padding(forSize: size).count, collected: [])
            if size == 0 { try applyMeta(kind: flag, []); state = .header }
            return
        }
        var name = Self.string(block[0..<100])
        if block[257..<262].elementsEqual("ustar".utf8) {
            let prefix = Self.string(block[345..<500])
            if !prefix.isEmpty { name = prefix + "/" + name }
        }
        if let nextPath { name = nextPath }
        var link = Self.string(block[157..<257])
        if let nextLink { link = nextLink }
        if let nextSize { size = nextSize }
        nextPath = nil
        nextLink = nil
        nextSize = nil
        let kind = TarEntry.kind(ofTypeFlag: flag)
        let entry = TarEntry(
            name: name, kind: kind, mode: UInt32(truncatingIfNeeded: try Self.number(block[100..<108], field: "mode")),
            size: size, linkName: link, modificationTime: (try? Self.number(block[136..<148], field: "mtime")) ?? 0)
        events.append(.entry(entry))
        // Only regular files (and unknown types, per POSIX) carry data.
        let carriesData: Bool
        switch kind {
        case .file, .other: carriesData = true
        default: carriesData = false
        }
        if carriesData && size > 0 {
            state = .data(remaining: size, padding: TarWriter.padding(forSize: size).count)
        } else {
            events.append(.entryEnd)
            state = .header
        }
    }

    private mutating func applyMeta(kind: UInt8, _ bytes: [UInt8]) throws(TarError) {
        switch kind {
        case UInt8(ascii: "L"):
            nextPath = Self.string(bytes[...])
        case UInt8(ascii: "K"):
            nextLink = Self.string(bytes[...])
        case UInt8(ascii: "x"):
            for (key, value) in try Self.paxRecords(bytes) {
                switch key {
                case "path": nextPath = value
                case "linkpath": nextLink = value
                case "size":
                    guard let size = Int64(value), size >= 0 else { throw .badPAXRecord }
                    nextSize = size
                default: break
                }
            }
        default:
            break  // global PAX headers: nothing we use
        }
    }

    static func paxRecords(_ bytes: [UInt8]) throws(TarError) -> [(String, String)] {
        var records: [(String, String)] = []
        var index = 0
        while index < bytes.count {
            guard let space = bytes[index...].firstIndex(of: UInt8(ascii: " ")),
                let length = Int(String(decoding: bytes[index..<space], as: UTF8.self)), length > 0,
                index + length <= bytes.count, bytes[index + length - 1] == UInt8(ascii: "\n")
            else { throw .badPAXRecord }
            let record = bytes[(space + 1)..<(index + length - 1)]
            guard let equals = record.firstIndex(of: UInt8(ascii: "=")) else { throw .badPAXRecord }
            records.append((
                String(decoding: record[record.startIndex..<equals], as: UTF8.self),
                String(decoding: record[(equals + 1)...], as: UTF8.self)
            ))
            index += length
        }
        return records
    }

    static func string(_ field: ArraySlice<UInt8>) -> String {
        String(decoding: field.prefix { $0 != 0 }, as: UTF8.self)
    }

    /// An octal field (spaces and NULs around it allowed) or a base-256 one.
    static func number(_ field: ArraySlice<UInt8>, field name: String) throws(TarError) -> Int64 {
        guard let first = field.first else { return 0 }
        if first & 0x80 != 0 {
            var value: Int64 = Int64(first & 0x7F)
            for byte in field.dropFirst() {
                guard value <= (Int64.max >> 8) else { throw .badNumber(name) }
                value = value << 8 | Int64(byte)
            }
            return value
        }
        let text = String(decoding: field.prefix { $0 != 0 }, as: UTF8.self).trimmingSpaces
        if text.isEmpty { return 0 }
        guard let value = Int64(text, radix: 8) else { throw .badNumber(name) }
        return value
    }
}

extension String {
    fileprivate var trimmingSpaces: String {
        var scalars = Substring(self)
        while scalars.first == " " { scalars.removeFirst() }
        while scalars.last == " " { scalars.removeLast() }
        return String(scalars)
    }
}
