/// Why a build was not created, or not queued.
public enum BuildSubmissionError: Error, Sendable, Equatable, CustomStringConvertible {
    /// The manifest's queue key is not a driver Djinn knows.
    case unknownDriver(String)
    /// A driver Djinn knows, but not one this producer may submit to.
    case driverDisabled(String)
    /// No user with this id (the submitter).
    case userNotFound(Int64)
    /// The manifest's namespace does not parse.
    case invalidNamespace(String)
    /// `path@owner` names a user that does not exist.
    case namespaceOwnerNotFound(namespace: String, owner: String)
    /// The submitter neither owns the namespace nor collaborates on it.
    case notCollaborator(namespace: String, username: String)
    /// The build was created and committed, but could not be put on its queue; it has been
    /// marked failed with this reason (`markedFailed` false if even that did not work).
    case enqueueFailed(buildID: Int64, number: Int64, queue: String, reason: String, markedFailed: Bool)

    public var description: String {
        switch self {
        case .unknownDriver(let key): "driver error: \(key) - unknown driver"
        case .driverDisabled(let key): "driver error: \(key) - driver disabled"
        case .userNotFound(let id): "no user with id \(id)"
        case .invalidNamespace(let message): message
        case .namespaceOwnerNotFound(let namespace, let owner): "namespace \(namespace): invalid owner: no user \(owner)"
        case .notCollaborator(let namespace, let username):
            "cannot submit to namespace \(namespace): \(username) is not a collaborator"
        case .enqueueFailed(let id, let number, let queue, let reason, let markedFailed):
            "build \(id) (#\(number)) was created but could not be queued on \(queue): \(reason)"
                + (markedFailed ? "; it is marked failed" : "; marking it failed did not work either")
        }
    }
}
