import DjinnConfig
import DjinnPostgres
import DjinnRedis

extension PostgresConfiguration {
    /// The client configuration for a `database { … }` block. TLS files come from `tls`
    /// (each falling back to the deprecated `ssl` block, already merged by the decoder).
    public init(settings: DatabaseSettings) throws {
        var tls = PostgresConfiguration.TLS()
        if let files = settings.tls {
            tls = PostgresConfiguration.TLS(ca: files.ca.nonEmpty, cert: files.cert.nonEmpty, key: files.key.nonEmpty)
        }
        try self.init(addr: settings.addr, database: settings.name, user: settings.username,
                      password: settings.password, tls: tls)
    }
}

extension RedisConfiguration {
    /// The client configuration for a `redis { … }` block (database 0, as Go Djinn).
    public init(settings: RedisSettings) throws {
        try self.init(addr: settings.addr, password: settings.password)
    }
}

extension String {
    var nonEmpty: String? { isEmpty ? nil : self }
}
