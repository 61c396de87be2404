@testable import DockerEngine
import Testing

@Suite struct TarTests {
    /// Reads a whole archive, fed in chunks of `chunk` bytes.
    func read(_ archive: [UInt8], chunk: Int) throws -> [(TarEntry, [UInt8])] {
        var reader = TarReader()
        var members: [(TarEntry, [UInt8])] = []
        var start = 0
        var ended = false
        while start < archive.count {
            let piece = Array(archive[start..<min(archive.count, start + chunk)])
            start += chunk
            for event in try reader.feed(piece) {
                switch event {
                case .entry(let entry): members.append((entry, []))
                case .data(let bytes): members[members.count - 1].1 += bytes
                case .entryEnd: break
                case .end: ended = true
                }
            }
        }
        try reader.finish()
        #expect(ended)
        return members
    }

    @Test(arguments: [1, 7, 512, 513, 100_000])
    func roundTripsFilesInAnyChunking(chunk: Int) throws {
        let big = (0..<1500).map { UInt8($0 % 251) }
        let archive = TarWriter.archive([
            (TarEntry(name: ".djinn/build.sh", mode: 0o755), Array("#!/bin/sh\necho hi\n".utf8)),
            (TarEntry(name: "empty"), []),
            (TarEntry(name: "data/big.bin", mode: 0o600), big),
        ])
        #expect(archive.count % 512 == 0)
        let members = try read(archive, chunk: chunk)
        #expect(members.map(\.0.name) == [".djinn/build.sh", "empty", "data/big.bin"])
        #expect(members[0].0.mode == 0o755)
        #expect(members[2].0.mode == 0o600)
        #expect(members[0].1 == Array("#!/bin/sh\necho hi\n".utf8))
        #expect(members[1].1.isEmpty)
        #expect(members[2].1 == big)
    }

    /// The mode is octal in the header: 0755 is "0000755", not decimal 755 ("0001363") as Go wrote it.
    @Test func modeIsWrittenInOctal() {
        let header = TarWriter.header(for: TarEntry(name: "x", mode: 0o755, size: 0))
        #expect(String(decoding: header[100..<107], as: UTF8.self) == "0000755")
        #expect(header[156] == UInt8(ascii: "0"))
        #expect(String(decoding: header[257..<263], as: UTF8.self) == "ustar\u{0}")
    }

    @Test func longNamesUsePrefixOrPAX() throws {
        let prefixed = String(repeating: "d", count: 120) + "/" + String(repeating: "f", count: 50)
        let unsplittable = String(repeating: "n", count: 180)
        let archive = TarWriter.archive([
            (TarEntry(name: prefixed), [1]),
            (TarEntry(name: unsplittable), [2, 3]),
        ])
        let members = try read(archive, chunk: 300)
        #expect(members.map(\.0.name) == [prefixed, unsplittable])
        #expect(members.map(\.1) == [[1], [2, 3]])
    }

    @Test func paxRecordLengthCountsItself() {
        let record = TarWriter.paxRecord("path", Array("abc".utf8))
        #expect(String(decoding: record, as: UTF8.self) == "12 path=abc\n")
        let longer = TarWriter.paxRecord("path", [UInt8](repeating: UInt8(ascii: "a"), count: 94))
        #expect(String(decoding: longer.prefix(4), as: UTF8.self) == "104 ")
        #expect(longer.count == 104)
    }

    @Test func directoriesAndLinksCarryNoData() throws {
        var archive = TarWriter.header(for: TarEntry(name: "dir", kind: .directory, mode: 0o755))
        archive += TarWriter.header(for: TarEntry(name: "dir/link", kind: .symbolicLink, mode: 0o777, linkName: "../target"))
        archive += TarWriter.endOfArchive
        let members = try read(archive, chunk: 64)
        #expect(members.map(\.0.name) == ["dir/", "dir/link"])
        #expect(members[0].0.kind == .directory)
        #expect(members[1].0.kind == .symbolicLink)
        #expect(members[1].0.linkName == "../target")
    }

    @Test func largeSizesUseBase256() throws {
        let size: Int64 = 10 << 30
        let header = TarWriter.header(for: TarEntry(name: "huge", size: size))
        #expect(header[124] == 0x80)
        var reader = TarReader()
        let events = try reader.feed(header)
        #expect(events == [.entry(TarEntry(name: "huge", size: size))])
    }

    @Test func corruptHeaderIsRefused() {
        var header = TarWriter.header(for: TarEntry(name: "x", size: 0))
        header[0] = UInt8(ascii: "y")
        var reader = TarReader()
        #expect(throws: TarError.badChecksum) { try reader.feed(header) }
    }

