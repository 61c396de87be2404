import Testing
@testable import DjinnRunner

@Suite struct BuildStatusTests {
    @Test func rawValuesAreThePostgresLabels() {
        #expect(BuildStatus.allCases.map(\.rawValue) == [
            "queued", "running", "passed", "passed_with_failures", "failed", "killed", "timed_out",
        ])
        #expect(BuildStatus(rawValue: "passed_with_failures") == .passedWithFailures)
        #expect(BuildStatus(rawValue: "timed_out") == .timedOut)
        #expect(BuildStatus(rawValue: "bogus") == nil)
    }

    @Test func precedenceFollowsDeclarationOrder() {
        let all = BuildStatus.allCases
        for (i, a) in all.enumerated() {
            for (j, b) in all.enumerated() {
                #expect((a < b) == (i < j))
                #expect(a.combined(with: b) == all[max(i, j)])
            }
        }
        #expect(BuildStatus.running.combined(with: .passed) == .passed)
        #expect(BuildStatus.passedWithFailures.combined(with: .passed) == .passedWithFailures)
        #expect(BuildStatus.failed.combined(with: .killed) == .killed)
    }

    @Test func finalAndFailureStatuses() {
        #expect(BuildStatus.allCases.filter(\.isFinal) == [.passed, .passedWithFailures, .failed, .killed, .timedOut])
        #expect(BuildStatus.allCases.filter(\.isFailure) == [.failed, .killed, .timedOut])
    }
}
