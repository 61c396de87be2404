/// Which stream a piece of container output came from.
public enum DockerStream: UInt8, Sendable, Equatable {
    case stdin = 0
    case stdout = 1
    case stderr = 2
}

/// Splits the Engine's multiplexed output (logs and attach of a container without a TTY):
/// frames of an 8-byte header — stream type, three zero bytes, a big-endian UInt32 payload
/// length — followed by the payload. Chunks may cut frames anywhere; payload bytes are
/// handed out as soon as they arrive, not when their frame is complete, so output streams.
public struct DockerStreamDemultiplexer: Sendable {
    public enum Failure: Error, Equatable, CustomStringConvertible {
        case badHeader([UInt8])
        case truncated

        public var description: String {
            switch self {
            case .badHeader(let bytes): return "docker: unexpected log frame header \(bytes)"
            case .truncated: return "docker: log stream ends inside a frame"
            }
        }
    }

    private var header: [UInt8] = []
    private var stream = DockerStream.stdout
    private var remaining = 0

    public init() {}

    /// The payload pieces in `chunk`, in order (consecutive pieces of one stream may be
    /// separate entries).
    public mutating func feed(_ chunk: UnsafeRawBufferPointer) throws(Failure) -> [(DockerStream, [UInt8])] {
        var pieces: [(DockerStream, [UInt8])] = []
        var input = chunk[...]
        while !input.isEmpty {
            if remaining > 0 {
                let take = input.prefix(remaining)
                pieces.append((stream, Array(take)))
                remaining -= take.count
                input = input.dropFirst(take.count)
                continue
            }
            let take = input.prefix(8 - header.count)
            header += take
            input = input.dropFirst(take.count)
            guard header.count == 8 else { continue }
            guard let kind = DockerStream(rawValue: header[0]), header[1] == 0, header[2] == 0, header[3] == 0 else {
                throw .badHeader(header)
            }
            stream = kind
            remaining = Int(header[4]) << 24 | Int(header[5]) << 16 | Int(header[6]) << 8 | Int(header[7])
            header = []
        }
        return pieces
    }

    public mutating func feed(_ bytes: [UInt8]) throws(Failure) -> [(DockerStream, [UInt8])] {
        var result: Result<[(DockerStream, [UInt8])], Failure> = .success([])
        bytes.withUnsafeBytes { buffer in
            do throws(Failure) { result = .success(try feed(buffer)) } catch { result = .failure(error) }
        }
        return try result.get()
    }

    /// Checks that the stream ended between frames.
    public func finish() throws(Failure) {
        if remaining > 0 || !header.isEmpty { throw .truncated }
    }

    /// One frame as the Engine writes it (tests, and anyone emulating the Engine).
    public static func frame(_ stream: DockerStream, _ payload: [UInt8]) -> [UInt8] {
        let count = UInt32(payload.count)
        return [stream.rawValue, 0, 0, 0, UInt8(count >> 24), UInt8((count >> 16) & 0xFF), UInt8((count >> 8) & 0xFF), UInt8(count & 0xFF)]
            + payload
    }
}
