/// Which gateway each of a node's tunnels dials: a node keeps tunnels to several gateway replicas at once (issue 14),
/// so that losing one leaves the others serving, and it never dials one replica twice.
///
/// The node's connection loops ask ``pick(now:)`` for an address before every dial and report how the tunnel ended.
/// The roster prefers an address no other tunnel uses, then the one whose last failure lies furthest back (a replica
/// that just failed or said it is going away is tried last), then the next in its rotation. Each node starts its
/// rotation at its own offset, so that a street of nodes with the same list does not pile onto its first entry.
///
/// Addresses come from the node's configuration and name resolution, at every pick (``update(_:)``): a name that
/// resolves to several addresses counts as several replicas; an address that is gone is dropped, even while a
/// tunnel uses it (that tunnel runs on until it ends).
public struct GatewayRoster<Address: Hashable & Sendable>: Sendable {
    private struct Entry: Sendable {
        var address: Address
        var inUse = false
        /// Failures since the last tunnel that registered.
        var failures = 0
        /// When the address last failed or announced it was going away (nil: never).
        var lastSetback: Double?
    }

    private var entries: [Entry] = []
    private var cursor: Int
    /// How long a replica that failed or went away is passed over while another one is free, seconds.
    public let setbackSeconds: Double

    /// - Parameters:
    ///   - rotationOffset: where this node starts its rotation (derive it from the node's id).
    ///   - setbackSeconds: how long a replica that failed or went away is passed over while another is free.
    public init(addresses: [Address] = [], rotationOffset: Int = 0, setbackSeconds: Double = 30) {
        cursor = rotationOffset
        self.setbackSeconds = setbackSeconds
        update(addresses)
    }

    /// The addresses known now, in rotation order.
    public var addresses: [Address] { entries.map(\.address) }

    /// How many addresses no tunnel uses.
    public var freeCount: Int { entries.count { !$0.inUse } }

    /// Replaces the known addresses with `addresses` (duplicates dropped), keeping what was learnt about those that stay.
    public mutating func update(_ addresses: [Address]) {
        var seen = Set<Address>()
        var updated: [Entry] = []
        for address in addresses where seen.insert(address).inserted {
            updated.append(entries.first { $0.address == address } ?? Entry(address: address))
        }
        entries = updated
    }

    /// The address a tunnel should dial now, marked in use until ``ended(_:registered:now:)``; nil when every known
    /// address already carries a tunnel of this node.
    public mutating func pick(now: Double) -> Address? {
        guard !entries.isEmpty else { return nil }
        var best: Int?
        var bestRank = (Int.max, Int.max)
        for step in 0..<entries.count {
            let index = (cursor + step) % entries.count
            let entry = entries[index]
            guard !entry.inUse else { continue }
            let resting = entry.lastSetback.map { now - $0 < setbackSeconds } ?? false
            let rank = (resting ? 1 : 0, entry.failures)
            if best == nil || rank < bestRank {
                best = index
                bestRank = rank
            }
        }
        guard let best else { return nil }
        entries[best].inUse = true
        cursor = (best + 1) % entries.count
        return entries[best].address
    }

    /// A tunnel to `address` ended (or its dial failed): the replica closed it or died, so the next tunnel prefers
    /// another for a while. `registered`: the gateway had welcomed the node on it, so the replica worked and its
    /// failures are forgotten; otherwise the address counts one more failure.
    public mutating func ended(_ address: Address, registered: Bool, now: Double) {
        guard let index = entries.firstIndex(where: { $0.address == address }), entries[index].inUse else { return }
        entries[index].inUse = false
        entries[index].failures = registered ? 0 : entries[index].failures + 1
        entries[index].lastSetback = now
    }

    /// `address` said it is going away (a drain): the next tunnel prefers another replica for a while.
    public mutating func goingAway(_ address: Address, now: Double) {
        guard let index = entries.firstIndex(where: { $0.address == address }) else { return }
        entries[index].lastSetback = now
    }
}