    @Test func archiveCutInsideAMemberIsTruncated() throws {
        let archive = TarWriter.archive([(TarEntry(name: "f"), [UInt8](repeating: 7, count: 600))])
        var reader = TarReader()
        _ = try reader.feed(Array(archive.prefix(700)))
        #expect(throws: TarError.truncated) { try reader.finish() }
    }
}

@Suite struct StreamDemultiplexerTests {
    @Test func splitsFramesCutAnywhere() throws {
        let stream = DockerStreamDemultiplexer.frame(.stdout, Array("hello\n".utf8))
            + DockerStreamDemultiplexer.frame(.stderr, Array("oops\n".utf8))
            + DockerStreamDemultiplexer.frame(.stdout, [])
            + DockerStreamDemultiplexer.frame(.stdout, Array("bye\n".utf8))
        for chunk in [1, 3, 8, 9, 100] {
            var demultiplexer = DockerStreamDemultiplexer()
            var out: [UInt8] = []
            var err: [UInt8] = []
            var start = 0
            while start < stream.count {
                for (kind, bytes) in try demultiplexer.feed(Array(stream[start..<min(stream.count, start + chunk)])) {
                    if kind == .stderr { err += bytes } else { out += bytes }
                }
                start += chunk
            }
            try demultiplexer.finish()
            #expect(String(decoding: out, as: UTF8.self) == "hello\nbye\n")
            #expect(String(decoding: err, as: UTF8.self) == "oops\n")
        }
    }

    /// A partial frame's payload is handed out at once (live output), not when it completes.
    @Test func payloadStreamsBeforeItsFrameIsComplete() throws {
        let frame = DockerStreamDemultiplexer.frame(.stdout, Array("0123456789".utf8))
        var demultiplexer = DockerStreamDemultiplexer()
        let first = try demultiplexer.feed(Array(frame.prefix(12)))
        #expect(first.count == 1 && first[0].1 == Array("0123".utf8))
        #expect(throws: DockerStreamDemultiplexer.Failure.truncated) { try demultiplexer.finish() }
        _ = try demultiplexer.feed(Array(frame.dropFirst(12)))
        try demultiplexer.finish()
    }

    @Test func largeFrameLength() throws {
        let payload = [UInt8](repeating: 65, count: 70_000)
        var demultiplexer = DockerStreamDemultiplexer()
        let pieces = try demultiplexer.feed(DockerStreamDemultiplexer.frame(.stdout, payload))
        #expect(pieces.flatMap(\.1) == payload)
    }

    @Test func garbageIsRefused() {
        var demultiplexer = DockerStreamDemultiplexer()
        #expect(throws: DockerStreamDemultiplexer.Failure.self) { try demultiplexer.feed(Array("plain text".utf8)) }
    }
}

@Suite struct DockerHostTests {
    @Test func parsesUnixSockets() throws {
        #expect(try DockerHost.parse("unix:///var/run/docker.sock").socketPath == "/var/run/docker.sock")
        #expect(try DockerHost.parse(" /tmp/d.sock ").socketPath == "/tmp/d.sock")
    }

    @Test func refusesOtherHosts() {
        for text in ["", "tcp://127.0.0.1:2375", "unix://relative.sock", "unix://", "docker.sock"] {
            #expect(throws: DockerEngineError.self, "\(text)") { try DockerHost.parse(text) }
        }
    }

    @Test func apiVersionIsChecked() throws {
        #expect(try DockerEngineClient(host: "unix:///x.sock", apiVersion: "1.40").apiVersion == "1.40")
        #expect(try DockerEngineClient(host: "unix:///x.sock", apiVersion: "v1.41").apiVersion == "1.41")
        #expect(try DockerEngineClient(host: "unix:///x.sock", apiVersion: "").apiVersion == "")
        #expect(throws: DockerEngineError.self) { try DockerEngineClient(host: "unix:///x.sock", apiVersion: "1.40/../x") }
    }

    @Test func imageReferencesSplitAsTheEngineWants() {
        #expect(DockerEngineClient.splitReference("debian") == ("debian", "latest"))
        #expect(DockerEngineClient.splitReference("debian:12") == ("debian", "12"))
        #expect(DockerEngineClient.splitReference("127.0.0.1:5000/team/img") == ("127.0.0.1:5000/team/img", "latest"))
        #expect(DockerEngineClient.splitReference("127.0.0.1:5000/team/img:v1") == ("127.0.0.1:5000/team/img", "v1"))
        #expect(DockerEngineClient.splitReference("img@sha256:abc") == ("img@sha256:abc", nil))
    }

    @Test func queriesAreEscaped() {
        #expect(DockerEngineClient.query([("path", "/work space/a&b")]) == "?path=%2Fwork%20space%2Fa%26b")
        #expect(DockerEngineClient.escapePath("team/img:1") == "team/img:1")
    }
}
