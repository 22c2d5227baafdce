/// Which of a node's heartbeats ask the gateway for an echo, the probe its link estimate is made of.
///
/// Each echo costs the gateway an encrypt, a flush and a `write` on that node's socket, which no batching can share;
/// a fleet of idle nodes probing every second was most of an idle gateway's work. So probes are dense whenever the
/// link matters or is in doubt (streams running, the link degraded or losing probes, a fresh tunnel still measuring)
/// and sparse on an idle node whose link is measured and good. Every heartbeat is still sent: liveness is unchanged.
public struct LinkProbePacer: Sendable, Hashable {
    /// On an idle node with a good, measured link: one heartbeat in this many is a probe.
    public let idleEvery: Int
    /// Probes a tunnel sends at every heartbeat before they may thin out.
    public let warmUpProbes: Int
    private var sinceProbe = 0
    private var probes = 0

    public init(idleEvery: Int = 4, warmUpProbes: Int = 8) {
        self.idleEvery = max(1, idleEvery)
        self.warmUpProbes = max(0, warmUpProbes)
    }

    /// Whether the heartbeat about to be sent asks for an echo.
    /// - Parameter busy: the node runs streams now (its link's RTT goes into their scheduling).
    /// - Parameter linkInDoubt: the link is degraded or has lost probes lately.
    public mutating func nextIsProbe(busy: Bool, linkInDoubt: Bool) -> Bool {
        let probe = busy || linkInDoubt || probes < warmUpProbes || sinceProbe + 1 >= idleEvery
        if probe {
            sinceProbe = 0
            probes += 1
        } else {
            sinceProbe += 1
        }
        return probe
    }
}
