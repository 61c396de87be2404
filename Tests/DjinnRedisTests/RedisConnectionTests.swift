import DjinnRedis
import DjinnTesting
import Foundation
import Testing

@Suite struct RedisConnectionTests {
    @Test func basicCommands() async throws {
        let p = testKeyPrefix("redis")
        try await withTestConnection { redis throws in
            try await redis.ping()
            #expect(try await redis.command(["SET", p + "k", "value"]) == .simpleString("OK"))
            #expect(try await redis.command(["GET", p + "k"]).string == "value")
            #expect(try await redis.command(["GET", p + "missing"]) == .null)
            #expect(try await redis.command(["INCR", p + "n"]) == .integer(1))
            #expect(try await redis.command(["INCRBY", p + "n", 41]) == .integer(42))
            #expect(try await redis.command(["GET", p + "n"]).int == 42)
            #expect(try await redis.command(["RPUSH", p + "l", "a", "b", "c"]) == .integer(3))
            #expect(try await redis.command(["LRANGE", p + "l", 0, -1]).strings == ["a", "b", "c"])
            #expect(try await redis.command(["LRANGE", p + "none", 0, -1]) == .array([]))
            #expect(try await redis.command(["ZADD", p + "z", 1.5, "m"]) == .integer(1))
            #expect(try await redis.command(["ZSCORE", p + "z", "m"]).double == 1.5)
            #expect(try await redis.command(["HMGET", p + "h", "a", "b"]) == .array([.null, .null]))
            #expect(try await redis.command(["DEL", p + "k", p + "n", p + "l", p + "z"]) == .integer(4))
        }
    }

    @Test func binaryValuesRoundTrip() async throws {
        let p = testKeyPrefix("redis")
        let allBytes = (0...255).map { UInt8($0) }
        let withNULs: [UInt8] = [0, 0, 65, 0, 13, 10, 0, 255]
        let key: [UInt8] = Array((p + "bin\u{0}key").utf8) + [0xff, 0x00, 0x0d, 0x0a]
        try await withTestConnection { redis throws in
            _ = try await redis.command(["SET", key, allBytes])
            #expect(try await redis.command(["GET", key]) == .bulk(allBytes))
            #expect(try await redis.command(["STRLEN", key]) == .integer(256))
            _ = try await redis.command(["HSET", p + "h", withNULs, withNULs + allBytes])
            #expect(try await redis.command(["HGET", p + "h", withNULs]).bytes == withNULs + allBytes)
            _ = try await redis.command(["SET", p + "empty", [UInt8]()])
            #expect(try await redis.command(["GET", p + "empty"]) == .bulk([]))
            #expect(try await redis.command(["GET", p + "empty"]) != .null)
            _ = try await redis.command(["DEL", key, p + "h", p + "empty"])
        }
    }

    @Test func pipelineOfAThousandCommands() async throws {
        let p = testKeyPrefix("redis")
        try await withTestConnection { redis throws in
            let commands: [[any RedisArgumentConvertible]] = (0..<1000).map { ["RPUSH", p + "list", $0] }
            let replies = try await redis.pipeline(commands)
            #expect(replies == (1...1000).map { RESPValue.integer(Int64($0)) })
            #expect(try await redis.command(["LLEN", p + "list"]) == .integer(1000))
            #expect(try await redis.command(["LINDEX", p + "list", 999]).int == 999)
            #expect(try await redis.pipeline([]) == [])
            _ = try await redis.command(["DEL", p + "list"])
        }
    }

    @Test func pipelineReturnsErrorRepliesInPlace() async throws {
        let p = testKeyPrefix("redis")
        try await withTestConnection { redis throws in
            let replies = try await redis.pipeline([
                ["SET", p + "s", "x"],
                ["LPUSH", p + "s", "y"],
                ["GET", p + "s"],
            ])
            #expect(replies.count == 3)
            #expect(replies[0] == .simpleString("OK"))
            #expect(replies[1].errorMessage?.hasPrefix("WRONGTYPE") == true)
            #expect(replies[2].string == "x")
            _ = try await redis.command(["DEL", p + "s"])
        }
    }

    @Test func errorReplyIsThrownAsServerError() async throws {
        let p = testKeyPrefix("redis")
        try await withTestConnection { redis throws in
            _ = try await redis.command(["SET", p + "s", "x"])
            do {
                _ = try await redis.command(["LPUSH", p + "s", "y"])
                Issue.record("expected WRONGTYPE")
            } catch let error as RedisError {
                #expect(error.serverErrorCode == "WRONGTYPE")
                guard case .server(let message) = error else { Issue.record("\(error)"); return }
                #expect(message.hasPrefix("WRONGTYPE Operation against a key"))
            }
            // The raw form returns it, and the connection is still fine.
            #expect(try await redis.rawCommand(["LPUSH", p + "s", "y"]).errorMessage?.hasPrefix("WRONGTYPE") == true)
            await #expect(throws: RedisError.self) { try await redis.command(["NOSUCHCOMMAND"]) }
            #expect(try await redis.command(["GET", p + "s"]).string == "x")
            _ = try await redis.command(["DEL", p + "s"])
        }
    }

    @Test func selectsTheConfiguredDatabase() async throws {
        let p = testKeyPrefix("redis")
        try await withTestConnection({ $0.database = 3 }) { db3 throws in
            _ = try await db3.command(["SET", p + "db", "three"])
            try await withTestConnection { db0 throws in
                #expect(try await db0.command(["GET", p + "db"]) == .null)
            }
            #expect(try await db3.command(["GET", p + "db"]).string == "three")
            _ = try await db3.command(["DEL", p + "db"])
        }
    }

