import HearthCore

extension SchedulingDecision {
    /// A low-cardinality label for metrics.
    var outcomeLabel: String {
        switch self {
        case .place: "placed"
        case .queue: "queued"
        case .refuse: "refused"
        }
    }
}
