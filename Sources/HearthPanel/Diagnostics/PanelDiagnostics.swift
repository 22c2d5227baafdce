/// Counters of what a panel client accepted and refused, for the agent to log or export as metrics.
public struct PanelDiagnostics: Sendable, Hashable {
    /// Messages that changed the panel's state (values, `$state`, `$description`).
    public var accepted: Int = 0
    /// Messages that were ignored by design (commands on `/set`, `$target`, properties Hearth does not read).
    public var ignored: Int = 0
    /// Rejections by kind.
    public private(set) var rejections: [PanelRejection.Kind: Int] = [:]
    /// The most recent rejection.
    public private(set) var lastRejection: PanelRejection?

    public init() {}

    /// How many rejections of `kind` there have been.
    public func count(of kind: PanelRejection.Kind) -> Int { rejections[kind, default: 0] }

    /// All rejections together.
    public var totalRejections: Int { rejections.values.reduce(0, +) }

    mutating func record(_ rejection: PanelRejection) {
        rejections[rejection.kind, default: 0] += 1
        lastRejection = rejection
    }
}
