import DjinnRedis
import DjinnTesting
import Testing

@Suite struct RedisScriptTests {
    static let moveScript = RedisScript("""
        local value = redis.call('LPOP', KEYS[1])
        if value then redis.call('RPUSH', KEYS[2], value .. ARGV[1]) end
        return value
        """)

    @Test func sha1MatchesTheServers() async throws {
        try await withTestConnection { redis throws in
            let script = RedisScript("return {KEYS[1], ARGV[1], 7}")
            #expect(try await redis.command(["SCRIPT", "LOAD", script.source]).string == script.sha1)
        }
    }

    @Test func evalScriptWithKeysAndArguments() async throws {
        let p = testKeyPrefix("redis")
        try await withTestConnection { redis throws in
            _ = try await redis.command(["RPUSH", p + "from", "a", "b"])
            let moved = try await redis.evalScript(Self.moveScript, keys: [p + "from", p + "to"], args: ["!"])
            #expect(moved.string == "a")
            #expect(try await redis.command(["LRANGE", p + "to", 0, -1]).strings == ["a!"])
            let empty = try await redis.evalScript(Self.moveScript, keys: [p + "none", p + "to"], args: ["!"])
            #expect(empty == .null)  // Lua false becomes a nil reply
            let mixed = try await redis.evalScript(RedisScript("return {1, 'two', {3}}"))
            #expect(mixed == .array([.integer(1), .bulk(string: "two"), .array([.integer(3)])]))
            _ = try await redis.command(["DEL", p + "from", p + "to"])
        }
    }

    @Test func scriptCacheFlushFallsBackToEval() async throws {
        // SCRIPT FLUSH empties the cache of the whole server, so this uses a private one.
        try await withPrivateRedis { services throws in
            let redis = try await RedisConnection.connect(services.endpoints.redisConfiguration, logger: quietLogger)
            let script = RedisScript("return ARGV[1] .. '-' .. #KEYS")
            #expect(try await redis.evalScript(script, keys: ["k"], args: ["x"]).string == "x-1")
            #expect(try await redis.command(["SCRIPT", "EXISTS", script.sha1]) == .array([.integer(1)]))
            _ = try await redis.command(["SCRIPT", "FLUSH"])
            #expect(try await redis.command(["SCRIPT", "EXISTS", script.sha1]) == .array([.integer(0)]))
            #expect(try await redis.evalScript(script, keys: ["k"], args: ["y"]).string == "y-1")
            // EVAL cached it again, so the next call is a plain EVALSHA.
            #expect(try await redis.command(["SCRIPT", "EXISTS", script.sha1]) == .array([.integer(1)]))
            await redis.close()
        }
    }

    @Test func scriptErrorsAreServerErrors() async throws {
        try await withTestConnection { redis throws in
            do {
                _ = try await redis.evalScript(RedisScript("return redis.call('NOSUCH')"))
                Issue.record("expected an error")
            } catch let error as RedisError {
                guard case .server(let message) = error else { Issue.record("\(error)"); return }
                #expect(message.contains("Unknown Redis command"))
            }
            await #expect(throws: RedisError.self) {
                try await redis.evalScript(RedisScript("this is not lua"))
            }
        }
    }
}

@Suite struct RedisBlockingTests {
    @Test func blmoveTimesOutWithNil() async throws {
        let p = testKeyPrefix("redis")
        try await withTestConnection { redis throws in
            var moved: [UInt8]? = [1]
            let seconds = try await elapsed {
                moved = try await redis.blmove(from: p + "src", to: p + "dst", timeout: .milliseconds(300))
            }
            // nil, not a socket-timeout error: it returned at its own block timeout.
            #expect(moved == nil)
            #expect(seconds >= 0.29)
            // The socket timeout is back to normal: an ordinary command still works.
            #expect(try await redis.command(["ECHO", "x"]).string == "x")
        }
    }

    @Test func brpoplpushTimesOutWithNil() async throws {
        let p = testKeyPrefix("redis")
        try await withTestConnection { redis throws in
            let seconds = try await elapsed { () async throws in
                #expect(try await redis.brpoplpush(from: p + "q", to: p + "q", timeout: .milliseconds(200)) == nil)
            }
            #expect(seconds >= 0.19)
        }
    }

