@testable import DjinnRedis
import Testing

@Suite struct RedisConfigurationTests {
    @Test func parsesHostAndPort() throws {
        #expect(try RedisConfiguration(addr: "127.0.0.1:6380").endpoint == .tcp(host: "127.0.0.1", port: 6380))
        #expect(try RedisConfiguration(addr: "redis.example.com").endpoint == .tcp(host: "redis.example.com", port: 6379))
        #expect(try RedisConfiguration(addr: " localhost:7000 ").endpoint == .tcp(host: "localhost", port: 7000))
        #expect(try RedisConfiguration(addr: ":7000").endpoint == .tcp(host: "localhost", port: 7000))
        #expect(try RedisConfiguration(addr: "").endpoint == .tcp(host: "localhost", port: 6379))
    }

    @Test func parsesIPv6() throws {
        #expect(try RedisConfiguration(addr: "[::1]:6390").endpoint == .tcp(host: "::1", port: 6390))
        #expect(try RedisConfiguration(addr: "[fe80::1]").endpoint == .tcp(host: "fe80::1", port: 6379))
        #expect(try RedisConfiguration(addr: "::1").endpoint == .tcp(host: "::1", port: 6379))
        #expect(RedisConfiguration.Endpoint.tcp(host: "::1", port: 6390).description == "[::1]:6390")
    }

    @Test func parsesUnixSocket() throws {
        let configuration = try RedisConfiguration(addr: "/run/redis/redis.sock", password: "x")
        #expect(configuration.endpoint == .unixSocket(path: "/run/redis/redis.sock"))
        #expect(configuration.host == nil)
        #expect(configuration.port == nil)
    }

    @Test func rejectsMalformedAddresses() {
        for addr in ["redis://localhost:6379", "host:1:2", "host:", "host:port", "host:0", "host:70000", "[::1", "[]:1", "[::1]x", "[::1]:"] {
            #expect(throws: RedisError.self, "\(addr)") { try RedisConfiguration(addr: addr) }
        }
    }

    @Test func defaults() throws {
        let configuration = try RedisConfiguration(addr: "h:1", password: "pw")
        #expect(configuration.password == "pw")
        #expect(configuration.database == 0)
        #expect(configuration.host == "h")
        #expect(configuration.port == 1)
    }

    @Test func descriptionHidesThePassword() throws {
        var configuration = try RedisConfiguration(addr: "127.0.0.1:6379", password: "s3cr3t-pass")
        configuration.database = 2
        #expect(!configuration.description.contains("s3cr3t"))
        #expect(!String(reflecting: configuration.endpoint).contains("s3cr3t"))
        #expect(configuration.description == "redis 127.0.0.1:6379 db 2 (with password)")
    }

    @Test func backoffDoublesUpToTheMaximum() {
        let backoff = Backoff(initial: .milliseconds(50), maximum: .seconds(2))
        let delays = (0..<9).map { backoff.delay(beforeAttempt: $0) }
        #expect(delays == [
            .zero, .milliseconds(50), .milliseconds(100), .milliseconds(200), .milliseconds(400),
            .milliseconds(800), .milliseconds(1600), .seconds(2), .seconds(2),
        ])
        #expect(backoff.delay(beforeAttempt: 1000) == .seconds(2))
    }
}

@Suite struct RESPValueTests {
    @Test func helpers() {
        #expect(RESPValue.bulk(string: "héllo").string == "héllo")
        #expect(RESPValue.bulk([0xff, 0xfe]).string == nil)
        #expect(RESPValue.bulk([0xff, 0xfe]).bytes == [0xff, 0xfe])
        #expect(RESPValue.simpleString("OK").string == "OK")
        #expect(RESPValue.integer(42).int == 42)
        #expect(RESPValue.bulk(string: "-17").int64 == -17)
        #expect(RESPValue.bulk(string: "x").int == nil)
        #expect(RESPValue.bulk(string: "1.5").double == 1.5)
        #expect(RESPValue.bulk(string: "-inf").double == -.infinity)
        #expect(RESPValue.null.isNull)
        #expect(RESPValue.null.string == nil)
        #expect(RESPValue.error("ERR x").errorMessage == "ERR x")
        #expect(RESPValue.array([.bulk(string: "a"), .null]).strings == ["a", nil])
        #expect(RESPValue.integer(1).array == nil)
    }

    @Test func arguments() {
        #expect("abc".redisArgumentBytes == [97, 98, 99])
        #expect(42.redisArgumentBytes == Array("42".utf8))
        #expect(Int64(-7).redisArgumentBytes == Array("-7".utf8))
        #expect(0.25.redisArgumentBytes == Array("0.25".utf8))
        #expect(Double.infinity.redisArgumentBytes == Array("+inf".utf8))
        #expect([UInt8]([0, 1, 2]).redisArgumentBytes == [0, 1, 2])
        let mixed: [RedisArgument] = ["SET", 5, RedisArgument(bytes: [0])]
        #expect(mixed.map(\.redisArgumentBytes) == [Array("SET".utf8), Array("5".utf8), [0]])
    }

    @Test func blockSecondsArgument() {
        #expect(Duration.seconds(5).redisSecondsArgument == "5")
        #expect(Duration.milliseconds(300).redisSecondsArgument == "0.300")
        #expect(Duration.milliseconds(1050).redisSecondsArgument == "1.050")
        #expect(Duration.zero.redisSecondsArgument == "0")
    }

    @Test func errorDescriptions() {
        #expect(RedisError.server("WRONGTYPE Operation").serverErrorCode == "WRONGTYPE")
        #expect(RedisError.timeout.serverErrorCode == nil)
        #expect(RedisError.server("NOSCRIPT No matching script").description == "redis: NOSCRIPT No matching script")
    }
}

@Suite struct SHA1Tests {
    @Test func knownVectors() {
        #expect(SHA1.hexDigest([]) == "da39a3ee5e6b4b0d3255bfef95601890afd80709")
        #expect(SHA1.hexDigest(Array("abc".utf8)) == "a9993e364706816aba3e25717850c26c9cd0d89d")
        #expect(SHA1.hexDigest(Array("abcdbcdecdefdefgefghfghighijhijkijkljklmklmnlmnomnopnopq".utf8))
            == "84983e441c3bd26ebaae4aa1f95129e5e54670f1")
        #expect(SHA1.hexDigest([UInt8](repeating: 0x61, count: 1_000_000)) == "34aa973cd4c4daa4f61eeb2bdbad27316534016f")
        // Lengths around the padding boundary (55, 56, 63, 64 bytes).
        #expect(SHA1.hexDigest([UInt8](repeating: 0x61, count: 55)) == "c1c8bbdc22796e28c0e15163d20899b65621d65a")
        #expect(SHA1.hexDigest([UInt8](repeating: 0x61, count: 64)) == "0098ba824b5c16427bd7a1122a5a442a25ec644d")
    }

    @Test func scriptNamedBySHA1() {
        #expect(RedisScript("return 1").sha1 == "e0e1f9fabfc9d4800c877a703b823ac0578ff8db")
    }
}
