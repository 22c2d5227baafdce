/// How much slower a GPU runs under a power limit: the mapping from cap (W) to the performance model's factor.
///
/// With `c` = power limit ÷ the GPU's default (board) limit, clamped to [0.05, 1]:
/// - **Prefill** (compute-bound, clocks fall with the cap): relative speed `p(c) = min(1, 0.1 + 0.9 c)`.
///   At 600 W of 700 W (c = 0.857) this gives 0.87, matching the 10–15 % step-time loss reported for H100s
///   capped at 600 W on compute-bound work (and the "5–8 % for a 14 % cut" on mixed inference); at half
///   power 0.55.
/// - **Decode** (memory-bound): relative speed `d(c) = min(1, c / 0.45)`. Decode draws only about 20–45 % of
///   board power (137–300 W on a 700 W H200 across attention designs: Ma, Afzal, Eitzinger, Wellein, "The
///   Illusion of Power Capping in LLM Decode", arXiv:2605.11999, 2026), so a cap above ~45 % barely touches it;
///   consumer cards likewise lose < 1 % decode speed at a 17 % lower limit (RTX 5060 Ti, 180 → 150 W).
///   POLCA (Patel et al., "POLCA: Power Oversubscription in LLM Cloud Providers", arXiv:2308.12908, 2023)
///   reaches the same conclusion for inference clusters: sizeable power headroom at small performance loss.
///
/// The scheduler's ``NodeProfile`` takes one factor `f` (prefill × f, decode ÷ (0.5 + 0.5 f)); Hearth passes
/// ``schedulerFactor(capFraction:)`` = `p(c)`. The profile's decode slowdown for that `f` is then larger than
/// `d(c)`, i.e. the scheduler errs on the slow side, which keeps its SLO predictions safe.
public enum GPUPowerCurve {
    /// Relative prefill speed (1 = uncapped) at cap fraction `c`.
    public static func prefillSpeed(capFraction c: Double) -> Double {
        min(1, 0.1 + 0.9 * clamp(c))
    }

    /// Relative decode speed (1 = uncapped) at cap fraction `c`.
    public static func decodeSpeed(capFraction c: Double) -> Double {
        min(1, clamp(c) / 0.45)
    }

    /// The factor to hand to ``FleetState/setPowerCapFactor(_:at:)`` / ``NodeProfile/powerCapFactor``.
    public static func schedulerFactor(capFraction c: Double) -> Double {
        prefillSpeed(capFraction: c)
    }

    /// Same, from a GPU power limit and the GPU's maximum limit (both summed over the node's GPUs), watts.
    public static func schedulerFactor(capWatts: Double, maxWatts: Double) -> Double {
        guard maxWatts > 0, capWatts.isFinite else { return schedulerFactor(capFraction: 0) }
        return schedulerFactor(capFraction: capWatts / maxWatts)
    }

    static func clamp(_ c: Double) -> Double { c.isFinite ? min(1, max(0.05, c)) : 0.05 }
}
