import DjinnTesting
import Foundation
import Testing

/// The README's run command, as a new user runs it: `scripts/run -once` brings the whole
/// system up in its own directory, runs the sample (cron, image download, build) to a passed
/// build; a second run reuses the database; an interactive run stopped with Ctrl-C (SIGINT to
/// its process group, as a terminal sends it) leaves no process behind.
@Suite struct RunScriptTests {
    static let script = TestServices.repositoryRoot.appendingPathComponent("scripts/run").path
    static let binDirectory = URL(fileURLWithPath: CommandLine.arguments[0]).deletingLastPathComponent().path

    @Test func onceTwiceThenCtrlCLeavesNothingRunning() async throws {
        let runDirectory = FileManager.default.temporaryDirectory.appendingPathComponent("djinn-run-\(UUID().uuidString.prefix(8))").path
        // DJINN_BIN: the binaries this test run built (a `swift build` would wait for the
        // build directory's lock, held by `swift test`).
        let environment = ["DJINN_RUN_DIR": runDirectory, "DJINN_BIN": Self.binDirectory]
        defer { _ = try? FileManager.default.removeItem(atPath: runDirectory) }

        let first = try await runCommand([Self.script, "-once"], environment: environment)
        #expect(first.contains("applied 10 migration(s)") || first.contains("applied "), "\(first)")
        #expect(first.contains("cron 1 nightly added (daily)"), "\(first)")
        #expect(first.contains("==> build/compile: running"), "\(first)")
        #expect(first.contains("compiling, step 3 of 3"), "\(first)")
        #expect(first.contains("build 1 #1 passed"), "\(first)")
        #expect(first.contains("download: done"), "\(first)")

        let second = try await runCommand([Self.script, "-once"], environment: environment)
        #expect(second.contains("database is up to date"), "\(second)")
        #expect(!second.contains("cron 2"), "\(second)")
        #expect(second.contains("build 2 #2 passed"), "\(second)")

        // Started as the leader of its own process group, which then gets SIGINT as from a
        // terminal's Ctrl-C.
        let process = try TestProcess.start([Self.script], environment: environment)
        let ready = await eventually(timeout: .seconds(120)) { process.stdout.contains("Ctrl-C stops everything") }
        #expect(ready, "\(process.stdout)\(process.stderr)")
        #expect(getpgid(process.pid) == process.pid)
        kill(-process.pid, SIGINT)
        let status = try await process.wait()
        let text = process.stdout + process.stderr
        #expect(status == 130, "\(text)")
        #expect(text.contains("build 3 #3 passed"), "\(text)")
        #expect(text.contains("run: stopped"), "\(text)")

        let left = try await runCommand(["/bin/ps", "-eo", "pid,args"])
            .split(separator: "\n").filter { $0.contains(runDirectory) && !$0.contains("/bin/ps") }
        #expect(left.isEmpty, "left running: \(left)")
        // PostgreSQL may run from a folder elsewhere (see scripts/services): check its port too.
        let env = try String(contentsOfFile: runDirectory + "/services/env", encoding: .utf8)
        let ports = env.split(separator: "\n").compactMap { line -> String? in
            if line.hasPrefix("DJINN_PG_PORT=") { return String(line.dropFirst("DJINN_PG_PORT=".count)) }
            if line.hasPrefix("DJINN_REDIS_ADDR=") { return line.split(separator: ":").last.map(String.init) }
            return nil
        }
        #expect(ports.count == 2)
        for port in ports {
            let listening = (try? await runCommand(["/bin/bash", "-c", "(exec 3<>/dev/tcp/127.0.0.1/\(port)) 2>/dev/null"])) != nil
            #expect(!listening, "something still listens on \(port)")
        }
        try await runCommand([TestServices.servicesScript, "stop", runDirectory + "/services"])
    }
}
