import Testing

@testable import DjinnQueue

@Suite struct JobLifecycleTests {
    let lifecycle = JobLifecycle(maxAttempts: 2, maxRetryDelay: .seconds(168 * 3600))
    let now: Int64 = 1_700_000_000_123

    func job(attempt: Int64 = 0, timeout: Duration? = nil) -> QueueJob {
        QueueJob(id: "j1", envelope: Envelope(id: "j1", data: [1, 2, 3], attempt: attempt), enqueuedAtMilliseconds: 5,
                 timeout: timeout)
    }

    @Test func successAcks() {
        #expect(lifecycle.settlement(of: job(), outcome: .succeeded, nowMilliseconds: now, random: 0.5) == .ack(id: "j1"))
    }

    @Test func failureRetriesWithAttemptPlusOneAndCurlyqBackoff() {
        // attempt 0, r = 0.5: (1 + 0.5) · 2^0 / 2 = 0.75 s → floor(now + 0.75 s) in seconds.
        let first = lifecycle.settlement(of: job(attempt: 0), outcome: .failed("boom"), nowMilliseconds: now, random: 0.5)
        #expect(first == .retry(id: "j1", message: Envelope(id: "j1", data: [1, 2, 3], attempt: 1).encoded(),
                                dueAt: (now + 750) / 1000, error: "boom"))
        // attempt 1, r = 0.999: (1.999) · 2 / 2 = 1.999 s.
        let second = lifecycle.settlement(of: job(attempt: 1), outcome: .failed("boom"), nowMilliseconds: now, random: 0.999)
        #expect(second == .retry(id: "j1", message: Envelope(id: "j1", data: [1, 2, 3], attempt: 2).encoded(),
                                 dueAt: (now + 1999) / 1000, error: "boom"))
    }

    @Test func failureAtMaxAttemptsKillsWithAttemptPlusOne() {
        let killed = lifecycle.settlement(of: job(attempt: 2), outcome: .failed("boom"), nowMilliseconds: now, random: 0)
        #expect(killed == .kill(id: "j1", message: Envelope(id: "j1", data: [1, 2, 3], attempt: 3).encoded(), error: "boom"))
        let none = JobLifecycle(maxAttempts: 0, maxRetryDelay: .seconds(1))
        if case .kill = none.settlement(of: job(), outcome: .failed("x"), nowMilliseconds: now, random: 0) {} else {
            Issue.record("maxAttempts 0 must kill on the first failure")
        }
    }

    @Test func permanentFailureKillsAtOnce() {
        let killed = lifecycle.settlement(of: job(attempt: 0), outcome: .failedPermanently("bad payload"),
                                          nowMilliseconds: now, random: 0)
        #expect(killed == .kill(id: "j1", message: Envelope(id: "j1", data: [1, 2, 3], attempt: 1).encoded(),
                                error: "permanent failure: bad payload"))
    }

    @Test func timeoutCountsAsAFailure() {
        let retried = lifecycle.settlement(of: job(), outcome: .timedOut(.milliseconds(1500)), nowMilliseconds: now, random: 0)
        guard case .retry(_, _, _, let error) = retried else { Issue.record("\(retried)"); return }
        #expect(error == "timed out after 1.500s")
        let killed = lifecycle.settlement(of: job(attempt: 2), outcome: .timedOut(.seconds(2)), nowMilliseconds: now, random: 0)
        guard case .kill(_, _, let text) = killed else { Issue.record("\(killed)"); return }
        #expect(text == "timed out after 2s")
    }

    @Test func interruptionRequeuesWithoutAnAttempt() {
        #expect(lifecycle.settlement(of: job(attempt: 1), outcome: .interrupted, nowMilliseconds: now, random: 0)
            == .requeue(id: "j1"))
    }

    @Test func backoffIsCappedAndGrows() {
        let capped = JobLifecycle(maxAttempts: 100, maxRetryDelay: .seconds(168 * 3600))
        #expect(capped.retryDelay(attempt: 0, random: 0) == .milliseconds(500))
        #expect(capped.retryDelay(attempt: 3, random: 0) == .seconds(4))
        #expect(capped.retryDelay(attempt: 3, random: 0.5) == .seconds(6))
        #expect(capped.retryDelay(attempt: 30, random: 0) == .seconds(168 * 3600))
        #expect(capped.retryDelay(attempt: 1_000_000, random: 0.9) == .seconds(168 * 3600))
        #expect(capped.retryDelay(attempt: -3, random: 0) == .milliseconds(500))
        let short = JobLifecycle(maxAttempts: 100, maxRetryDelay: .seconds(3))
        #expect(short.retryDelay(attempt: 5, random: 0) == .seconds(3))
    }

    @Test func undecodableOrMissingMessagesAreKilledBeforeRunning() {
        let missing = lifecycle.prepare(ReservedJob(id: "a", message: nil), defaultTimeout: nil)
        #expect(missing == .failure(.init(.kill(id: "a", message: nil, error: "message missing from Q:data"))))
        let garbage = lifecycle.prepare(ReservedJob(id: "b", message: Array("not msgpack".utf8)), defaultTimeout: nil)
        guard case .failure(let rejected) = garbage, case .kill("b", nil, let error) = rejected.settlement else {
            Issue.record("\(garbage)")
            return
        }
        #expect(error.hasPrefix("undecodable message: envelope: "))
    }

    @Test func preparedJobCarriesEnvelopeTimesAndTimeout() throws {
        let envelope = Envelope(id: "c", data: [9], attempt: 4)
        let own = try lifecycle.prepare(
            ReservedJob(id: "c", message: envelope.encoded(), enqueuedAtMilliseconds: 1_500, timeout: .seconds(3)),
            defaultTimeout: .seconds(10)
        ).get()
        #expect(own.id == "c" && own.attempt == 4 && own.data == [9] && own.envelope == envelope)
        #expect(own.timeout == .seconds(3))
        #expect(own.enqueuedAt?.timeIntervalSince1970 == 1.5)
        let fallback = try lifecycle.prepare(ReservedJob(id: "c", message: envelope.encoded()), defaultTimeout: .seconds(10)).get()
        #expect(fallback.timeout == .seconds(10))
        #expect(fallback.enqueuedAt == nil)
    }

    @Test func handlerTestsCanMakeJobs() {
        let job = QueueJob(id: "x", data: [1], attempt: 2, enqueuedAtMilliseconds: 3_000, timeout: .seconds(1))
        #expect(job.envelope == Envelope(id: "x", data: [1], attempt: 2))
        #expect(job.attempt == 2 && job.enqueuedAt?.timeIntervalSince1970 == 3 && job.timeout == .seconds(1))
    }

    @Test func longErrorsAreClippedOnACharacterBoundary() {
        let text = String(repeating: "é", count: 3000)  // 6000 UTF-8 bytes
        let clipped = JobLifecycle.clipped(text)
        #expect(clipped.utf8.count <= JobLifecycle.maximumErrorLength + 3)
        #expect(clipped.hasSuffix("…"))
        #expect(clipped.dropLast().allSatisfy { $0 == "é" })
        #expect(JobLifecycle.clipped("short") == "short")
    }
}

