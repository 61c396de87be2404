import DjinnTesting
import Foundation
import Testing

/// The service files in dist/ work: the systemd units pass `systemd-analyze verify`, and the
/// SysV init scripts start, report and stop the built daemons for real (scripts/check-dist).
@Suite struct DistServiceTests {
    static let dist = TestServices.repositoryRoot.appendingPathComponent("dist")
    static let checkDist = TestServices.repositoryRoot.appendingPathComponent("scripts/check-dist").path
    static let binDirectory = URL(fileURLWithPath: CommandLine.arguments[0]).deletingLastPathComponent().path

    @Test func systemdUnitsVerify() async throws {
        // Prints SKIP with the reason when systemd-analyze is missing.
        let output = try await runCommand([Self.checkDist, "units", Self.binDirectory])
        print(output, terminator: "")
        #expect(output.contains("units ok") || output.contains("SKIP"))
    }

    @Test func sysvInitScriptsDriveTheDaemons() async throws {
        let endpoints = try await TestServices.endpoints()
        let db = try await TestDatabase.create()
        let output = try await runCommand([Self.checkDist, "sysv", Self.binDirectory], environment: [
            "DJINN_PG_HOST": endpoints.pgHost, "DJINN_PG_PORT": String(endpoints.pgPort),
            "DJINN_PG_USER": endpoints.pgUser, "DJINN_PG_PASSWORD": endpoints.pgPassword,
            "DJINN_REDIS_ADDR": endpoints.redisAddr, "DJINN_REDIS_PASSWORD": endpoints.redisPassword,
            "DJINN_CHECK_DB": db.name,
        ])
        #expect(output.contains("check-dist: sysv ok"), "\(output)")
    }

    /// The three init scripts differ only in their header (name, description, stop timeout).
    @Test func initScriptsShareOneBody() throws {
        let marker = "# Everything below is the same in the three djinn-* init scripts."
        let bodies = try ["worker", "scheduler", "consumer"].map { name -> Substring in
            let text = try String(contentsOf: Self.dist.appendingPathComponent("init.d/djinn-\(name)"), encoding: .utf8)
            #expect(text.hasPrefix("#!/bin/sh\n### BEGIN INIT INFO\n# Provides:          djinn-\(name)\n"))
            #expect(text.contains("NAME=djinn-\(name)\nSHORT_NAME=\(name)\n"))
            guard let start = text.range(of: marker) else {
                Issue.record("djinn-\(name): no shared-body marker"); return ""
            }
            return text[start.lowerBound...]
        }
        #expect(bodies[0] == bodies[1] && bodies[1] == bodies[2])
    }

    /// What the units promise: notify readiness, the config paths, graceful SIGTERM, restart.
    @Test(arguments: ["worker", "scheduler", "consumer"])
    func unitSettings(_ name: String) throws {
        let text = try String(contentsOf: Self.dist.appendingPathComponent("systemd/djinn-\(name).service"), encoding: .utf8)
        let lines = Set(text.split(separator: "\n").map(String.init))
        let driver = name == "worker" ? " -driver /etc/djinn/driver.conf" : ""
        for expected in [
            "Type=notify", "User=djinn-\(name)", "Group=djinn", "KillMode=mixed", "KillSignal=SIGTERM",
            "Restart=on-failure", "ExecStart=/usr/bin/djinn-\(name) -config /etc/djinn/\(name).conf\(driver)",
        ] {
            #expect(lines.contains(expected), "djinn-\(name).service: no \(expected)")
        }
        // The worker's drivers need /dev/kvm, the docker socket and the host's /tmp.
        if name == "worker" {
            #expect(!text.contains("PrivateDevices="))
            #expect(!text.contains("PrivateTmp="))
            #expect(!text.contains("ProtectSystem=strict"))
        }
    }
}
