/// Djinn's webhook events and their bits in `namespace_webhooks.events` (spec §4.9).
public enum WebhookEvent: String, Sendable, CaseIterable {
    case buildSubmitted = "build.submitted"
    case buildStarted = "build.started"
    case buildFinished = "build.finished"
    case buildTagged = "build.tagged"
    case inviteSent = "invite.sent"
    case inviteAccepted = "invite.accepted"
    case inviteRejected = "invite.rejected"
    case namespaces
    case cron
    case images
    case objects
    case variables
    case sshKeys = "ssh_keys"
    case buildPinned = "build.pinned"
    case buildUnpinned = "build.unpinned"

    /// 1 << position in the list above.
    public var bit: Int64 {
        Int64(1) << Int64(Self.allCases.firstIndex(of: self)!)
    }

    /// Whether a webhook subscribed to `mask` wants this event.
    public func isSelected(by mask: Int64) -> Bool { mask & bit != 0 }
}