@Suite struct SupportTests {
    @Test func uuidsAreVersion4LowercaseText() {
        var seen = Set<String>()
        for _ in 0..<1000 {
            let id = UUIDv4.generate()
            #expect(id.count == 36)
            let characters = Array(id)
            #expect(characters[8] == "-" && characters[13] == "-" && characters[18] == "-" && characters[23] == "-")
            #expect(characters[14] == "4")
            #expect("89ab".contains(characters[19]))
            #expect(id.allSatisfy { "0123456789abcdef-".contains($0) })
            seen.insert(id)
        }
        #expect(seen.count == 1000)
        let batch = UUIDv4.generate(count: 5000)
        #expect(Set(batch).count == 5000 && seen.isDisjoint(with: batch))
        #expect(batch.allSatisfy { Array($0)[14] == "4" && "89ab".contains(Array($0)[19]) && $0.count == 36 })
    }

    @Test func secondsText() {
        #expect(WallClock.secondsText(milliseconds: 12_000) == "12")
        #expect(WallClock.secondsText(milliseconds: 12_345) == "12.345")
        #expect(WallClock.secondsText(milliseconds: 12_005) == "12.005")
        #expect(WallClock.secondsText(milliseconds: 12_050) == "12.050")
    }

    @Test func ringBufferKeepsOrderAcrossGrowthAndWraparound() {
        var buffer = RingBuffer<Int>()
        var model: [Int] = []
        var next = 0
        var generator = SplitMix64(seed: 7)
        for _ in 0..<5000 {
            if generator.next() % 3 != 0 {
                buffer.append(next)
                model.append(next)
                next += 1
            } else {
                #expect(buffer.popFirst() == (model.isEmpty ? nil : model.removeFirst()))
            }
            #expect(buffer.count == model.count)
        }
        #expect(buffer.removeAll() == model)
        #expect(buffer.isEmpty && buffer.popFirst() == nil)
    }