    @Test func commandTimeoutDropsAndReplacesTheConnection() async throws {
        let p = testKeyPrefix("redis")
        try await withTestConnection({ $0.commandTimeout = .milliseconds(200) }) { redis throws in
            // A blocking pop sent as an ordinary command outlives the 200 ms socket timeout.
            await #expect(throws: RedisError.timeout) { try await redis.command(["BLPOP", p + "q", 2]) }
            #expect(try await redis.command(["ECHO", "after"]).string == "after")
        }
    }

    @Test func unreachableServerIsAConnectionError() async throws {
        var configuration = RedisConfiguration(host: "127.0.0.1", port: 1)
        configuration.reconnectAttempts = 3
        let seconds = try await elapsed {
            do {
                _ = try await RedisConnection.connect(configuration, logger: quietLogger)
                Issue.record("connected to port 1?")
            } catch let error as RedisError {
                guard case .connection(let message) = error else { Issue.record("\(error)"); return }
                #expect(message.contains("127.0.0.1:1"))
            }
        }
        // Three attempts: pauses of 50 ms and 100 ms between them.
        #expect(seconds >= 0.14)
        // Bounded, not endless (generous: the whole suite shares two cores).
        #expect(seconds < 60)
    }

    @Test func closedConnectionRefusesCommands() async throws {
        let connection = try await RedisConnection.connect(try await sharedRedisConfiguration(), logger: quietLogger)
        await connection.close()
        await connection.close()
        #expect(connection.isClosed)
        await #expect(throws: RedisError.closed) { try await connection.command(["PING"]) }
    }

    @Test func unixSocket() async throws {
        // A server of the test's own, listening only on a unix socket, stopped with SHUTDOWN.
        let directory = FileManager.default.temporaryDirectory.appendingPathComponent("redis-unix-\(UUID().uuidString.prefix(8))")
        try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: directory) }
        let socket = directory.appendingPathComponent("redis.sock").path
        let server = Process()
        server.executableURL = URL(fileURLWithPath: "/usr/bin/env")
        server.arguments = ["redis-server", "--port", "0", "--unixsocket", socket, "--save", "", "--appendonly", "no", "--dir", directory.path]
        server.standardOutput = FileHandle.nullDevice
        server.standardError = FileHandle.nullDevice
        try server.run()
        defer { if server.isRunning { kill(server.processIdentifier, SIGKILL) } }
        for _ in 0..<100 where !FileManager.default.fileExists(atPath: socket) {
            try await Task.sleep(for: .milliseconds(50))
        }

        let configuration = try RedisConfiguration(addr: socket)
        let redis = try await RedisConnection.connect(configuration, logger: quietLogger)
        #expect(try await redis.command(["ECHO", "over a unix socket"]).string == "over a unix socket")
        #expect(try await redis.pipeline([["SET", "k", "v"], ["GET", "k"]]) == [.simpleString("OK"), .bulk(string: "v")])
        _ = try? await redis.command(["SHUTDOWN", "NOSAVE"])
        await redis.close()
    }

    @Test func lazyConnectionConnectsOnFirstUse() async throws {
        let connection = RedisConnection(configuration: try await sharedRedisConfiguration(), logger: quietLogger)
        #expect(try await connection.command(["ECHO", "hi"]).string == "hi")
        await connection.close()
    }
}

@Suite struct RedisAuthTests {
    @Test func passwordProtectedServer() async throws {
        let password = "pw-9f3b-secret"
        try await withPrivateRedis(password: password) { services throws in
            let right = services.endpoints.redisConfiguration
            #expect(right.password == password)
            #expect(!right.description.contains(password))

            // Right password.
            let logs = LogCapture()
            let connection = try await RedisConnection.connect(right, logger: logs.logger)
            #expect(try await connection.command(["ECHO", "authenticated"]).string == "authenticated")
            await connection.close()

            // Wrong password: a clear error that does not echo what was sent, and no retrying.
            var wrong = right
            wrong.password = "not-the-\(password)-xyz"
            do {
                _ = try await RedisConnection.connect(wrong, logger: logs.logger)
                Issue.record("connected with a wrong password")
            } catch let error as RedisError {
                guard case .connection(let message) = error else { Issue.record("\(error)"); return }
                #expect(message.contains("authentication failed"))
                #expect(message.contains("WRONGPASS"))
                #expect(!message.contains(wrong.password))
                #expect(!"\(error)".contains(password))
            }

            // No password against a protected server: commands fail with NOAUTH.
            var none = right
            none.password = ""
            let anonymous = try await RedisConnection.connect(none, logger: logs.logger)
            do {
                _ = try await anonymous.command(["GET", "x"])
                Issue.record("NOAUTH expected")
            } catch let error as RedisError {
                #expect(error.serverErrorCode == "NOAUTH")
            }
            await anonymous.close()

            // A pooled client authenticates every connection it opens.
            let client = try await RedisClient.connect(right, logger: logs.logger)
            async let a = client.command(["ECHO", "a"])
            async let b = client.command(["ECHO", "b"])
            #expect(try await [a, b].map(\.string) == ["a", "b"])
            await client.close()

            #expect(!logs.text.isEmpty)
            #expect(!logs.text.contains(password))
        }
    }
}
