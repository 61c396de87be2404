import DjinnRedis
import DjinnTesting
import Testing

@Suite struct RedisRestartTests {
    @Test func clientAndSubscriberSurviveARestart() async throws {
        try await withPrivateRedis { services throws in
            let configuration = services.endpoints.redisConfiguration
            let logs = LogCapture()
            let client = try await RedisClient.connect(configuration, logger: logs.logger)
            let connection = try await RedisConnection.connect(configuration, logger: logs.logger)
            let subscriber = RedisSubscriber(configuration: configuration, logger: logs.logger)
            let messages = Inbox(subscriber.messages)
            try await subscriber.subscribe(["kill-1"])
            try await subscriber.psubscribe(["kill-*"])
            _ = try await client.command(["SET", "before", "1"])
            #expect(try await client.publish("one", to: "kill-1") == 2)
            #expect(await messages.next()?.payloadString == "one")
            #expect(await messages.next()?.pattern == "kill-*")

            try await services.stopRedis()
            // While the server is down, calls fail with a connection error (after a few
            // quick reconnection attempts).
            await #expect(throws: RedisError.self) { try await client.command(["GET", "before"]) }
            await #expect(throws: RedisError.self) { try await connection.command(["GET", "before"]) }

            try await services.startRedis()
            // The next command reconnects (the dropped socket is noticed before sending).
            #expect(try await client.command(["GET", "before"]).string == "1")  // appendonly kept it
            #expect(try await connection.command(["ECHO", "back"]).string == "back")
            #expect(try await client.evalScript(RedisScript("return 'lua after restart'")).string == "lua after restart")

            // The subscriber reconnects with backoff and restores both subscriptions.
            var receivers = 0
            let clock = ContinuousClock()
            let deadline = clock.now + .seconds(10)
            while receivers < 2 && clock.now < deadline {
                try await Task.sleep(for: .milliseconds(50))
                receivers = try await client.command(["PUBSUB", "NUMSUB", "kill-1"]).array?.last?.int ?? 0
                receivers += try await client.command(["PUBSUB", "NUMPAT"]).int ?? 0
            }
            #expect(receivers == 2)
            #expect(try await client.publish("two", to: "kill-1") == 2)
            let again = [await messages.next(), await messages.next()]
            #expect(again.map { $0?.payloadString } == ["two", "two"])
            #expect(Set(again.map { $0?.pattern }) == [nil, "kill-*"])
            #expect(subscriber.channels == ["kill-1"])

            // A subscription made while the server is down takes effect when it is back.
            try await services.stopRedis()
            let pending = Task { try await subscriber.subscribe(["kill-2"]) }
            try await Task.sleep(for: .milliseconds(300))
            try await services.startRedis()
            try await pending.value
            #expect(try await client.publish("three", to: "kill-2") == 2)
            #expect(await messages.next()?.payloadString == "three")

            #expect(logs.text.contains("reconnected"))
            await subscriber.close()
            await connection.close()
            await client.close()
        }
    }

    @Test func commandOnADeadSocketIsReportedNotRetried() async throws {
        try await withPrivateRedis { services throws in
            let configuration = services.endpoints.redisConfiguration
            let connection = try await RedisConnection.connect(configuration, logger: quietLogger)
            let key = testKeyPrefix("redis") + "q"
            // The server goes away while a blocking pop is in flight: the pop fails (it may
            // or may not have run) instead of being sent again to the restarted server.
            let stuck = Task { try await connection.command(["BLPOP", key, 10], timeout: .seconds(10)) }
            try await Task.sleep(for: .milliseconds(200))
            try await services.stopRedis()
            let outcome = await stuck.result
            #expect(throws: RedisError.self) { try outcome.get() }
            if case .failure(let error as RedisError) = outcome, case .connection = error {} else {
                Issue.record("expected a connection error, got \(outcome)")
            }
            try await services.startRedis()
            #expect(try await connection.command(["ECHO", "ok"]).string == "ok")
            await connection.close()
        }
    }
}
