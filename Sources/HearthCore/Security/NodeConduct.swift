/// A node's record of provable lies (impossible counts, heads the gateway will not relay, oversized events): each
/// lie costs the node the stream it was told on; ``threshold`` lies within ``windowSeconds`` cost it its standing.
///
/// An honest node never sends any of these (its engine cannot produce them), so the threshold is there only to
/// keep one corrupted frame from taking a node out of service, not to tolerate a habit.
public struct NodeConduct: Sendable {
    public var threshold: Int
    public var windowSeconds: Double
    private var lies: [NodeID: [Double]] = [:]

    public enum Verdict: Sendable, Equatable {
        /// The node keeps serving; `strikes` lies are on its record within the window.
        case tolerated(strikes: Int)
        /// Take it out of service (quarantine), for `reason`.
        case quarantine(reason: String)
    }

    public init(threshold: Int = 3, windowSeconds: Double = 600) {
        self.threshold = max(1, threshold)
        self.windowSeconds = windowSeconds
    }

    /// Records one lie by `node` at `now` (seconds on any monotonic clock).
    public mutating func lied(_ node: NodeID, _ lie: String, now: Double) -> Verdict {
        var times = lies[node, default: []].filter { now - $0 < windowSeconds }
        times.append(now)
        guard times.count >= threshold else {
            lies[node] = times
            return .tolerated(strikes: times.count)
        }
        lies[node] = nil
        return .quarantine(reason: "\(times.count) provable lies in \(Int(windowSeconds)) s, the last: \(lie)")
    }

    /// Forgets a node (it left the fleet).
    public mutating func forget(_ node: NodeID) { lies[node] = nil }

    public func strikes(of node: NodeID, now: Double) -> Int { lies[node, default: []].filter { now - $0 < windowSeconds }.count }
}
