import Testing

@testable import DjinnJobs

private let strings = [
    "", "a", "https://djinn-ci.com", "djinn-scheduler", "ünïcödé 日本 🚀", String(repeating: "h", count: 127),
    String(repeating: "h", count: 128), String(repeating: "é", count: 200), String(repeating: "u", count: 70_000),
]
private let numbers: [Int64] = [0, 1, -1, 42, 63, 64, 127, 128, -129, 65_536, Int64.max, Int64.min]

@Suite struct GobRoundTripTests {
    @Test func buildPayloadRoundTrips() throws {
        for host in strings {
            for buildID in numbers {
                let payload = BuildPayload(host: host, buildID: buildID)
                let encoded = payload.gobEncoded()
                #expect(Array(encoded.prefix(43)) == BuildPayload.typeDefinitionMessage)
                #expect(try BuildPayload(gob: encoded) == payload)
            }
        }
    }

    /// Go leaves zero fields out and numbers the next field by its delta.
    @Test func buildPayloadOmitsZeroFields() {
        #expect(Array(BuildPayload(host: "", buildID: 0).gobEncoded().dropFirst(43)) == hexBytes("03 ff82 00"))
        #expect(Array(BuildPayload(host: "", buildID: 5).gobEncoded().dropFirst(43)) == hexBytes("05 ff82 02 0a 00"))
        #expect(
            Array(BuildPayload(host: "h", buildID: 0).gobEncoded().dropFirst(43)) == hexBytes("06 ff82 01 01 68 00"))
    }

    @Test func longHostUsesMultiByteLengths() throws {
        let host = String(repeating: "x", count: 300)
        let encoded = BuildPayload(host: host, buildID: 1).gobEncoded()
        // body: ff82, 01, fe012c + 300 bytes, 01 02, 00 → 309 (0x135) bytes
        #expect(Array(encoded[43..<52]) == hexBytes("fe0135 ff82 01 fe012c"))
        #expect(encoded.count == 43 + 3 + 309)
    }

    @Test func downloadJobRoundTrips() throws {
        let sources = strings + [
            "sftp://user:pass@host:22/img.qcow2", "https://user@example.com/a?b=c#d",
            "http://[::1]:8080/image%20name.qcow2", "https://example.com/" + String(repeating: "p", count: 300),
        ]
        for source in sources {
            for id in numbers {
                for imageID in [0, 3, -7, Int64.max] as [Int64] {
                    let job = DownloadJob(id: id, imageID: imageID, source: source)
                    let encoded = job.gobEncoded()
                    #expect(Array(encoded.prefix(134)) == DownloadJob.streamPrefix)
                    #expect(try DownloadJob(gob: encoded) == job)
                }
            }
        }
    }

    @Test func sftpURLWithPasswordRoundTripsExactly() throws {
        let job = DownloadJob(id: 12, imageID: 34, source: "sftp://user:pass@host:22/img.qcow2")
        let encoded = job.gobEncoded()
        let text = Array("sftp://user:pass@host:22/img.qcow2".utf8)
        #expect(encoded.suffix(text.count + 1) == ArraySlice(text + [0x00]))
        #expect(try DownloadJob(gob: encoded).source == "sftp://user:pass@host:22/img.qcow2")
    }

    @Test func downloadJobOmitsZeroFields() {
        // Last message: id 66, value count, value.
        #expect(Array(DownloadJob(id: 0, imageID: 0, source: "").gobEncoded().dropFirst(134)) == hexBytes("04 ff84 01 00"))
        #expect(Array(DownloadJob(id: 0, imageID: 5, source: "").gobEncoded().dropFirst(134)) == hexBytes("06 ff84 03 02 0a 00"))
        #expect(Array(DownloadJob(id: 1, imageID: 0, source: "").gobEncoded().dropFirst(134)) == hexBytes("06 ff84 03 01 02 00"))
        let withSourceOnly = DownloadJob(id: 0, imageID: 0, source: "u").gobEncoded()
        // Nested stream: 32 bytes of definitions + message (1 + ff88 00 01 75) = 38 (0x26);
        // value: 03 26 <38> 00 = 41 (0x29); message body: ff84 29 <41> = 44 (0x2c).
        #expect(Array(withSourceOnly[134..<141]) == hexBytes("2c ff84 29 03 26 0a"))
        #expect(withSourceOnly.count == 134 + 1 + 44)
    }

    @Test func longSourceUsesMultiByteLengths() throws {
        let source = "https://example.com/" + String(repeating: "q", count: 70_000)
        let job = DownloadJob(id: 1, imageID: 2, source: source)
        #expect(try DownloadJob(gob: job.gobEncoded()) == job)
        let nested = DownloadJob.encodedURLStream(source)
        #expect(nested.count == 32 + 1 + 3 + 2 + 1 + 4 + 70_020)
    }
}