    @Test func blockingPopsReturnPromptlyOnPush() async throws {
        let p = testKeyPrefix("redis")
        let configuration = try await sharedRedisConfiguration()
        let consumer = try await RedisConnection.connect(configuration, logger: quietLogger)
        let producer = try await RedisConnection.connect(configuration, logger: quietLogger)

        for useBLMOVE in [true, false] {
            let waiting = Task {
                useBLMOVE
                    ? try await consumer.blmove(from: p + "active", to: p + "inflight", timeout: .seconds(5))
                    : try await consumer.brpoplpush(from: p + "active", to: p + "inflight", timeout: .seconds(5))
            }
            try await Task.sleep(for: .milliseconds(150))
            _ = try await producer.command(["RPUSH", p + "active", "job-1"])
            // The pushed value (not nil at the 5 s block timeout) shows the push woke it.
            #expect(try await waiting.value == bytes("job-1"))
            #expect(try await producer.command(["LPOP", p + "inflight"]).string == "job-1")
        }
        await consumer.close()
        await producer.close()
    }

    @Test func cancellingABlockingPopInterruptsIt() async throws {
        let p = testKeyPrefix("redis")
        try await withTestConnection { redis throws in
            let stuck = Task { try await redis.command(["BLPOP", p + "never", 30], timeout: .seconds(30)) }
            try await Task.sleep(for: .milliseconds(200))
            let clock = ContinuousClock()
            let cancelledAt = clock.now
            stuck.cancel()
            let result = await stuck.result
            let returnedAfter = clock.now - cancelledAt
            // Interrupted, not left to run out its 30 s.
            #expect(returnedAfter < .seconds(25), "returned after \(returnedAfter)")
            #expect(throws: RedisError.cancelled) { try result.get() }
            // The interrupted connection is replaced on its next use.
            #expect(try await redis.command(["ECHO", "again"]).string == "again")

            // Cancelled before it was even sent: nothing runs.
            let early = Task {
                withUnsafeCurrentTask { $0?.cancel() }
                return try await redis.command(["BLPOP", p + "never", 30], timeout: .seconds(30))
            }
            await #expect(throws: RedisError.cancelled) { try await early.value }
        }
    }

    @Test func closeInterruptsABlockingPop() async throws {
        let p = testKeyPrefix("redis")
        let redis = try await RedisConnection.connect(try await sharedRedisConfiguration(), logger: quietLogger)
        let stuck = Task { try await redis.command(["BLPOP", p + "never", 0], timeout: .zero) }
        try await Task.sleep(for: .milliseconds(200))
        // The pop would block forever: returning at all shows close interrupted it.
        let seconds = await elapsed { await redis.close() }
        #expect(seconds < 30)
        await #expect(throws: RedisError.self) { try await stuck.value }
    }

    @Test func blockingCallsDoNotOccupyTheCooperativePool() async throws {
        // Eight pops that are answered only once all eight are blocked in Redis at the same
        // time. If hiredis calls blocked cooperative threads (two here) at most two could be
        // waiting, the pushes would never come, and every pop would run out its 20 s.
        let p = testKeyPrefix("redis")
        // Database 5 is this test's alone, so CLIENT LIST's db=5 counts only its pops.
        var configuration = try await sharedRedisConfiguration()
        configuration.database = 5
        var connections: [RedisConnection] = []
        for _ in 0..<8 { connections.append(try await RedisConnection.connect(configuration, logger: quietLogger)) }
        let pool = connections
        let control = try await RedisConnection.connect(configuration, logger: quietLogger)
        try await withThrowingTaskGroup(of: RESPValue.self) { group in
            for (index, connection) in pool.enumerated() {
                group.addTask { try await connection.command(["BLPOP", p + "q\(index)", 20], timeout: .seconds(20)) }
            }
            var blocked = 0
            for _ in 0..<1000 where blocked < 8 {
                let clients = try await control.command(["CLIENT", "LIST"]).string ?? ""
                blocked = clients.split(separator: "\n").filter { $0.contains(" db=5 ") && $0.contains("cmd=blpop") }.count
                if blocked < 8 { try await Task.sleep(for: .milliseconds(10)) }
            }
            for index in 0..<8 { _ = try await control.command(["RPUSH", p + "q\(index)", "go"]) }
            for try await reply in group { #expect(reply != .null) }
        }
        for connection in pool { await connection.close() }
        await control.close()
    }
}
