/// The nodes that serve one model, with their profiles for it, laid out for fast scans.
public struct ModelPool: Sendable {
    public let model: String
    /// Indices into the ``FleetState``'s nodes.
    public internal(set) var nodeIndices: [Int]
    /// `profiles[i]` is node `nodeIndices[i]`'s profile for ``model``.
    public internal(set) var profiles: [NodeProfile]
    public internal(set) var contextTokens: [Int]
    /// Sum of `outstanding` over the pool's nodes.
    public internal(set) var totalOutstanding: Int
    /// Sum of `maxBatch` over the pool's nodes.
    public internal(set) var totalSlots: Int

    public var count: Int { nodeIndices.count }
}
