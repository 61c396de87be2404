import Testing
@testable import DjinnRunner

@Suite struct BuildOutputTests {
    @Test func jobOutputGoesToTheJobAndTheBuild() {
        var output = BuildOutput(masks: [])
        output.beginStream(jobID: 1)
        output.write("one\n")
        output.beginStream(jobID: 2)
        output.write("two\n")
        output.endStream()
        #expect(output.renderJob(1) == "one\n")
        #expect(output.renderJob(2) == "two\n")
        #expect(output.renderJob(3) == "")
        #expect(output.renderBuild() == "one\ntwo\n")
    }

    @Test func masksJobDriverAndRunnerText() {
        var output = BuildOutput(masks: ["hunter2", "s3cr3t"])
        output.beginStream(jobID: 10)  // the driver's output goes to create-driver
        output.write("Placing object hunter2 => /tmp/x\n")
        output.beginStream(jobID: 11)
        output.write("echo hun")
        output.write("ter2\n")  // split across writes
        output.writeBuildText("\nerror: job j in stage s failed: s3cr3t\n")
        output.write("loose s3cr3t\n")  // no stream open: build only
        output.endStream()
        #expect(output.renderJob(10) == "Placing object xxxxxx => /tmp/x\n")
        #expect(output.renderJob(11) == "echo xxxxxx\n")
        #expect(output.renderBuild() == """
            Placing object xxxxxx => /tmp/x
            echo xxxxxx

            error: job j in stage s failed: xxxxxx
            loose xxxxxx

            """)
        #expect(output.openJobID == nil)
    }

    @Test func heldBackBytesKeepTheirPlaceInTheBuildOutput() {
        var output = BuildOutput(masks: ["secret"])
        output.beginStream(jobID: 1)
        output.write("tail sec")  // "l sec" is held back: it may become a secret
        #expect(output.renderJob(1) == "tai")
        output.writeBuildText("runner line\n")
        #expect(output.renderJob(1) == "tail sec")
        #expect(output.renderBuild() == "tail secrunner line\n")
    }

    @Test func masksBeforeSanitising() {
        var output = BuildOutput(masks: ["secret"])
        output.beginStream(jobID: 1)
        output.write([0xFF] + Array("secret".utf8) + [0x00, 0xE2, 0x82])
        output.endStream()
        #expect(output.renderJob(1) == "\u{FFFD}xxxxxxNUL\u{FFFD}\u{FFFD}")
    }

    @Test func liveJobUpdatesAndDiscarding() {
        var output = BuildOutput(masks: [], jobLimits: OutputLimits(headBytes: 8, tailBytes: 8))
        output.beginStream(jobID: 5)
        output.write("first ")
        var stored: String?
        stored = output.takeJobUpdate(5)!.applied(to: stored)
        output.write("second third fourth")
        stored = output.takeJobUpdate(5)!.applied(to: stored)
        output.endStream()
        if let update = output.takeJobUpdate(5, final: true) { stored = update.applied(to: stored) }
        #expect(stored == output.renderJob(5))
        #expect(stored == "first se\n[… 9 bytes cut …]\nd fourth")
        #expect(output.takeJobUpdate(6) != nil || output.renderJob(6) == "")
        output.discardJob(5)
        #expect(output.job(5) == nil)
    }

    @Test func randomChunkingNeverLeaksAndMatchesUnchunked() async {
        var generator = SeededGenerator(seed: 5)
        let secrets = ["pa55word", "tok€n", "ab"]
        let alphabet = Array("abcdp5 \n\0€".utf8) + [0xFF, 0xC3]
        for _ in 0..<500 {
            await Task.yield()  // long CPU work: let timing-sensitive tests run
            var input: [UInt8] = []
            for _ in 0..<Int.random(in: 0...8, using: &generator) {
                input += (0..<Int.random(in: 0...10, using: &generator)).map { _ in alphabet.randomElement(using: &generator)! }
                input += Array(secrets.randomElement(using: &generator)!.utf8)
            }
            var whole = BuildOutput(masks: secrets)
            whole.beginStream(jobID: 1)
            whole.write(input)
            whole.endStream()
            var chunked = BuildOutput(masks: secrets)
            chunked.beginStream(jobID: 1)
            for part in randomChunks(input, using: &generator) { chunked.write(part) }
            chunked.endStream()
            #expect(chunked.renderJob(1) == whole.renderJob(1))
            #expect(chunked.renderBuild() == whole.renderBuild())
            for secret in secrets {
                #expect(!whole.renderJob(1).contains(secret))
                #expect(!whole.renderBuild().contains(secret))
            }
        }
    }

    @Test func pipelineMemoryStaysBoundedFor200Megabytes() async {
        var output = BuildOutput(masks: ["topsecret", "hunter2"])
        output.beginStream(jobID: 1)
        // Printable text with a secret and a NUL in every chunk, so every stage does work.
        var chunk = [UInt8](repeating: UInt8(ascii: "."), count: 64 * 1024)
        chunk.replaceSubrange(100..<109, with: Array("topsecret".utf8))
        chunk[200] = 0
        var written = 0
        var largest = 0
        while written < 200_000_000 {
            await Task.yield()
            output.write(chunk)
            written += chunk.count
            largest = max(largest, output.storageCapacity)
        }
        output.endStream()
        let limits = OutputLimits.standard
        #expect(largest <= 2 * 2 * (limits.headBytes + limits.tailBytes), "job and build buffers, O(head + tail)")
        #expect(!output.renderJob(1).contains("topsecret"))
        // Per chunk: the secret loses 3 bytes (9 → xxxxxx), the NUL gains 2 (→ NUL).
        #expect(output.job(1)!.totalBytes == written - written / chunk.count)
    }
}
