import Testing
@testable import DjinnConfig

@Suite struct DatabaseOnlyTests {
    @Test func readsOnlyTheDatabaseBlockOfAnyDaemonFile() throws {
        let fs = ConfigFileSystem.inMemory(["/etc/djinn/worker.conf": """
            driver "qemu-x86_64"
            unknown_directive 1
            database {
                addr "db.example:5433"
                name "djinn"
                username "djinn_worker"
                password "secret"
            }

            """], currentDirectory: "/")
        let settings = try DatabaseSettings.load(fromConfigAt: "/etc/djinn/worker.conf", environment: [:], fileSystem: fs)
        #expect(settings == DatabaseSettings(addr: "db.example:5433", name: "djinn", username: "djinn_worker", password: "secret"))
    }

    @Test func missingDatabaseBlockIsAPositionedError() {
        let fs = ConfigFileSystem.inMemory(["/c.conf": "redis {\n\taddr \"x:1\"\n}\n"], currentDirectory: "/")
        #expect {
            try DatabaseSettings.load(fromConfigAt: "/c.conf", environment: [:], fileSystem: fs)
        } throws: { error in
            (error as? ConfigError)?.description.hasPrefix("/c.conf:1:1:") == true
        }
    }
}

@Suite struct RedisOnlyTests {
    @Test func readsOnlyTheRedisBlockOfAnyDaemonFile() throws {
        let fs = ConfigFileSystem.inMemory(["/etc/djinn/scheduler.conf": """
            drivers ["os"]
            unknown_directive 1
            redis {
                addr "cache.example:6380"
                password "secret"
            }

            """], currentDirectory: "/")
        let settings = try RedisSettings.load(fromConfigAt: "/etc/djinn/scheduler.conf", environment: [:], fileSystem: fs)
        #expect(settings == RedisSettings(addr: "cache.example:6380", password: "secret"))
    }

    @Test func missingRedisBlockIsAPositionedError() {
        let fs = ConfigFileSystem.inMemory(["/c.conf": "database {\n\taddr \"x:1\"\n}\n"], currentDirectory: "/")
        #expect {
            try RedisSettings.load(fromConfigAt: "/c.conf", environment: [:], fileSystem: fs)
        } throws: { error in
            (error as? ConfigError)?.description.hasPrefix("/c.conf:1:1:") == true
        }
    }
}
