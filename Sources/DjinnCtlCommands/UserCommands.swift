import ArgumentParser
import DjinnBuilds

/// `djinnctl user add`.
struct UserCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "user",
        abstract: "Manage users for local use.",
        subcommands: [AddUser.self],
        helpNames: [.short, .long, .customLong("help", withSingleDash: true)])
}

/// `djinnctl user add -config FILE NAME EMAIL`.
struct AddUser: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "add",
        abstract: "Add a verified user without a password (it cannot log in to the server; builds can be submitted for it).",
        helpNames: [.short, .long, .customLong("help", withSingleDash: true)])

    @OptionGroup var options: ConfigOption

    @Argument(help: ArgumentHelp("The username.", valueName: "name"))
    var name: String

    @Argument(help: ArgumentHelp("The email address.", valueName: "email"))
    var email: String

    func run() async throws {
        let user = try await withDatabase(config: options.config) { pool in
            do {
                return try await UserStore(pool).add(username: name, email: email)
            } catch let error as UserError {
                throw CLIError(error.description)
            }
        }
        Terminal.write("user \(user.username) added with id \(user.id)\n")
    }
}
