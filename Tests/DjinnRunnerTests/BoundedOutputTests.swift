import Testing
@testable import DjinnRunner

private func isContinuation(_ byte: UInt8) -> Bool { byte & 0xC0 == 0x80 }

/// The rendered text stated from the whole output: the longest prefix of whole characters
/// within the head limit, and — if more than the tail limit follows it — the last tail-limit
/// bytes from their first whole character, with the marker between.
private func referenceRender(_ all: [UInt8], limits: OutputLimits) -> [UInt8] {
    var headEnd = min(all.count, limits.headBytes)
    if headEnd < all.count { while headEnd > 0 && isContinuation(all[headEnd]) { headEnd -= 1 } }
    if all.count - headEnd <= limits.tailBytes { return all }
    var tailStart = all.count - limits.tailBytes
    while tailStart < all.count && isContinuation(all[tailStart]) { tailStart += 1 }
    return Array(all[..<headEnd]) + BoundedOutput.marker(cut: tailStart - headEnd) + all[tailStart...]
}

private func randomText(using generator: inout SeededGenerator, maxCharacters: Int) -> String {
    let pieces = ["a", "b", "\n", " ", "é", "€", "𝄞", "xyz"]
    return (0..<Int.random(in: 0...maxCharacters, using: &generator)).map { _ in pieces.randomElement(using: &generator)! }.joined()
}

@Suite struct BoundedOutputTests {
    @Test func keepsEverythingUntilHeadAndTailAreFull() {
        var output = BoundedOutput(limits: OutputLimits(headBytes: 10, tailBytes: 10))
        output.write("0123456789")
        output.write("abcdefghij")
        #expect(output.render() == "0123456789abcdefghij")
        #expect(output.cutBytes == 0)
        output.write("K")
        #expect(output.render() == "0123456789\n[… 1 bytes cut …]\nbcdefghijK")
        #expect(output.cutBytes == 1)
        output.write(String(repeating: "z", count: 100) + "END")
        #expect(output.render() == "0123456789\n[… 104 bytes cut …]\nzzzzzzzEND")
        #expect(output.totalBytes == 124)
    }

    @Test func cutsOnlyBetweenCharacters() {
        var output = BoundedOutput(limits: OutputLimits(headBytes: 4, tailBytes: 4))
        output.write("aé€")  // a | é é | € € €: the head cannot take the euro sign whole
        #expect(output.render() == "aé€")
        output.write("𝄞")  // 4 bytes: the ring holds only the clef, the euro sign is cut
        #expect(output.render() == "aé\n[… 3 bytes cut …]\n𝄞")
        output.write("b")  // the ring now starts inside the clef: skip to the next character
        #expect(output.render() == "aé\n[… 7 bytes cut …]\nb")
    }

    @Test func randomWritesRenderAsTheRuleSays() async {
        var generator = SeededGenerator(seed: 99)
        for _ in 0..<1500 {
            await Task.yield()  // long CPU work: let timing-sensitive tests run
            let limits = OutputLimits(headBytes: Int.random(in: 0...20, using: &generator), tailBytes: Int.random(in: 0...20, using: &generator))
            var output = BoundedOutput(limits: limits)
            var all: [UInt8] = []
            for _ in 0..<Int.random(in: 0...12, using: &generator) {
                let text = randomText(using: &generator, maxCharacters: 12)
                output.write(text)
                all += Array(text.utf8)
                #expect(output.renderedBytes() == referenceRender(all, limits: limits), "\(limits) \(all)")
            }
            #expect(String(validating: output.renderedBytes(), as: UTF8.self) != nil)
            #expect(output.totalBytes == all.count)
        }
    }

    /// What the live text must look like: everything, or head + marker(N) + the output from
    /// head end + N on, with that window no longer than the tail limit.
    private func checkLive(_ stored: String, all: [UInt8], head: [UInt8], limits: OutputLimits) {
        let bytes = Array(stored.utf8)
        if bytes == all { return }
        #expect(Array(bytes.prefix(head.count)) == head, "live text starts with the head")
        let rest = String(decoding: bytes[head.count...], as: UTF8.self)
        guard rest.hasPrefix("\n[… "), let close = rest.range(of: " bytes cut …]\n") else {
            Issue.record("no marker after the head in \(stored)")
            return
        }
        let number = Int(rest[rest.index(rest.startIndex, offsetBy: 4)..<close.lowerBound])!
        let window = Array(rest[close.upperBound...].utf8)
        #expect(number > 0)
        #expect(window == Array(all[(head.count + number)...]), "the window is exactly the output after the cut")
        #expect(window.count <= limits.tailBytes)
    }

