#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif
import Foundation
import Testing
@testable import DjinnRunner

private let basicEnvironment = ["PATH=/usr/local/bin:/usr/bin:/bin"]

private func shell(_ script: String, in directory: String = "/", environment: [String] = basicEnvironment) throws -> ChildProcess {
    try ChildProcess.spawn(.init(executable: "/bin/sh", arguments: ["-c", script], workingDirectory: directory, environment: environment))
}

/// Reads all output and the exit status.
private func run(_ process: ChildProcess) async throws -> (output: String, status: ChildProcess.ExitStatus) {
    async let status = process.wait()
    var bytes: [UInt8] = []
    for try await chunk in process.output { bytes += chunk }
    return (String(decoding: bytes, as: UTF8.self), try await status)
}

/// Gone, or a zombie waiting for whoever inherited it (the test process is not its parent).
private func isGone(_ pid: pid_t) -> Bool {
    if kill(pid, 0) != 0 && errno == ESRCH { return true }
    guard let stat = try? String(contentsOfFile: "/proc/\(pid)/stat", encoding: .utf8),
        let close = stat.lastIndex(of: ")")
    else { return true }
    return stat[stat.index(close, offsetBy: 2)] == "Z"
}

private func residentMegabytes() -> Int {
    guard let status = try? String(contentsOfFile: "/proc/self/status", encoding: .utf8),
        let line = status.split(separator: "\n").first(where: { $0.hasPrefix("VmRSS:") })
    else { return 0 }
    return (Int(line.split(separator: " ")[1]) ?? 0) / 1024
}

private func makeTemporaryDirectory() throws -> String {
    let path = NSTemporaryDirectory() + "djinn-runner-test-" + UUID().uuidString
    try FileManager.default.createDirectory(atPath: path, withIntermediateDirectories: false)
    return (path as NSString).resolvingSymlinksInPath
}

@Suite struct ChildProcessTests {
    @Test func streamsOutputBeforeTheProcessExits() async throws {
        // A handshake, not a stopwatch: the child prints `a`, then waits for a file the
        // test creates only once `a` has arrived. Output delivered only at exit would leave
        // both waiting until the child's 20 s limit, with `a` arriving after it exited.
        let directory = try makeTemporaryDirectory()
        defer { try? FileManager.default.removeItem(atPath: directory) }
        let go = directory + "/go"
        let process = try shell("echo a; i=0; while [ ! -e \(go) ] && [ $i -lt 2000 ]; do sleep 0.01; i=$((i+1)); done; echo b")
        var received = ""
        var runningWhenAArrived = false
        for try await chunk in process.output {
            received += String(decoding: chunk, as: UTF8.self)
            if received == "a\n" {
                runningWhenAArrived = !isGone(process.pid)
                _ = FileManager.default.createFile(atPath: go, contents: nil)
            }
        }
        #expect(try await process.wait() == .exited(0))
        #expect(received == "a\nb\n")
        #expect(runningWhenAArrived, "a arrived while the child was still running")
    }

    @Test func reportsExitCodesAndSignals() async throws {
        #expect(try await run(try shell("exit 0")).status == .exited(0))
        let failed = try await run(try shell("echo to stderr >&2; exit 3"))
        #expect(failed.status == .exited(3))
        #expect(failed.output == "to stderr\n", "stderr is merged")
        #expect(failed.status.description == "exit status 3")
        let killed = try await run(try shell("kill -9 $$"))
        #expect(killed.status == .signalled(SIGKILL))
        #expect(killed.status.description == "signal: killed")
        #expect(!killed.status.succeeded)
    }

    @Test func runsAScriptFileWithSetEx() async throws {
        let directory = try makeTemporaryDirectory()
        defer { try? FileManager.default.removeItem(atPath: directory) }
        let name = JobScript.fileName(jobName: "my job")
        try JobScript.render(commands: ["echo one", "false", "echo never"])
            .write(toFile: directory + "/" + name, atomically: true, encoding: .utf8)
        let result = try await run(try ChildProcess.spawn(.init(
            executable: "/bin/sh", arguments: [name], workingDirectory: directory, environment: basicEnvironment
        )))
        #expect(result.status == .exited(1))
        #expect(result.output == "+ echo one\none\n+ false\n", "trace on the same pipe, stops at the failure")
    }

