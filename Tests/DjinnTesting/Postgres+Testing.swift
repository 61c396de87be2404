import DjinnPostgres

extension ServiceEndpoints {
    /// The test PostgreSQL over TCP with password authentication (scram-sha-256).
    public func postgresConfiguration(database: String) -> PostgresConfiguration {
        PostgresConfiguration(host: pgHost, port: pgPort, database: database, user: pgUser, password: pgPassword)
    }

    /// The test PostgreSQL over its unix-socket directory (trust authentication).
    public func postgresSocketConfiguration(database: String) -> PostgresConfiguration {
        PostgresConfiguration(host: pgSocket, port: pgPort, database: database, user: pgUser)
    }
}

extension TestDatabase {
    /// This test database over TCP with the admin user's password.
    public var configuration: PostgresConfiguration { endpoints.postgresConfiguration(database: name) }
}