    @Test func decimalTimestamps() {
        #expect(QueueConsumer.decimal(Array("1700000000123".utf8)) == 1_700_000_000_123)
        #expect(QueueConsumer.decimal(Array("0".utf8)) == 0)
        #expect(QueueConsumer.decimal([]) == nil)
        #expect(QueueConsumer.decimal(Array("-5".utf8)) == nil)
        #expect(QueueConsumer.decimal(Array("12a".utf8)) == nil)
        #expect(QueueConsumer.decimal(Array("1234567890123456789".utf8)) == nil)
    }

    @Test func jobOptionsRoundTripAndIgnoreUnknownKeys() {
        #expect(JobOptions(timeout: .milliseconds(1500)).encoded == "timeout_ms=1500")
        #expect(JobOptions(timeout: nil).encoded == "")
        #expect(JobOptions(decoding: "timeout_ms=1500").timeout == .milliseconds(1500))
        #expect(JobOptions(decoding: "future=1;timeout_ms=20;x").timeout == .milliseconds(20))
        #expect(JobOptions(decoding: "timeout_ms=-5").timeout == nil)
        #expect(JobOptions(decoding: "").timeout == nil)
    }

    @Test func defaultOptionsRecoverAKilledConsumerWithin30Seconds() {
        let options = QueueOptions()
        // Worst case: the consumer dies right after a heartbeat; it looks dead after the
        // expiry (rounded up to whole seconds, the score's unit, plus one second of score
        // truncation), a custodian pass sees it at most one interval later and confirms it
        // after the confirmation delay.
        let worst = Duration.seconds(options.consumerExpiry.wholeSecondsRoundedUp + 1) + options.custodianInterval
            + options.deathConfirmationDelay
        #expect(worst <= .seconds(30))
        #expect(options.heartbeatInterval * 2 <= options.consumerExpiry)
        #expect(options.heartbeatInterval < .seconds(120))  // Go custodians' limit
        #expect(options.normalized == options)
    }

    @Test func optionsAreNormalized() {
        let odd = QueueOptions(concurrency: 0, heartbeatInterval: .seconds(4), consumerExpiry: .seconds(1), maxAttempts: -1,
                               jobTimeout: .zero, poisonDeaths: -2, pollTimeout: .zero).normalized
        #expect(odd.concurrency == 1)
        #expect(odd.consumerExpiry == .seconds(8))
        #expect(odd.maxAttempts == 0 && odd.poisonDeaths == 0)
        #expect(odd.jobTimeout == nil)
        #expect(odd.pollTimeout == .milliseconds(100))
    }
}

/// A small deterministic generator for reproducible random tests.
struct SplitMix64: RandomNumberGenerator {
    var state: UInt64

    init(seed: UInt64) { state = seed }

    mutating func next() -> UInt64 {
        state &+= 0x9E37_79B9_7F4A_7C15
        var z = state
        z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
        z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
        return z ^ (z >> 31)
    }
}
