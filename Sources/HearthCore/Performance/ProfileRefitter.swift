/// Keeps one node's profile for one model in step with what its answers show: the gateway's refit, as a pure state
/// machine. Answer samples go in; now and then a profile to install comes out.
///
/// - Every ``Configuration/refitEvery`` samples the profile is refitted from the last ``Configuration/windowSamples``
///   only: older answers are forgotten, so a node is not held to what it was an hour ago.
/// - Drift: when the median ratio of observed to predicted prefill, or of observed to predicted decode step, over the
///   last ``Configuration/driftSamples`` leaves ``Configuration/driftTolerance``, the profile is refitted at once from
///   the samples that drifted, and the rest of the window is dropped (it describes the node as it was). Until the
///   window refills, the profile is refitted every ``Configuration/settlingRefitEvery`` samples. A profile 3× off
///   corrects in a handful of answers instead of waiting for a full window (figures in docs/SCHEDULER.md).
/// - Safety: a refit never promises more than the node's ``HardwareBounds``, and samples resting on the node's own
///   figures (``AnswerTiming/isClaimed``) may slow the profile down, never speed it up: only the gateway's clock may
///   find a node faster than it was thought.
/// - Admission plays no part: a sample from a best-effort placement counts like any other, so a profile too
///   pessimistic for any target still corrects while best-effort requests flow. (A request refused outright is never
///   observed: under strict targets only, a pessimistic profile that refuses everything stays wrong.)
///
/// Samples are kept at full power (divided by the power cap in force when they arrive), as is the profile refitted.
public struct ProfileRefitter: Sendable {
    public struct Configuration: Sendable, Hashable {
        /// Samples between refits while the profile holds.
        public var refitEvery: Int
        /// Most recent samples a refit uses.
        public var windowSamples: Int
        /// Recent samples the drift test takes the median over (it runs once half of them are in).
        public var driftSamples: Int
        /// Observed over predicted ratios the profile is trusted within.
        public var driftTolerance: ClosedRange<Double>
        /// Samples between refits after a drift, until the window holds ``refitEvery`` samples again.
        public var settlingRefitEvery: Int

        public init(
            refitEvery: Int = 16, windowSamples: Int = 32, driftSamples: Int = 8, driftTolerance: ClosedRange<Double> = 0.67...1.5,
            settlingRefitEvery: Int = 4
        ) {
            self.refitEvery = max(1, refitEvery)
            self.windowSamples = max(2, windowSamples)
            self.driftSamples = max(2, driftSamples)
            self.driftTolerance = driftTolerance
            self.settlingRefitEvery = max(1, settlingRefitEvery)
        }
    }

    struct Entry: Sendable, Hashable {
        var sample: CalibrationSample
        var isClaimed: Bool
    }

    public let configuration: Configuration
    /// What the node's declared hardware allows; nil: unbounded (the simulator, tests).
    public let bounds: HardwareBounds?
    /// Recent samples at full power, oldest first.
    private(set) var window: [Entry] = []
    private var sinceRefit = 0
    private var settling = false
    /// Refits so far (a refit that changes nothing counts too).
    public private(set) var refits = 0
    /// Drifts detected so far.
    public private(set) var drifts = 0

    public init(configuration: Configuration = Configuration(), bounds: HardwareBounds? = nil) {
        self.configuration = configuration
        self.bounds = bounds
    }

    /// Takes one answer's timing; returns the profile to install instead of `current`, or nil to keep it.
    public mutating func observe(_ timing: AnswerTiming, current: NodeProfile) -> NodeProfile? {
        guard let sample = timing.sample else { return nil }
        return observe(sample, isClaimed: timing.isClaimed, current: current)
    }

    /// Takes one sample (`isClaimed`: it rests on the node's own figures); returns the profile to install instead of
    /// `current`, or nil to keep it.
    public mutating func observe(_ sample: CalibrationSample, isClaimed: Bool, current: NodeProfile) -> NodeProfile? {
        guard let normalised = Self.atFullPower(sample, profile: current) else { return nil }
        window.append(Entry(sample: normalised, isClaimed: isClaimed))
        if window.count > configuration.windowSamples { window.removeFirst(window.count - configuration.windowSamples) }
        sinceRefit += 1
        if let drifted = driftedEntries(against: current.atFullPower) {
            drifts += 1
            window = drifted
            settling = true
            return refit(current)
        }
        if settling, window.count >= configuration.refitEvery { settling = false }
        guard sinceRefit >= (settling ? configuration.settlingRefitEvery : configuration.refitEvery) else { return nil }
        return refit(current)
    }

