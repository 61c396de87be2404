import ArgumentParser
import DjinnBuilds
import DjinnConsumer
import DjinnQueue

/// `djinnctl image add`.
struct ImageCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "image",
        abstract: "Manage driver images.",
        subcommands: [AddImage.self],
        helpNames: [.short, .long, .customLong("help", withSingleDash: true)])
}

/// `djinnctl image add -config FILE -user NAME -name NAME URL`.
struct AddImage: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "add",
        abstract: "Create a qemu image from a download URL and queue its download, as Djinn's server does.",
        discussion: """
            Writes the images and image_downloads rows (the source redacted and lower-cased) and \
            queues a download job on the jobs queue for djinn-consumer. URL: http, https or sftp \
            (sftp needs user and password in the URL; ?timeout=DURATION sets its connect timeout). \
            Prints the image's id.
            """,
        helpNames: [.short, .long, .customLong("help", withSingleDash: true)])

    @OptionGroup var options: ConfigOption

    @Option(
        name: [.customLong("user", withSingleDash: true), .customLong("user")],
        help: ArgumentHelp("The owner's username.", valueName: "name"))
    var user: String

    @Option(
        name: [.customLong("name", withSingleDash: true), .customLong("name")],
        help: ArgumentHelp("The image's name (letters, digits, - and _).", valueName: "name"))
    var name: String

    @Argument(help: ArgumentHelp("Where to download the image from.", valueName: "url"))
    var url: String

    func run() async throws {
        let image = try await withDatabase(config: options.config) { pool in
            try await withRedis(config: options.config) { redis in
                guard let owner = try await UserStore(pool).find(username: user) else {
                    throw CLIError("no user \(user) (add one with djinnctl user add)")
                }
                let registrar = ImageRegistrar(
                    pool: pool, producer: QueueProducer(client: redis, queue: ConsumerProgram.queueName))
                do {
                    return try await registrar.register(userID: owner.id, name: name, source: url)
                } catch let error as ImageRegistrationError {
                    throw CLIError(error.description)
                }
            }
        }
        Terminal.write("image \(image.name) added with id \(image.id); download \(image.downloadID) queued on \(ConsumerProgram.queueName)\n")
    }
}
