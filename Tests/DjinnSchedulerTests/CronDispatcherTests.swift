import Foundation
import Synchronization
import Testing
@testable import DjinnScheduler

@Suite struct CronDispatcherTests {
    func key(_ id: Int64, owner: Int64) -> CronKey { CronKey(id: id, nextRun: Date(timeIntervalSince1970: Double(id)), userID: owner) }

    @Test func handsOutInOrderSkippingOwnersThatAreBusy() {
        let d = CronDispatcher([key(1, owner: 7), key(2, owner: 7), key(3, owner: 8), key(4, owner: 9), key(5, owner: 8)], shouldStop: { false })
        let a = d.take(finished: nil)
        let b = d.take(finished: nil)
        let c = d.take(finished: nil)
        #expect([a, b, c].map { $0?.id } == [1, 3, 4])
        #expect(d.take(finished: nil) == nil)  // 2 and 5 belong to busy owners
        #expect(d.take(finished: a)?.id == 2)  // owner 7 is free again
        #expect(d.take(finished: c) == nil)  // owner 9 freed; 5 is owner 8's, still busy
        #expect(d.take(finished: b)?.id == 5)
        #expect(d.take(finished: key(5, owner: 8)) == nil)
    }

    @Test func stopsHandingOutWhenAskedTo() {
        let stop = Record()
        let d = CronDispatcher([key(1, owner: 1), key(2, owner: 2)], shouldStop: { stop.state.withLock { $0.violations > 0 } })
        #expect(d.take(finished: nil)?.id == 1)
        stop.state.withLock { $0.violations = 1 }
        #expect(d.take(finished: nil) == nil)
    }

    /// Random interleavings of several workers: every cron exactly once, never two of one owner at once.
    @Test func everyCronOnceAndOwnersNeverShared() async {
        for seed in 0..<20 {
            var generator = SplitMix(seed: UInt64(seed))
            let keys = (1...200).map { key(Int64($0), owner: Int64.random(in: 1...6, using: &generator)) }
            let d = CronDispatcher(keys, shouldStop: { false })
            let record = Record()
            await withTaskGroup(of: Void.self) { group in
                for _ in 0..<4 {
                    group.addTask {
                        var current = d.take(finished: nil)
                        while let k = current {
                            record.start(k)
                            await Task.yield()
                            record.end(k)
                            current = d.take(finished: k)
                        }
                    }
                }
            }
            #expect(record.state.withLock { $0.violations } == 0)
            #expect(record.state.withLock { $0.seen.sorted() } == Array(1...200))
        }
    }
}

/// Which owners are being worked on, what was seen, and how often an owner was taken twice.
final class Record: Sendable {
    struct State {
        var busy: Set<Int64> = []
        var seen: [Int64] = []
        var violations = 0
    }

    let state = Mutex(State())

    func start(_ key: CronKey) {
        state.withLock {
            if !$0.busy.insert(key.userID).inserted { $0.violations += 1 }
            $0.seen.append(key.id)
        }
    }

    func end(_ key: CronKey) { state.withLock { _ = $0.busy.remove(key.userID) } }
}

struct SplitMix: RandomNumberGenerator {
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
