/// A grid demand-response event as Hearth applies it: one interval of one OpenADR 3.1 event.
///
/// Times are in the caller's seconds (Unix seconds when built from OpenADR; simulated seconds in HearthSim).
/// `randomizeStart` is honoured per node: each targeted node starts (and, so that the interval keeps its
/// length and restores are staggered too, ends) at a deterministic offset in `[0, randomizeStart]` derived
/// from the event and node identifiers, so a VTN's "spread the rebound" request holds without hidden
/// randomness. The event's *deadline* — by when every targeted node must comply — is
/// `start + randomizeStart`.
public struct GridEvent: Sendable, Hashable, Codable {
    public enum Signal: Sendable, Hashable, Codable {
        /// OpenADR `IMPORT_CAPACITY_LIMIT`: the targeted resource may import at most this many kW.
        /// Hearth enrols nodes (not whole homes) as resources, so the limit applies to the node's draw.
        case importCapacityLimit(kilowatts: Double)
        /// OpenADR `SIMPLE`: 0 normal, 1 moderate, 2 high, 3 special (emergency) shed.
        case simple(level: Int)
    }

    public var id: String
    public var programID: String?
    public var signal: Signal
    public var start: Double
    /// Seconds; `.infinity` for an open-ended event (OpenADR `P9999Y`).
    public var duration: Double
    /// Seconds over which nodes' starts are spread (0: all at `start`).
    public var randomizeStart: Double
    /// OpenADR 3.1 target strings (node ids, or groups such as a transformer or feeder); empty targets all.
    public var targets: [String]
    /// What a node's start offset is drawn from (nil: ``id``): the OpenADR event's id, shared by all its intervals,
    /// so that back-to-back intervals keep one offset per node and leave no uncapped gap between them.
    public var offsetKey: String?

    public init(
        id: String, programID: String? = nil, signal: Signal, start: Double, duration: Double, randomizeStart: Double = 0,
        targets: [String] = [], offsetKey: String? = nil
    ) {
        self.offsetKey = offsetKey
        self.id = id
        self.programID = programID
        self.signal = signal
        self.start = start
        self.duration = duration
        self.randomizeStart = max(0, randomizeStart.isFinite ? randomizeStart : 0)
        self.targets = targets
    }

    /// By when every targeted node must comply.
    public var deadline: Double { start + randomizeStart }

    /// Whether the event names `node` (by id or by one of its groups). No targets means every node.
    public func targets(node: String, groups: Set<String>) -> Bool {
        targets.isEmpty || targets.contains { $0 == node || groups.contains($0) }
    }

    /// This node's start offset in `[0, randomizeStart]`, uniform over the window: FNV-1a of "event|node" through
    /// SplitMix64's finaliser (FNV alone barely moves its high bits for ids that differ in their last character, which
    /// put such nodes within a millisecond of each other), so it is stable across processes and runs.
    public func startOffset(for node: String) -> Double {
        guard randomizeStart > 0 else { return 0 }
        var hash: UInt64 = 0xCBF2_9CE4_8422_2325
        for byte in (offsetKey ?? id).utf8 { hash = (hash ^ UInt64(byte)) &* 0x100_0000_01B3 }
        hash = (hash ^ 0x7C) &* 0x100_0000_01B3
        for byte in node.utf8 { hash = (hash ^ UInt64(byte)) &* 0x100_0000_01B3 }
        hash = (hash ^ (hash >> 30)) &* 0xBF58_476D_1CE4_E5B9
        hash = (hash ^ (hash >> 27)) &* 0x94D0_49BB_1331_11EB
        hash ^= hash >> 31
        return randomizeStart * Double(hash >> 11) * 0x1.0p-53
    }

    /// When the event is in force for `node`: its start moved by the node's offset, for the event's duration.
    public func window(for node: String) -> (begin: Double, end: Double) {
        let begin = start + startOffset(for: node)
        return (begin, begin + duration)
    }

    /// Whether the event is in force for `node` at `t`.
    public func isActive(for node: String, at t: Double) -> Bool {
        let window = window(for: node)
        return t >= window.begin && t < window.end
    }

    /// Whether the event is in force for `node` at some time in `[from, to)`.
    public func isActive(for node: String, from: Double, to: Double) -> Bool {
        let window = window(for: node)
        return window.begin < to && from < window.end
    }
}
