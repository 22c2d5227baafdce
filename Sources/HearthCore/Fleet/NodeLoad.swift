/// A node's live state as last reported (by telemetry in the gateway, by the engine model in the simulator).
///
/// Times are in the caller's seconds; `asOf` is when the figures were true, so the performance model can
/// age them (`prefillBacklogSeconds` and `nextSlotFreeSeconds` count down from `asOf`).
public struct NodeLoad: Sendable, Hashable, Codable {
    /// Sequences holding a slot: prefilling or decoding.
    public var runningSequences: Int
    /// Sequences on the node waiting for a slot.
    public var waitingSequences: Int
    /// Prefill work queued or in progress, in seconds at the node's current prefill rate.
    public var prefillBacklogSeconds: Double
    /// When a full node expects its next slot to free, in seconds after `asOf` (0 when unknown or not full).
    public var nextSlotFreeSeconds: Double
    public var asOf: Double
    /// False while the node drains, is quarantined or is over its power budget.
    public var isAdmitting: Bool

    public init(
        runningSequences: Int = 0, waitingSequences: Int = 0, prefillBacklogSeconds: Double = 0,
        nextSlotFreeSeconds: Double = 0, asOf: Double = 0, isAdmitting: Bool = true
    ) {
        self.runningSequences = runningSequences
        self.waitingSequences = waitingSequences
        self.prefillBacklogSeconds = prefillBacklogSeconds
        self.nextSlotFreeSeconds = nextSlotFreeSeconds
        self.asOf = asOf
        self.isAdmitting = isAdmitting
    }

    /// Requests on the node, running or waiting.
    @inlinable public var outstanding: Int { runningSequences + waitingSequences }
}