    /// The samples of the recent run that show the drift, or nil when the recent median is within tolerance.
    private func driftedEntries(against reference: NodeProfile) -> [Entry]? {
        let recent = window.suffix(configuration.driftSamples)
        guard recent.count * 2 >= configuration.driftSamples else { return nil }
        let prefill = recent.map { Self.prefillRatio($0.sample, reference) }
        let decode = recent.map { Self.decodeRatio($0.sample, reference) }
        let tolerance = configuration.driftTolerance
        let prefillSide = Self.median(prefill.compactMap { $0 }).map { Side(of: $0, in: tolerance) } ?? .within
        let decodeSide = Self.median(decode.compactMap { $0 }).map { Side(of: $0, in: tolerance) } ?? .within
        guard prefillSide != .within || decodeSide != .within else { return nil }
        // Keep the samples that lie beyond the tolerance on the side the median went: the node as it is now.
        let drifted = zip(recent, zip(prefill, decode)).filter { _, ratios in
            (prefillSide != .within && ratios.0.map { Side(of: $0, in: tolerance) } == prefillSide)
                || (decodeSide != .within && ratios.1.map { Side(of: $0, in: tolerance) } == decodeSide)
        }
        return drifted.map(\.0)
    }

    private enum Side: Equatable {
        case below, within, above

        init(of ratio: Double, in tolerance: ClosedRange<Double>) {
            self = ratio < tolerance.lowerBound ? .below : ratio > tolerance.upperBound ? .above : .within
        }
    }

    /// Refits from the window: the gateway-timed samples set the profile; claimed ones may only slow it.
    private mutating func refit(_ current: NodeProfile) -> NodeProfile? {
        sinceRefit = 0
        refits += 1
        let reference = current.atFullPower
        let timed = window.filter { !$0.isClaimed }.map(\.sample)
        var refined = timed.isEmpty ? reference : Self.estimate(from: timed, reference: reference)
        if timed.count < window.count {
            // The slower of the two in every term: a node may admit to being slow, never claim to be fast.
            refined = refined.noFaster(than: Self.estimate(from: window.map(\.sample), reference: reference))
        }
        if let bounds { refined = refined.clamped(to: bounds) }
        refined.model = current.model
        refined.maxBatch = current.maxBatch
        refined.prefixCacheBlocks = current.prefixCacheBlocks
        refined.linkRTTSeconds = current.linkRTTSeconds
        refined.typicalOutputTokens = current.typicalOutputTokens
        refined.powerCapFactor = current.powerCapFactor
        return refined == current ? nil : refined
    }
}

extension ProfileRefitter {
    /// A profile's speed terms fitted to `samples`, its other fields `reference`'s.
    ///
    /// Where at least ``fitMinimumSamples`` samples span a range (prompts or batches at least 2× apart) a line fits
    /// both terms, by least squares on relative error (weights 1 / predicted², since timing noise is proportional:
    /// one long prompt must not outweigh ten short ones). Otherwise (few samples, every prompt alike, every answer
    /// alone on the node) the reference's terms are scaled by the median ratio of observed to predicted, which keeps
    /// the reference's shape and moves its level: what a busy machine does to every term alike.
    static func estimate(from samples: [CalibrationSample], reference: NodeProfile) -> NodeProfile {
        var profile = reference
        let prefill = samples.filter { $0.promptTokens > 0 && $0.prefillSeconds > 0 }
        let prefillLine = spreadFit(
            prefill.map { (Double($0.promptTokens), $0.prefillSeconds, reference.prefillSeconds(tokens: $0.promptTokens)) })
        if let line = prefillLine, line.slope > 0 {
            profile.prefillTokensPerSecond = 1 / line.slope
            profile.prefillOverheadSeconds = line.intercept
        } else if let ratio = median(prefill.compactMap { prefillRatio($0, reference) }) {
            profile.prefillTokensPerSecond = reference.prefillTokensPerSecond / ratio
            profile.prefillOverheadSeconds = reference.prefillOverheadSeconds * ratio
        }
        let decode = samples.filter { $0.batchSize > 0 && $0.decodeStepSeconds > 0 }
        let decodeLine = spreadFit(
            decode.map { (Double($0.batchSize), $0.decodeStepSeconds, reference.decodeStepSeconds(batch: $0.batchSize)) })
        if let line = decodeLine, line.slope >= 0, line.intercept > 0 {
            profile.decodeBaseSeconds = line.intercept
            profile.decodePerSequenceSeconds = line.slope
        } else if let ratio = median(decode.compactMap { decodeRatio($0, reference) }) {
            profile.decodeBaseSeconds = reference.decodeBaseSeconds * ratio
            profile.decodePerSequenceSeconds = reference.decodePerSequenceSeconds * ratio
        }
        return profile
    }

