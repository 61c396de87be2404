import DjinnRedis
import DjinnTesting
import Testing

@Suite struct RedisClientTests {
    @Test func pooledCommandsRunSideBySide() async throws {
        let p = testKeyPrefix("redis")
        // Database 6 is this test's alone, so CLIENT LIST's db=6 counts only its pops.
        var configuration = try await sharedRedisConfiguration()
        configuration.database = 6
        let client = try await RedisClient.connect(configuration, logger: quietLogger, maximumConnections: 4)
        // Five pops on a pool of four: four are blocked in Redis side by side, the fifth
        // waits for a connection. Counted in Redis itself (CLIENT LIST), not with a clock.
        let control = try await RedisConnection.connect(configuration, logger: quietLogger)
        func blockedPops() async throws -> Int {
            let clients = try await control.command(["CLIENT", "LIST"]).string ?? ""
            return clients.split(separator: "\n").filter { $0.contains(" db=6 ") && $0.contains("cmd=blpop") }.count
        }
        try await withThrowingTaskGroup(of: RESPValue.self) { group in
            for index in 0..<5 {
                group.addTask { try await client.command(["BLPOP", p + "q\(index)", 20], timeout: .seconds(20)) }
            }
            var blocked = 0
            for _ in 0..<1000 where blocked < 4 {
                blocked = try await blockedPops()
                if blocked < 4 { try await Task.sleep(for: .milliseconds(10)) }
            }
            #expect(blocked == 4)
            try await Task.sleep(for: .milliseconds(100))
            #expect(try await blockedPops() == 4, "the fifth pop must wait for a free connection")
            // Values for all five: the four blocked pops return, then the fifth gets a connection.
            for index in 0..<5 { _ = try await control.command(["RPUSH", p + "q\(index)", "v"]) }
            for try await reply in group { #expect(reply != .null) }
        }
        await control.close()
        await client.close()
    }

    @Test func clientCommandsPipelinesScriptsAndSessions() async throws {
        let p = testKeyPrefix("redis")
        let client = RedisClient(configuration: try await sharedRedisConfiguration(), logger: quietLogger, maximumConnections: 2)
        try await client.ping()
        _ = try await client.command(["SET", p + "a", 1])
        #expect(try await client.pipeline([["INCR", p + "a"], ["INCR", p + "a"]]) == [.integer(2), .integer(3)])
        #expect(try await client.evalScript(RedisScript("return redis.call('GET', KEYS[1])"), keys: [p + "a"]).int == 3)
        #expect(try await client.rawCommand(["LPUSH", p + "a", "x"]).errorMessage?.hasPrefix("WRONGTYPE") == true)

        let exec = try await client.withConnection { redis in
            _ = try await redis.command(["MULTI"])
            _ = try await redis.command(["INCR", p + "a"])
            _ = try await redis.command(["GET", p + "a"])
            return try await redis.command(["EXEC"])
        }
        #expect(exec == .array([.integer(4), .bulk(string: "4")]))

        // Many concurrent callers share two connections.
        try await withThrowingTaskGroup(of: Void.self) { group in
            for _ in 0..<50 { group.addTask { _ = try await client.command(["INCR", p + "a"]) } }
            try await group.waitForAll()
        }
        #expect(try await client.command(["GET", p + "a"]).int == 54)
        _ = try await client.command(["DEL", p + "a"])

        await client.close()
        await #expect(throws: RedisError.closed) { try await client.command(["PING"]) }
    }

    @Test func cancelledWhileWaitingForAConnection() async throws {
        let p = testKeyPrefix("redis")
        let client = RedisClient(configuration: try await sharedRedisConfiguration(), logger: quietLogger, maximumConnections: 1)
        let holder = Task { try await client.command(["BLPOP", p + "q", 1], timeout: .seconds(1)) }
        try await Task.sleep(for: .milliseconds(100))
        let waiter = Task { try await client.command(["PING"]) }
        try await Task.sleep(for: .milliseconds(100))
        waiter.cancel()
        await #expect(throws: RedisError.cancelled) { try await waiter.value }
        holder.cancel()
        _ = await holder.result
        #expect(try await client.command(["ECHO", "ok"]).string == "ok")
        await client.close()
    }
}

@Suite struct RedisSubscriberTests {
    @Test func deliversMessagesWithinMilliseconds() async throws {
        let p = testKeyPrefix("kill")
        let configuration = try await sharedRedisConfiguration()
        let client = RedisClient(configuration: configuration, logger: quietLogger)
        let subscriber = RedisSubscriber(configuration: configuration, logger: quietLogger)
        try await subscriber.subscribe([p + "kill-1", p + "kill-2"])
        #expect(subscriber.channels == [p + "kill-1", p + "kill-2"])
        let messages = Inbox(subscriber.messages)

        let clock = ContinuousClock()
        let start = clock.now
        #expect(try await client.publish("secret-1", to: p + "kill-1") == 1)
        let first = await messages.next()
        let latency = clock.now - start
        #expect(first == RedisMessage(channel: p + "kill-1", payload: bytes("secret-1")))
        #expect(first?.payloadString == "secret-1")
        // Pushed by the read loop, not found at the 30 s health check.
        #expect(latency < .seconds(10), "delivery took \(latency)")

        let binary: [UInt8] = [0, 255, 0, 10, 13]
        _ = try await client.publish(binary, to: p + "kill-2")
        #expect(await messages.next() == RedisMessage(channel: p + "kill-2", payload: binary))

        // Unsubscribed channels are no longer delivered; the others still are.
        try await subscriber.unsubscribe([p + "kill-1"])
        #expect(try await client.publish("ignored", to: p + "kill-1") == 0)
        _ = try await client.publish("still", to: p + "kill-2")
        #expect(await messages.next()?.payloadString == "still")

        try await subscriber.unsubscribe()
        #expect(subscriber.channels.isEmpty)
        #expect(try await client.publish("ignored", to: p + "kill-2") == 0)

        await subscriber.close()
        #expect(await messages.next() == nil)  // close ends the stream
        await #expect(throws: RedisError.closed) { try await subscriber.subscribe(["x"]) }
        await client.close()
    }