    @Test func liveUpdatesKeepTheStoredTextConsistent() async {
        var generator = SeededGenerator(seed: 1234)
        for _ in 0..<800 {
            await Task.yield()
            let limits = OutputLimits(headBytes: Int.random(in: 0...16, using: &generator), tailBytes: Int.random(in: 4...24, using: &generator))
            var output = BoundedOutput(limits: limits)
            var all: [UInt8] = []
            var stored: String? = Bool.random(using: &generator) ? nil : "stale text from an earlier attempt"
            for _ in 0..<Int.random(in: 1...20, using: &generator) {
                let text = randomText(using: &generator, maxCharacters: 8)
                output.write(text)
                all += Array(text.utf8)
                if Bool.random(using: &generator), let update = output.takeUpdate() {
                    stored = update.applied(to: stored)
                    var headEnd = min(all.count, limits.headBytes)
                    if headEnd < all.count { while headEnd > 0 && isContinuation(all[headEnd]) { headEnd -= 1 } }
                    checkLive(stored!, all: all, head: Array(all[..<headEnd]), limits: limits)
                }
            }
            if let update = output.takeUpdate(final: true) { stored = update.applied(to: stored) }
            #expect(stored == output.render())
            #expect(output.takeUpdate(final: true) == nil, "nothing changed since")
            #expect(output.takeUpdate() == nil)
        }
    }

    @Test func slowOutputIsAppendedNotRewritten() {
        let limits = OutputLimits(headBytes: 1000, tailBytes: 1000)
        var output = BoundedOutput(limits: limits)
        var stored: String?
        var sent = 0
        var appends = 0
        var updates = 0
        var storedCharacters = 0
        let line = "0123456789"
        for _ in 0..<10_000 {  // 100 kB in 10-byte writes, flushed after each
            output.write(line)
            let update = output.takeUpdate()!
            updates += 1
            if update.keepCharacters == storedCharacters { appends += 1 }
            sent += update.suffix.utf8.count
            stored = update.applied(to: stored)
            storedCharacters = stored!.unicodeScalars.count
        }
        // A re-cut every 500 bytes after the first 2000, each sending under 600 bytes.
        #expect(appends >= updates - 200)
        #expect(sent < 2 * 100_000 + 2000)
        let final = output.takeUpdate(final: true)!
        #expect(final.keepCharacters == 1000, "the final text only rewrites what follows the head")
        #expect(final.applied(to: stored) == output.render())
    }

    @Test func invalidatingRewritesEverything() {
        var output = BoundedOutput(limits: OutputLimits(headBytes: 5, tailBytes: 5))
        output.write("hello world, hello")
        let first = output.takeUpdate()!
        #expect(first.keepCharacters == 0)
        output.write("!")
        #expect(output.takeUpdate()!.keepCharacters > 0)
        output.invalidateStoredText()
        output.write("?")
        let rewrite = output.takeUpdate(final: true)!
        #expect(rewrite.keepCharacters == 0)
        #expect(rewrite.applied(to: "garbage") == output.render())
    }

    @Test func memoryStaysBoundedFor200Megabytes() async {
        let limits = OutputLimits.standard
        var output = BoundedOutput(limits: limits)
        let chunk = [UInt8](repeating: UInt8(ascii: "y"), count: 64 * 1024)
        var written = 0
        while written < 200_000_000 {
            await Task.yield()
            output.write(chunk)
            written += chunk.count
            if written % (16 << 20) == 0 {
                #expect(output.storageCapacity <= 2 * (limits.headBytes + limits.tailBytes))
                _ = output.takeUpdate()
            }
        }
        #expect(output.totalBytes == written)
        #expect(output.storageCapacity <= 2 * (limits.headBytes + limits.tailBytes))
        let rendered = output.renderedBytes()
        #expect(rendered.count == limits.headBytes + limits.tailBytes + BoundedOutput.marker(cut: output.cutBytes).count)
        #expect(output.cutBytes == written - limits.headBytes - limits.tailBytes)
    }
}
