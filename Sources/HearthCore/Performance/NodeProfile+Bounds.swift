extension NodeProfile {
    /// This profile held within what `bounds` allow: never faster than the hardware (prefill rate at most its
    /// maximum, decode step at batch 1 at least its minimum), never more sequences than its slots, no negative terms
    /// (fit noise), no non-finite numbers. A node can look slower than its hardware, never faster.
    public func clamped(to bounds: HardwareBounds) -> NodeProfile {
        var profile = self
        func finite(_ value: Double, or fallback: Double) -> Double { value.isFinite ? value : fallback }
        profile.prefillTokensPerSecond = min(
            finite(prefillTokensPerSecond, or: bounds.maximumPrefillTokensPerSecond), bounds.maximumPrefillTokensPerSecond)
        if !(profile.prefillTokensPerSecond > 0) { profile.prefillTokensPerSecond = bounds.maximumPrefillTokensPerSecond }
        profile.prefillOverheadSeconds = max(0, finite(prefillOverheadSeconds, or: 0))
        profile.decodePerSequenceSeconds = max(0, finite(decodePerSequenceSeconds, or: 0))
        // The step at batch 1 is base + per sequence: lift the base so that it cannot undercut the hardware.
        let base = max(0, finite(decodeBaseSeconds, or: bounds.minimumDecodeStepSeconds))
        profile.decodeBaseSeconds = max(base, bounds.minimumDecodeStepSeconds - profile.decodePerSequenceSeconds)
        profile.maxBatch = min(max(1, maxBatch), bounds.maximumSlots)
        profile.linkRTTSeconds = max(0, finite(linkRTTSeconds, or: 0))
        return profile
    }

    /// This profile, but in no respect faster than `other`: the slower of the two in every term. What a refit from
    /// the node's own figures may do (a node may admit to being slow; only the gateway's clock may find it fast).
    public func noFaster(than other: NodeProfile) -> NodeProfile {
        var profile = self
        profile.prefillTokensPerSecond = min(prefillTokensPerSecond, other.prefillTokensPerSecond)
        profile.prefillOverheadSeconds = max(prefillOverheadSeconds, other.prefillOverheadSeconds)
        profile.decodeBaseSeconds = max(decodeBaseSeconds, other.decodeBaseSeconds)
        profile.decodePerSequenceSeconds = max(decodePerSequenceSeconds, other.decodePerSequenceSeconds)
        return profile
    }
}