    @Test func environmentAndDirectoryArePerProcess() async throws {
        let first = try makeTemporaryDirectory()
        let second = try makeTemporaryDirectory()
        defer {
            try? FileManager.default.removeItem(atPath: first)
            try? FileManager.default.removeItem(atPath: second)
        }
        let ownDirectory = FileManager.default.currentDirectoryPath
        let script = "pwd; echo \"$FOO\"; sleep 0.3; pwd; echo \"$FOO\""
        let a = try shell(script, in: first, environment: basicEnvironment + ["FOO=one"])
        let b = try shell(script, in: second, environment: basicEnvironment + ["FOO=two"])
        async let resultA = run(a)
        async let resultB = run(b)
        #expect(try await resultA.output == "\(first)\none\n\(first)\none\n")
        #expect(try await resultB.output == "\(second)\ntwo\n\(second)\ntwo\n")
        #expect(FileManager.default.currentDirectoryPath == ownDirectory, "the worker's own directory is untouched")
        #expect(getenv("FOO") == nil, "the worker's own environment is untouched")

        let env = try await run(try ChildProcess.spawn(.init(
            executable: "/usr/bin/env", workingDirectory: "/", environment: ["ONLY=this", "AND=that"]
        )))
        #expect(env.output == "ONLY=this\nAND=that\n", "nothing is inherited")
    }

    @Test func signalMaskAndDispositionsAreReset() async throws {
        // Block SIGTERM on this thread while spawning, as some runtime threads do.
        var blocked = sigset_t()
        sigemptyset(&blocked)
        sigaddset(&blocked, SIGTERM)
        var previous = sigset_t()
        pthread_sigmask(SIG_BLOCK, &blocked, &previous)
        // And ignore SIGUSR2 for a moment: an ignored signal stays ignored across exec.
        let previousHandler = signal(SIGUSR2, SIG_IGN)
        // grep itself, not through sh: a shell clears its signal mask when it starts.
        let spawned = Result {
            try ChildProcess.spawn(.init(
                executable: "/bin/grep", arguments: ["-E", "^Sig(Blk|Ign)", "/proc/self/status"],
                workingDirectory: "/", environment: []
            ))
        }
        signal(SIGUSR2, previousHandler)
        pthread_sigmask(SIG_SETMASK, &previous, nil)
        let process = try spawned.get()
        let result = try await run(process)
        let fields = Dictionary(uniqueKeysWithValues: result.output.split(separator: "\n").map {
            let parts = $0.split(separator: "\t")
            return (String(parts[0]), UInt64(parts[1], radix: 16)!)
        })
        #expect(fields["SigBlk:"] == 0, "nothing blocked")
        // Signals 32 and 33 are glibc's own and cannot be named; every other one is default.
        #expect(fields["SigIgn:"]! & ~0x1_8000_0000 == 0, "nothing ignored")
    }

    @Test func terminatingTheGroupKillsBackgroundedGrandchildren() async throws {
        let process = try shell("sleep 100 & echo $!; wait")
        var iterator = process.output.makeAsyncIterator()
        let firstLine = String(decoding: try await iterator.next() ?? [], as: UTF8.self)
        let grandchild = try #require(pid_t(firstLine.trimmingCharacters(in: .whitespacesAndNewlines)))
        #expect(kill(grandchild, 0) == 0, "the grandchild runs")
        #expect(getpgid(grandchild) == process.pid, "in the child's own group")
        #expect(getpgid(process.pid) != getpgid(0), "not in the worker's group")

        await process.terminateGroup()
        #expect(try await process.wait() == .signalled(SIGTERM))
        while try await iterator.next() != nil {}  // the pipe closes: nobody holds it any more
        let deadline = ContinuousClock.now + .seconds(2)
        while !isGone(grandchild) && ContinuousClock.now < deadline { try await Task.sleep(for: .milliseconds(20)) }
        #expect(isGone(grandchild))
        #expect(!process.groupExists)
    }

    @Test func aProcessIgnoringSIGTERMIsKilledAfterTheGrace() async throws {
        let process = try shell("trap '' TERM; echo ready; while :; do sleep 0.05; done")
        var iterator = process.output.makeAsyncIterator()
        #expect(try await iterator.next().map { String(decoding: $0, as: UTF8.self) } == "ready\n")
        let start = ContinuousClock.now
        await process.terminateGroup(grace: .milliseconds(500))
        let status = try await process.wait()
        let elapsed = ContinuousClock.now - start
        #expect(status == .signalled(SIGKILL))
        // At least the grace; bounded, not hanging (generous: the suite shares two cores).
        #expect(elapsed >= .milliseconds(500) && elapsed < .seconds(30))
        while try await iterator.next() != nil {}
    }

