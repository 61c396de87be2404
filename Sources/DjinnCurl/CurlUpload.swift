/// A request body already in memory, handed to libcurl's read callback in order.
public struct CurlUploadBytes: Sendable {
    public let bytes: [UInt8]
    private var offset = 0

    public init(_ bytes: [UInt8]) { self.bytes = bytes }

    /// Fills `buffer` with the next bytes; returns their count, 0 at the end.
    public mutating func read(into buffer: UnsafeMutableRawBufferPointer) -> Int {
        let count = min(buffer.count, bytes.count - offset)
        guard count > 0 else { return 0 }
        buffer.copyBytes(from: bytes[offset..<offset + count])
        offset += count
        return count
    }
}

extension CurlEasy {
    /// Sends `bytes` as the request body (an upload, or a POST without POSTFIELDS).
    public func send(_ bytes: [UInt8]) {
        var upload = CurlUploadBytes(bytes)
        onSend = { buffer in upload.read(into: buffer) }
    }
}
