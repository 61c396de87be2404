/// The directives of each daemon's config file and of the worker's driver file.
/// Adding a directive: one line here, one field in the settings type that reads it.
enum Schemas {
    // MARK: Shared blocks

    static let log = ParameterSchema("log", .labelledStrings(LabelRule(
        known: LogLevel.allCases.map(\.rawValue),
        unknownIsError: true,
        unknownMessage: { "unknown log level \($0)" }
    )))

    static let pidfile = ParameterSchema("pidfile", .string)

    static let tls = BlockSchema([
        ParameterSchema("ca", .string),
        ParameterSchema("cert", .string),
        ParameterSchema("key", .string),
    ])

    static let database = ParameterSchema("database", .block(BlockSchema([
        ParameterSchema("addr", .string, required: true, validate: { HostPort.problem(with: $0, setting: "database addr", unixSocket: .directoryWithOptionalPort) }),
        ParameterSchema("name", .string),
        ParameterSchema("username", .string),
        ParameterSchema("password", .string),
        ParameterSchema("tls", .block(tls)),
        ParameterSchema("ssl", .block(tls), deprecation: "use tls instead"),
    ])), required: true)

    static let redis = ParameterSchema("redis", .block(BlockSchema([
        ParameterSchema("addr", .string, required: true, validate: { HostPort.problem(with: $0, setting: "redis addr", unixSocket: .file) }),
        ParameterSchema("password", .string),
    ])), required: true)

    static let smtp = ParameterSchema("smtp", .block(BlockSchema([
        ParameterSchema("addr", .string, required: true, validate: { HostPort.problem(with: $0, setting: "smtp addr") }),
        ParameterSchema("ca", .string),
        ParameterSchema("admin", .string),
        ParameterSchema("username", .string),
        ParameterSchema("password", .string),
    ])))

    static let aesBlockLength = "crypto block must be 16, 24, or 32 characters in length"
    static let aesSalt = "crypto salt is required for AES-GCM encryption"
    static let hashSalt = "crypto salt is required for hashing"

    /// For daemons that decrypt (AES-GCM): `block` and `salt` both needed.
    static let encryptingCrypto = ParameterSchema("crypto", .block(BlockSchema([
        ParameterSchema("block", .string, required: true, missing: { _ in aesBlockLength },
                        validate: { [16, 24, 32].contains($0.utf8.count) ? nil : aesBlockLength }),
        ParameterSchema("salt", .string, required: true, missing: { _ in aesSalt },
                        validate: { $0.isEmpty ? aesSalt : nil }),
        ParameterSchema("hash", .string),
        ParameterSchema("auth", .string),
    ])))

    /// For the scheduler, which only hashes: `salt` needed, `block` checked if given.
    static let hashingCrypto = ParameterSchema("crypto", .block(BlockSchema([
        ParameterSchema("block", .string,
                        validate: { $0.isEmpty || [16, 24, 32].contains($0.utf8.count) ? nil : aesBlockLength }),
        ParameterSchema("salt", .string, required: true, missing: { _ in hashSalt },
                        validate: { $0.isEmpty ? hashSalt : nil }),
        ParameterSchema("hash", .string),
        ParameterSchema("auth", .string),
    ])))

    static let store = BlockSchema([
        ParameterSchema("type", .string, required: true,
                        validate: { $0 == "file" ? nil : "unknown store type: \($0)" }),
        ParameterSchema("path", .string),
        ParameterSchema("limit", .byteCount),
    ])

    static func stores(_ labels: [String]) -> ParameterSchema {
        ParameterSchema("store", .labelledBlocks(store, LabelRule(
            known: labels,
            required: labels,
            unknownMessage: { "unknown store \"\($0)\"" },
            missingMessage: { "\($0) store not configured" }
        )))
    }

    static let providers = ParameterSchema("provider", .labelledBlocks(BlockSchema([
        ParameterSchema("secret", .string),
        ParameterSchema("endpoint", .string),
        ParameterSchema("oauth2_endpoint", .string),
        ParameterSchema("client_id", .string),
        ParameterSchema("client_secret", .string),
    ]), LabelRule(
        known: ProviderSettings.knownNames,
        unknownIsError: true,
        unknownMessage: { "unknown provider: \($0)" }
    )))

    static func knownDriver(_ name: String) -> String? {
        DriverKind.parse(name) == nil ? "unknown driver: \(name)" : nil
    }

    // MARK: Daemons

    static let worker = BlockSchema([
        pidfile,
        log,
        ParameterSchema("parallelism", .int(minimum: 0)),
        ParameterSchema("driver", .string, required: true, validate: knownDriver),
        ParameterSchema("timeout", .duration(positive: true), default: .duration(.seconds(30 * 60))),
        encryptingCrypto,
        database,
        redis,
        smtp,
        stores(["artifacts", "objects"]),
        providers,
    ])

    static let consumer = BlockSchema([
        pidfile,
        log,
        ParameterSchema("parallelism", .int(minimum: 0)),
        ParameterSchema("attempts", .int(minimum: 0)),
        encryptingCrypto,
        database,
        redis,
        stores(["images"]),
    ])

    static let scheduler = BlockSchema([
        pidfile,
        log,
        ParameterSchema("interval", .duration(positive: true), default: .duration(.seconds(60))),
        ParameterSchema("batch_size", .int(minimum: 0)),
        ParameterSchema("drivers", .stringArray, validate: knownDriver),
        hashingCrypto,
        database,
        redis,
    ])

    static let driverFile = BlockSchema([
        ParameterSchema("driver", .variants([
            "os": .empty,
            "ssh": BlockSchema([
                ParameterSchema("addr", .string),
                ParameterSchema("user", .string),
                ParameterSchema("password", .string),
                ParameterSchema("key", .string),
                ParameterSchema("timeout", .duration(positive: true), default: .duration(.seconds(60))),
                ParameterSchema("known_hosts", .string),
            ]),
            "docker": BlockSchema([
                ParameterSchema("host", .string),
                ParameterSchema("version", .string),
                ParameterSchema("image", .string),
                ParameterSchema("workspace", .string),
            ]),
            "qemu": BlockSchema([
                ParameterSchema("arch", .string),
                ParameterSchema("cpus", .int(minimum: 0)),
                ParameterSchema("memory", .int(minimum: 0)),
                ParameterSchema("disks", .string),
                ParameterSchema("image", .string),
            ]),
        ], LabelRule(known: nil, unknownMessage: { "unknown driver \"\($0)\"" }))),
    ])
}
