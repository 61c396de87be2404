import Foundation

/// A helper server process from scripts/testservers (HTTP, SFTP, sshd, SMTP sink, webhook
/// receiver) that prints `PORT n` once listening and exits (deleting its scratch directory,
/// `--cleanup`) when its standard input closes — when `stop()` closes our end or the test
/// process dies — so none outlives the tests. A recording server (`recording: true`) is
/// given `--dir records` and writes there what it receives as numbered JSON files.
public final class HelperServer: Sendable {
    public let port: Int
    /// The server's scratch directory (deleted when it exits).
    public let scratch: URL
    /// Where a recording server writes `<n>.json` per request or message.
    public let records: URL
    private let input: FileHandle

    private init(port: Int, scratch: URL, input: FileHandle) {
        self.port = port
        self.scratch = scratch
        self.records = scratch.appendingPathComponent("records")
        self.input = input
    }

    /// The Python of scripts/install-deps' virtual environment (has aiosmtpd).
    public static var venvPython: String {
        TestServices.repositoryRoot.appendingPathComponent(".venv-testservers/bin/python3").path
    }

    /// Starts `scripts/testservers/<script>` with `arguments` (after `--dir records` when
    /// `recording`) and `--cleanup <scratch>`; `scratch` defaults to a new temporary directory.
    public static func launch(
        _ script: String, _ arguments: [String] = [], python: String = "/usr/bin/python3", scratch: URL? = nil,
        recording: Bool = true
    ) async throws -> HelperServer {
        let scratch = scratch ?? FileManager.default.temporaryDirectory.appendingPathComponent("djinn-helper-\(UUID().uuidString.prefix(8))")
        let records = scratch.appendingPathComponent("records")
        try FileManager.default.createDirectory(at: recording ? records : scratch, withIntermediateDirectories: true)
        let outURL = scratch.appendingPathComponent("stdout"), errURL = scratch.appendingPathComponent("stderr")
        _ = FileManager.default.createFile(atPath: outURL.path, contents: nil)
        _ = FileManager.default.createFile(atPath: errURL.path, contents: nil)
        let out = try FileHandle(forWritingTo: outURL), err = try FileHandle(forWritingTo: errURL)
        let input = Pipe()
        let process = Process()
        process.executableURL = URL(fileURLWithPath: python)
        process.arguments = [TestServices.repositoryRoot.appendingPathComponent("scripts/testservers/\(script)").path]
            + (recording ? ["--dir", records.path] : []) + arguments + ["--cleanup", scratch.path]
        process.standardInput = input
        process.standardOutput = out
        process.standardError = err
        try process.run()
        try? out.close()
        try? err.close()
        try? input.fileHandleForReading.close()
        for _ in 0..<1500 {
            let text = (try? String(contentsOf: outURL, encoding: .utf8)) ?? ""
            if let line = text.split(separator: "\n").first(where: { $0.hasPrefix("PORT ") }), let port = Int(line.dropFirst(5)) {
                return HelperServer(port: port, scratch: scratch, input: input.fileHandleForWriting)
            }
            if !process.isRunning { break }
            try await Task.sleep(for: .milliseconds(20))
        }
        try? input.fileHandleForWriting.close()
        let stderr = (try? String(contentsOf: errURL, encoding: .utf8)) ?? ""
        throw TestServicesError.command(script, -1, "did not start: \(stderr)")
    }

    /// The records so far, in arrival order, each a decoded JSON object.
    public func recorded() -> [[String: Any]] {
        let names = (try? FileManager.default.contentsOfDirectory(atPath: records.path)) ?? []
        let numbers = names.compactMap { name -> Int? in
            guard name.hasSuffix(".json") else { return nil }
            return Int(name.dropLast(5))
        }.sorted()
        return numbers.compactMap { n in
            guard let data = FileManager.default.contents(atPath: records.appendingPathComponent("\(n).json").path) else { return nil }
            return (try? JSONSerialization.jsonObject(with: data)) as? [String: Any]
        }
    }

    /// Polls until at least `count` records exist (or `timeout` passes); returns them.
    public func waitForRecords(_ count: Int, timeout: Duration = .seconds(20)) async throws -> [[String: Any]] {
        let deadline = ContinuousClock.now + timeout
        while true {
            let records = recorded()
            if records.count >= count || ContinuousClock.now >= deadline { return records }
            try await Task.sleep(for: .milliseconds(25))
        }
    }

    public func stop() {
        try? input.close()
    }
}

/// A header's value in a recording server's record (`headers`: name/value pairs; names
/// compared case-insensitively).
public func recordedHeader(_ record: [String: Any], _ name: String) -> String? {
    (record["headers"] as? [[String]])?.first { $0.first?.lowercased() == name.lowercased() }?.last
}

/// A TCP port on 127.0.0.1 nothing listens on (bound, then closed).
public func unusedLoopbackPort() throws -> Int {
    let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
    guard fd >= 0 else { throw TestServicesError.command("socket", errno, "") }
    defer { close(fd) }
    var address = sockaddr_in()
    address.sin_family = sa_family_t(AF_INET)
    address.sin_addr.s_addr = inet_addr("127.0.0.1")
    address.sin_port = 0
    let bound = withUnsafePointer(to: &address) {
        $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { bind(fd, $0, socklen_t(MemoryLayout<sockaddr_in>.size)) }
    }
    guard bound == 0 else { throw TestServicesError.command("bind", errno, "") }
    var length = socklen_t(MemoryLayout<sockaddr_in>.size)
    _ = withUnsafeMutablePointer(to: &address) {
        $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { getsockname(fd, $0, &length) }
    }
    return Int(UInt16(bigEndian: address.sin_port))
}