    @Test func patternSubscriptions() async throws {
        let p = testKeyPrefix("pat")
        let configuration = try await sharedRedisConfiguration()
        let publisher = try await RedisConnection.connect(configuration, logger: quietLogger)
        let subscriber = RedisSubscriber(configuration: configuration, logger: quietLogger)
        let messages = Inbox(subscriber.messages)

        try await subscriber.psubscribe([p + "kill-*"])
        try await subscriber.subscribe([p + "plain"])
        #expect(try await publisher.publish("s3cret", to: p + "kill-42") == 1)
        #expect(await messages.next() == RedisMessage(channel: p + "kill-42", pattern: p + "kill-*", payload: bytes("s3cret")))
        _ = try await publisher.publish("direct", to: p + "plain")
        #expect(await messages.next() == RedisMessage(channel: p + "plain", payload: bytes("direct")))

        try await subscriber.punsubscribe([p + "kill-*"])
        #expect(subscriber.patterns.isEmpty)
        #expect(try await publisher.publish("gone", to: p + "kill-43") == 0)
        // Subscribing again after a full unsubscribe works (the connection left subscribed mode).
        try await subscriber.unsubscribe()
        try await subscriber.psubscribe([p + "again-*"])
        _ = try await publisher.publish("back", to: p + "again-1")
        #expect(await messages.next()?.payloadString == "back")

        await subscriber.close()
        await publisher.close()
    }

    @Test func subscribeChangesDoNotWaitForTraffic() async throws {
        // The loop sits in poll(2); a change must go out at once, not after a read timeout.
        let p = testKeyPrefix("wake")
        let subscriber = RedisSubscriber(configuration: try await sharedRedisConfiguration(), logger: quietLogger)
        try await subscriber.subscribe([p + "first"])
        for index in 0..<20 {
            let seconds = try await elapsed { try await subscriber.subscribe([p + "c\(index)"]) }
            // Well under the 30 s health-check wait the loop would otherwise sit in.
            #expect(seconds < 10, "subscribe took \(seconds) s")
        }
        #expect(subscriber.channels.count == 21)
        await subscriber.close()
    }

    @Test func healthCheckPingsDoNotDisturbSubscriptions() async throws {
        let p = testKeyPrefix("ping")
        let configuration = try await sharedRedisConfiguration()
        let subscriber = RedisSubscriber(configuration: configuration, logger: quietLogger, healthCheckInterval: .milliseconds(50))
        let messages = Inbox(subscriber.messages)
        let publisher = try await RedisConnection.connect(configuration, logger: quietLogger)
        // Idle with nothing subscribed (PING answers +PONG), then subscribed (["pong", ""]).
        try await Task.sleep(for: .milliseconds(200))
        try await subscriber.subscribe([p + "a"])
        try await Task.sleep(for: .milliseconds(300))
        // The subscriber's connection has been pinging (the last command of a pub/sub client).
        let clients = try await publisher.command(["CLIENT", "LIST", "TYPE", "pubsub"]).string ?? ""
        #expect(clients.split(separator: "\n").contains { $0.contains(" cmd=ping ") })
        try await subscriber.subscribe([p + "b"])
        try await subscriber.psubscribe([p + "c*"])
        #expect(try await publisher.publish("1", to: p + "a") == 1)
        #expect(try await publisher.publish("2", to: p + "b") == 1)
        #expect(try await publisher.publish("3", to: p + "c3") == 1)
        #expect(await messages.next()?.payloadString == "1")
        #expect(await messages.next()?.payloadString == "2")
        #expect(await messages.next()?.payloadString == "3")
        await publisher.close()
        await subscriber.close()
    }

    @Test func subscriberOnPasswordProtectedServer() async throws {
        try await withPrivateRedis(password: "sub-pw-77") { services throws in
            let configuration = services.endpoints.redisConfiguration
            let subscriber = RedisSubscriber(configuration: configuration, logger: quietLogger)
            try await subscriber.subscribe(["kill-9"])
            let publisher = try await RedisConnection.connect(configuration, logger: quietLogger)
            #expect(try await publisher.publish("x", to: "kill-9") == 1)
            let messages = Inbox(subscriber.messages)
            #expect(await messages.next()?.payloadString == "x")
            await publisher.close()
            await subscriber.close()

            // Without the password the subscription is refused with the server's error.
            var anonymous = configuration
            anonymous.password = ""
            let refused = RedisSubscriber(configuration: anonymous, logger: quietLogger)
            do {
                try await refused.subscribe(["kill-9"])
                Issue.record("subscribed without a password")
            } catch let error as RedisError {
                #expect(error.serverErrorCode == "NOAUTH")
            }
            await refused.close()
        }
    }
}