    /// Fewest samples a line is fitted to; fewer only scale the reference.
    static let fitMinimumSamples = 8

    /// Weighted least squares `y = a + b x` over `(x, y, predicted y)` points, weight 1 / predicted², when the x values
    /// span at least a factor of 2 over ``fitMinimumSamples`` points or more; a negative intercept (noise around a
    /// small overhead) refits the line through the origin. Nil without enough points or spread.
    static func spreadFit(_ points: [(x: Double, y: Double, predicted: Double)]) -> (intercept: Double, slope: Double)? {
        guard points.count >= fitMinimumSamples, let low = points.map(\.x).min(), let high = points.map(\.x).max(), low > 0,
            high >= 2 * low
        else { return nil }
        let weights = points.map { $0.predicted.isFinite && $0.predicted > 0 ? 1 / ($0.predicted * $0.predicted) : 1 }
        let total = weights.reduce(0, +)
        guard total.isFinite, total > 0 else { return nil }
        let meanX = zip(points, weights).reduce(0) { $0 + $1.1 * $1.0.x } / total
        let meanY = zip(points, weights).reduce(0) { $0 + $1.1 * $1.0.y } / total
        var sxx = 0.0
        var sxy = 0.0
        for (point, weight) in zip(points, weights) {
            sxx += weight * (point.x - meanX) * (point.x - meanX)
            sxy += weight * (point.x - meanX) * (point.y - meanY)
        }
        guard sxx > 0 else { return nil }
        let slope = sxy / sxx
        let intercept = meanY - slope * meanX
        if intercept >= 0 { return slope.isFinite ? (intercept, slope) : nil }
        let throughOrigin =
            zip(points, weights).reduce(0) { $0 + $1.1 * $1.0.x * $1.0.y }
            / zip(points, weights).reduce(0) { $0 + $1.1 * $1.0.x * $1.0.x }
        return throughOrigin.isFinite ? (0, throughOrigin) : nil
    }

    /// Observed over predicted prefill; nil when either is not a finite positive number.
    static func prefillRatio(_ sample: CalibrationSample, _ profile: NodeProfile) -> Double? {
        guard sample.promptTokens > 0 else { return nil }
        return ratio(sample.prefillSeconds, profile.prefillSeconds(tokens: sample.promptTokens))
    }

    /// Observed over predicted decode step; nil when either is not a finite positive number.
    static func decodeRatio(_ sample: CalibrationSample, _ profile: NodeProfile) -> Double? {
        guard sample.batchSize > 0 else { return nil }
        return ratio(sample.decodeStepSeconds, profile.decodeStepSeconds(batch: sample.batchSize))
    }

    private static func ratio(_ observed: Double, _ predicted: Double) -> Double? {
        guard observed.isFinite, observed > 0, predicted.isFinite, predicted > 0 else { return nil }
        let ratio = observed / predicted
        return ratio.isFinite && ratio > 0 ? ratio : nil
    }

    static func median(_ values: [Double]) -> Double? {
        guard !values.isEmpty else { return nil }
        let sorted = values.sorted()
        let middle = sorted.count / 2
        return sorted.count % 2 == 1 ? sorted[middle] : (sorted[middle - 1] + sorted[middle]) / 2
    }

    /// `sample` as it would have run at full power under `profile`'s power cap, or nil when it holds nothing usable
    /// (non-finite or negative figures, no prefill and no decode part).
    static func atFullPower(_ sample: CalibrationSample, profile: NodeProfile) -> CalibrationSample? {
        let prefillUsable = sample.promptTokens > 0 && sample.prefillSeconds.isFinite && sample.prefillSeconds > 0
        let decodeUsable = sample.batchSize > 0 && sample.decodeStepSeconds.isFinite && sample.decodeStepSeconds > 0
        guard prefillUsable || decodeUsable else { return nil }
        let cap = profile.powerCapFactor.isFinite ? min(1, max(0.05, profile.powerCapFactor)) : 1
        var normalised = sample
        if prefillUsable {
            // The cap slows the compute-bound part, not the fixed overhead (see NodeProfile).
            let overhead = min(max(0, profile.prefillOverheadSeconds.isFinite ? profile.prefillOverheadSeconds : 0), sample.prefillSeconds)
            normalised.prefillSeconds = overhead + (sample.prefillSeconds - overhead) * cap
        } else {
            normalised.prefillSeconds = 0
        }
        normalised.decodeStepSeconds = decodeUsable ? sample.decodeStepSeconds * (0.5 + 0.5 * cap) : 0
        return normalised
    }
}

extension NodeProfile {
    /// This profile without its power cap.
    var atFullPower: NodeProfile {
        var profile = self
        profile.powerCapFactor = 1
        return profile
    }
}
