import DjinnRedis

extension ServiceEndpoints {
    /// The test Redis as a client configuration (with its password, if it has one).
    public var redisConfiguration: RedisConfiguration {
        RedisConfiguration(host: redisHost, port: redisPort, password: redisPassword)
    }
}