    @Test func terminatingAnExitedProcessIsHarmless() async throws {
        let process = try shell("exit 0")
        #expect(try await process.wait() == .exited(0))
        // A long grace that must not be waited out: nothing is left to signal.
        let start = ContinuousClock.now
        await process.terminateGroup(grace: .seconds(60))
        #expect(ContinuousClock.now - start < .seconds(30))
        #expect(try await process.wait() == .exited(0), "wait is idempotent")
        #expect(process.exitStatus == .exited(0))
    }

    @Test func twoHundredMegabytesStreamInBoundedMemory() async throws {
        let before = residentMegabytes()
        let process = try shell("head -c 200000000 /dev/zero")
        async let status = process.wait()
        var total = 0
        var largest = 0
        var peak = before
        var chunks = 0
        for try await chunk in process.output {
            total += chunk.count
            largest = max(largest, chunk.count)
            chunks += 1
            if chunks % 256 == 0 { peak = max(peak, residentMegabytes()) }
        }
        #expect(try await status == .exited(0))
        #expect(total == 200_000_000)
        #expect(largest <= ChildProcess.chunkSize)
        #expect(peak - before < 100, "the reader holds a chunk at a time, not the output")
    }

    /// A build's commands must not get the worker's descriptors (its PostgreSQL and Redis
    /// connections, files it is writing), even ones opened without close-on-exec.
    @Test func onlyStandardDescriptorsAreInherited() async throws {
        let leaky = open("/dev/null", O_RDONLY)  // no O_CLOEXEC, on purpose
        #expect(leaky > 2)
        defer { close(leaky) }
        let (output, status) = try await run(try shell("ls /proc/$$/fd"))
        #expect(status == .exited(0))
        #expect(output.split(separator: "\n").sorted() == ["0", "1", "2"], "\(output)")
    }

    @Test func outputCanEndWhileABackgroundProcessHoldsThePipe() async throws {
        let process = try shell("sleep 100 & echo done")
        #expect(try await process.wait() == .exited(0))
        process.endOutputWhenDrained()
        var bytes: [UInt8] = []
        for try await chunk in process.output { bytes += chunk }
        #expect(String(decoding: bytes, as: UTF8.self) == "done\n")
        #expect(process.groupExists, "the backgrounded sleep is still there")
        await process.terminateGroup()
        #expect(!process.groupExists)
    }

    @Test func cancellingTheReaderStopsWaitingForOutput() async throws {
        let process = try shell("echo first; sleep 100")
        var iterator = process.output.makeAsyncIterator()
        #expect(try await iterator.next().map { String(decoding: $0, as: UTF8.self) } == "first\n")
        let reading = Task {
            var reader = process.output.makeAsyncIterator()
            return try await reader.next()
        }
        try await Task.sleep(for: .milliseconds(200))
        let start = ContinuousClock.now
        reading.cancel()
        await #expect(throws: CancellationError.self) { try await reading.value }
        // Well before the child's 100 s sleep would end the output.
        #expect(ContinuousClock.now - start < .seconds(30))
        await process.terminateGroup()
        #expect(try await process.wait() == .signalled(SIGTERM))
        while try await iterator.next() != nil {}
    }

    @Test func leavesNoZombies() async throws {
        var pids: [pid_t] = []
        for code in 0..<5 {
            let process = try shell("exit \(code)")
            #expect(try await process.wait() == .exited(Int32(code)))
            pids.append(process.pid)
        }
        for pid in pids {
            #expect(kill(pid, 0) == -1 && errno == ESRCH, "reaped, not a zombie")
        }
        // A process nobody waits for is reaped when it is released.
        var pid: pid_t = 0
        do {
            let process = try shell("exit 0")
            pid = process.pid
        }
        let deadline = ContinuousClock.now + .seconds(2)
        while kill(pid, 0) == 0 && ContinuousClock.now < deadline { try await Task.sleep(for: .milliseconds(20)) }
        #expect(kill(pid, 0) == -1 && errno == ESRCH)
    }

    @Test func spawnFailuresAreErrors() throws {
        #expect(throws: ChildProcessError.spawnFailed(executable: "/bin/sh", workingDirectory: "/no/such/dir", errno: ENOENT)) {
            try ChildProcess.spawn(.init(executable: "/bin/sh", workingDirectory: "/no/such/dir", environment: []))
        }
        #expect(throws: ChildProcessError.spawnFailed(executable: "/no/such/program", workingDirectory: "/", errno: ENOENT)) {
            try ChildProcess.spawn(.init(executable: "/no/such/program", workingDirectory: "/", environment: []))
        }
        #expect(throws: ChildProcessError.invalidEnvironmentEntry("NOEQUALS")) {
            try ChildProcess.spawn(.init(executable: "/bin/sh", workingDirectory: "/", environment: ["NOEQUALS"]))
        }
    }
}
