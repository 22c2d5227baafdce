/// Decides what the energy ledger does with a node's interval, given the intervals it already holds for that node
/// around it: a node is credited for each second at most once, whatever tunnel, restart or slicing it reports through.
///
/// - The same interval again (same start and end) is a resend after a reconnect: already stored, the stored energy
///   stands (a resend with another figure does not replace it).
/// - An interval that shares any time with a stored one is refused: summing both would credit that time twice.
/// - Anything else is new.
public enum EnergyLedgerMerge {
    public enum Outcome: Sendable, Hashable {
        case insert
        case alreadyStored
        case overlapsStored
    }

    /// - Parameter stored: the node's stored intervals that may touch `interval` (any superset will do).
    public static func outcome(of interval: EnergyMeter.Interval, stored: [EnergyMeter.Interval]) -> Outcome {
        if stored.contains(where: { $0.start == interval.start && $0.end == interval.end }) { return .alreadyStored }
        if stored.contains(where: { $0.start < interval.end && interval.start < $0.end }) { return .overlapsStored }
        // Same start, other end, no overlap is impossible for well-formed intervals; a zero-length one is refused too.
        if stored.contains(where: { $0.start == interval.start }) || interval.end <= interval.start { return .overlapsStored }
        return .insert
    }
}
