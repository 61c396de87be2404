// swift-tools-version:6.0
import PackageDescription

// One target per responsibility (DEVELOPERS.md); the `DjinnCore` product bundles the
// shared ones so that a daemon names a single library. Daemon executables are thin
// mains over library targets so everything but argv handling is testable.
let package = Package(
    name: "djinn",
    platforms: [.macOS(.v15)],
    products: [
        .library(
            name: "DjinnCore",
            targets: [
                "BlockingIO", "DjinnConfig", "DjinnCrypto", "DjinnPostgres", "DjinnRedis", "DjinnJobs", "DjinnQueue",
                "DjinnSchema", "DjinnDaemon", "DjinnManifest", "DjinnBuilds", "DjinnRunner",
            ]
        ),
        .executable(name: "djinn-worker", targets: ["djinn-worker"]),
        .executable(name: "djinn-scheduler", targets: ["djinn-scheduler"]),
        .executable(name: "djinn-consumer", targets: ["djinn-consumer"]),
        .executable(name: "djinnctl", targets: ["djinnctl"]),
    ],
    dependencies: [
        .package(url: "https://github.com/apple/swift-argument-parser", from: "1.5.0"),
        .package(url: "https://github.com/apple/swift-log", from: "1.6.0"),
        .package(url: "https://github.com/swift-server/swift-service-lifecycle", from: "2.6.0"),
        .package(url: "https://github.com/apple/swift-crypto", from: "4.0.0"),
        .package(url: "https://github.com/jpsim/Yams", from: "6.0.0"),
    ],
    targets: [
        // System libraries (blocking C clients; always called off the cooperative pool).
        .systemLibrary(
            name: "CLibPQ",
            pkgConfig: "libpq",
            providers: [.apt(["libpq-dev"])]
        ),
        // No pkgConfig: hiredis.pc adds -D_FILE_OFFSET_BITS=64, which SwiftPM rejects with a
        // warning; the header is found as <hiredis/hiredis.h> under /usr/include anyway.
        .systemLibrary(
            name: "CHiredis",
            providers: [.apt(["libhiredis-dev"])]
        ),
        // libcurl for image downloads (http, https, sftp). Its pkg-config adds only -I and -l.
        .systemLibrary(
            name: "CCurl",
            pkgConfig: "libcurl",
            providers: [.apt(["libcurl4-openssl-dev"])]
        ),

        // libssh2 for the ssh and qemu drivers. Its pkg-config adds only -I and -l.
        .systemLibrary(
            name: "CLibSSH2",
            pkgConfig: "libssh2",
            providers: [.apt(["libssh2-1-dev"])]
        ),

        // Dedicated threads for blocking calls, bridged to async callers.
        .target(name: "BlockingIO"),

        // libcurl's easy interface for the three modules that speak through it: the handle,
        // typed options, callbacks, cancellation, each transfer on a BlockingThread of its own.
        .target(name: "DjinnCurl", dependencies: ["CCurl", "BlockingIO"]),

        // The Docker Engine API over its unix socket (libcurl), tar and log-stream framing.
        .target(name: "DockerEngine", dependencies: ["CCurl", "DjinnCurl"]),

        // The config language and the per-daemon settings decoded from it.
        .target(name: "DjinnConfig"),

        // PostgreSQL client on libpq.
        .target(
            name: "DjinnPostgres",
            dependencies: ["CLibPQ", "BlockingIO", .product(name: "Logging", package: "swift-log")]
        ),

        // Redis client on hiredis.
        .target(
            name: "DjinnRedis",
            dependencies: ["CHiredis", "BlockingIO", .product(name: "Logging", package: "swift-log")]
        ),

        // Djinn's AES-GCM (PBKDF2 key) for variables, keys, tokens and webhook secrets.
        .target(
            name: "DjinnCrypto",
            dependencies: [
                .product(name: "Crypto", package: "swift-crypto"),
                .product(name: "CryptoExtras", package: "swift-crypto"),
            ]
        ),

        // Job payloads as Go Djinn writes them (gob): BuildPayload, DownloadJob.
        .target(name: "DjinnJobs"),

        // The reliable Redis queue (curlyq v0.4.0 layout) and its MessagePack envelope.
        .target(
            name: "DjinnQueue",
            dependencies: ["DjinnRedis", "DjinnJobs", .product(name: "Logging", package: "swift-log")]
        ),

        // The .djinn.yml model: parsing with positions, validation, the stored re-encoding. No I/O.
        .target(name: "DjinnManifest", dependencies: [.product(name: "Yams", package: "Yams")]),

        // Builds as Djinn's server creates them: namespaces, creation and submission in one
        // transaction, then the queue; the queries behind `djinnctl build show/-follow`.
        .target(
            name: "DjinnBuilds",
            dependencies: [
                "DjinnManifest", "DjinnPostgres", "DjinnRedis", "DjinnJobs", "DjinnQueue",
                .product(name: "Logging", package: "swift-log"),
            ]
        ),

        // Djinn's database schema and the migration runner.
        .target(name: "DjinnSchema", dependencies: ["DjinnPostgres"]),

        // Shared daemon scaffolding: flags, pidfile, logging, signals, connections from config.
        .target(
            name: "DjinnDaemon",
            dependencies: [
                "DjinnConfig", "DjinnPostgres", "DjinnRedis",
                .product(name: "ArgumentParser", package: "swift-argument-parser"),
                .product(name: "Logging", package: "swift-log"),
                .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
                .product(name: "UnixSignals", package: "swift-service-lifecycle"),
            ]
        ),

        // djinnctl's commands, as a library so tests can drive them.
        .target(
            name: "DjinnCtlCommands",
            dependencies: [
                "DjinnConfig", "DjinnPostgres", "DjinnRedis", "DjinnSchema", "DjinnDaemon", "DjinnManifest",
                "DjinnBuilds", "DjinnConsumer", "DjinnQueue", "DjinnScheduler",
                .product(name: "ArgumentParser", package: "swift-argument-parser"),
                .product(name: "Logging", package: "swift-log"),
            ]
        ),

        // The worker's building blocks: the runner state machine, the output pipeline
        // (masking, sanitising, bounded buffers), job scripts and child processes.
        .target(name: "DjinnRunner", dependencies: ["BlockingIO"]),

        // An SSH client on libssh2 (commands with streamed output, SFTP), one thread per session.
        .target(name: "DjinnSSH", dependencies: ["CLibSSH2", "BlockingIO"]),

        // The qemu driver's pure parts: qemu's arguments, image paths, host ports. No I/O.
        .target(name: "DjinnQEMU"),

        // Each daemon's logic, as a library the tests can drive.
        .target(
            name: "DjinnWorker",
            dependencies: [
                "BlockingIO", "DjinnBuilds", "DjinnConfig", "DjinnCrypto", "DjinnDaemon", "DjinnJobs", "DjinnPostgres", "DjinnQueue",
                "DjinnRedis", "DjinnRunner", "DockerEngine", "DjinnSSH", "DjinnQEMU", "DjinnNotify",
                .product(name: "Crypto", package: "swift-crypto"),
                .product(name: "Logging", package: "swift-log"),
                .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
            ]
        ),
        // Failure mail (SMTP), webhooks and commit statuses over libcurl, delivered in the
        // background; the worker and the consumer wire it in.
        .target(
            name: "DjinnNotify",
            dependencies: [
                "CCurl", "DjinnCurl", "DjinnConfig", "DjinnCrypto", "DjinnJobs", "DjinnPostgres",
                .product(name: "Crypto", package: "swift-crypto"),
                .product(name: "Logging", package: "swift-log"),
            ]
        ),
        .target(
            name: "DjinnScheduler",
            dependencies: [
                "DjinnDaemon", "DjinnBuilds", "DjinnManifest", "DjinnPostgres",
                .product(name: "Logging", package: "swift-log"),
                .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
            ]
        ),
        .target(
            name: "DjinnConsumer",
            dependencies: [
                "CCurl", "DjinnCurl", "BlockingIO", "DjinnDaemon", "DjinnConfig", "DjinnPostgres", "DjinnRedis", "DjinnQueue", "DjinnJobs",
                "DjinnNotify",
                .product(name: "Logging", package: "swift-log"),
                .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
            ]
        ),

        .executableTarget(name: "djinn-worker", dependencies: ["DjinnWorker"]),
        .executableTarget(name: "djinn-scheduler", dependencies: ["DjinnScheduler"]),
        .executableTarget(name: "djinn-consumer", dependencies: ["DjinnConsumer"]),
        .executableTarget(name: "djinnctl", dependencies: ["DjinnCtlCommands"]),
        // bench/scheduler's measuring program (not shipped).
        .executableTarget(
            name: "djinn-bench-scheduler",
            dependencies: [
                "DjinnScheduler", "DjinnBuilds", "DjinnPostgres", "DjinnRedis", "DjinnSchema",
                .product(name: "Logging", package: "swift-log"),
            ]
        ),

        // Benchmarks (bench/*): run by scripts, reported in docs/benchmarks.md.
        .executableTarget(
            name: "djinn-bench-queue",
            dependencies: ["DjinnQueue", "DjinnRedis", .product(name: "Logging", package: "swift-log")],
            path: "bench/queue-bench"
        ),

        // Test-only: a queue consumer in a process of its own for kill -9 tests (DjinnQueueTests).
        .executableTarget(
            name: "djinn-queue-probe",
            dependencies: ["DjinnQueue", "DjinnRedis", .product(name: "Logging", package: "swift-log")]
        ),

        // Test helpers: throwaway PostgreSQL/Redis on loopback, a fresh database per test.
        .target(
            name: "DjinnTesting",
            dependencies: [
                "DjinnPostgres", "DjinnRedis", "DjinnRunner", "DjinnSchema", .product(name: "Logging", package: "swift-log"),
            ],
            path: "Tests/DjinnTesting"
        ),

        .testTarget(name: "BlockingIOTests", dependencies: ["BlockingIO"]),
        .testTarget(name: "DjinnCurlTests", dependencies: ["DjinnCurl", "CCurl"]),
        .testTarget(name: "DockerEngineTests", dependencies: ["DockerEngine", "DjinnTesting"]),
        .testTarget(name: "DjinnConfigTests", dependencies: ["DjinnConfig"]),
        .testTarget(name: "DjinnPostgresTests", dependencies: ["DjinnPostgres", "DjinnTesting"]),
        .testTarget(name: "DjinnRedisTests", dependencies: ["DjinnRedis", "DjinnTesting"]),
        .testTarget(name: "DjinnCryptoTests", dependencies: ["DjinnCrypto"]),
        .testTarget(name: "DjinnJobsTests", dependencies: ["DjinnJobs"]),
        .testTarget(name: "DjinnRunnerTests", dependencies: ["DjinnRunner"]),
        .testTarget(name: "DjinnSSHTests", dependencies: ["DjinnSSH", "DjinnTesting"]),
        .testTarget(name: "DjinnQEMUTests", dependencies: ["DjinnQEMU"]),
        .testTarget(name: "DjinnQueueTests", dependencies: ["DjinnQueue", "DjinnTesting"]),
        .testTarget(name: "DjinnManifestTests", dependencies: ["DjinnManifest"]),
        .testTarget(
            name: "DjinnBuildsTests",
            dependencies: [
                "DjinnBuilds", "DjinnManifest", "DjinnPostgres", "DjinnRedis", "DjinnJobs", "DjinnQueue",
                "DjinnSchema", "DjinnTesting", .product(name: "Logging", package: "swift-log"),
            ]
        ),
        .testTarget(
            name: "DjinnCtlTests",
            dependencies: [
                "DjinnBuilds", "DjinnManifest", "DjinnPostgres", "DjinnRedis", "DjinnJobs", "DjinnQueue",
                "DjinnSchema", "DjinnTesting", "DjinnCtlCommands", .product(name: "Logging", package: "swift-log"),
            ]
        ),
        .testTarget(
            name: "DjinnSchedulerTests",
            dependencies: [
                "DjinnScheduler", "DjinnBuilds", "DjinnManifest", "DjinnPostgres", "DjinnRedis", "DjinnJobs", "DjinnQueue",
                "DjinnSchema", "DjinnTesting", .product(name: "Logging", package: "swift-log"),
                .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
            ]
        ),
        .testTarget(
            name: "DjinnSchemaTests",
            dependencies: ["DjinnSchema", "DjinnPostgres", "DjinnTesting", .product(name: "Logging", package: "swift-log")]
        ),
        .testTarget(
            name: "DjinnWorkerTests",
            dependencies: [
                "DjinnWorker", "DjinnBuilds", "DjinnConfig", "DjinnCrypto", "DjinnJobs", "DjinnManifest", "DjinnPostgres",
                "DjinnQueue", "DjinnRedis", "DjinnRunner", "DjinnSchema", "DjinnTesting", "DockerEngine", "DjinnNotify",
                .product(name: "Crypto", package: "swift-crypto"),
                .product(name: "Logging", package: "swift-log"),
            ]
        ),
        .testTarget(
            name: "DjinnConsumerTests",
            dependencies: [
                "DjinnConsumer", "DjinnConfig", "DjinnPostgres", "DjinnRedis", "DjinnJobs", "DjinnQueue", "DjinnSchema",
                "DjinnTesting", "DjinnNotify", "DjinnCrypto", .product(name: "Logging", package: "swift-log"),
            ]
        ),
        .testTarget(
            name: "DjinnNotifyTests",
            dependencies: [
                "DjinnNotify", "DjinnConfig", "DjinnCrypto", "DjinnPostgres", "DjinnSchema", "DjinnTesting",
                .product(name: "Crypto", package: "swift-crypto"),
                .product(name: "Logging", package: "swift-log"),
            ]
        ),
        .testTarget(
            name: "DjinnDaemonTests",
            dependencies: ["DjinnDaemon", "DjinnWorker", "DjinnScheduler", "DjinnConsumer", "DjinnCtlCommands", "DjinnTesting"]
        ),
    ]
)
