/// What one node can do with one model: the performance model's parameters.
///
/// - Prefill takes `prefillOverheadSeconds + tokens / prefillTokensPerSecond` and runs one prompt at a time.
/// - A decode step (one token for every running sequence) takes
///   `decodeBaseSeconds + decodePerSequenceSeconds × batch`: reading the weights once per step is the
///   base (memory-bandwidth bound), each sequence adds its KV reads and its share of compute.
/// - A power cap `powerCapFactor` (0 < f ≤ 1 of board power) slows prefill (compute-bound) by `f` and
///   decode (mostly memory-bound) by `0.5 + 0.5 f`, a first-order fit to published power-capping studies.
public struct NodeProfile: Sendable, Hashable, Codable {
    public var model: String
    public var prefillTokensPerSecond: Double
    public var prefillOverheadSeconds: Double
    public var decodeBaseSeconds: Double
    public var decodePerSequenceSeconds: Double
    /// Most sequences the engine runs at once (slots).
    public var maxBatch: Int
    /// Prefix-cache capacity in 512-token blocks.
    public var prefixCacheBlocks: Int
    /// Round trip between gateway and node, seconds.
    public var linkRTTSeconds: Double
    /// Fraction of full board power currently allowed, 0 < f ≤ 1.
    public var powerCapFactor: Double
    /// Output length assumed when estimating how long a running request still holds its slot.
    public var typicalOutputTokens: Int

    public init(
        model: String, prefillTokensPerSecond: Double, prefillOverheadSeconds: Double = 0,
        decodeBaseSeconds: Double, decodePerSequenceSeconds: Double, maxBatch: Int,
        prefixCacheBlocks: Int = 0, linkRTTSeconds: Double = 0.02, powerCapFactor: Double = 1, typicalOutputTokens: Int = 256
    ) {
        self.model = model
        self.prefillTokensPerSecond = prefillTokensPerSecond
        self.prefillOverheadSeconds = prefillOverheadSeconds
        self.decodeBaseSeconds = decodeBaseSeconds
        self.decodePerSequenceSeconds = decodePerSequenceSeconds
        self.maxBatch = max(1, maxBatch)
        self.prefixCacheBlocks = prefixCacheBlocks
        self.linkRTTSeconds = linkRTTSeconds
        self.powerCapFactor = powerCapFactor
        self.typicalOutputTokens = typicalOutputTokens
    }

    /// Tokens per prefix-cache block (Mooncake's `hash_ids` granularity).
    public static let blockTokens = 512

    /// Seconds to prefill `tokens` uncached prompt tokens under the current power cap.
    @inlinable
    public func prefillSeconds(tokens: Int) -> Double {
        prefillOverheadSeconds + Double(tokens) / (prefillTokensPerSecond * powerCapFactor)
    }

    /// Seconds for one decode step with `batch` running sequences, under the current power cap.
    @inlinable
    public func decodeStepSeconds(batch: Int) -> Double {
        (decodeBaseSeconds + decodePerSequenceSeconds * Double(max(1, batch))) / (0.5 + 0.5 * powerCapFactor)
    }
}

extension NodeProfile {
    /// Model FLOPs utilisation assumed for prefill on GPUs (vLLM/SGLang reach 40–60 % on dense prefill).
    public static let prefillMFU = 0.4
    /// Achievable share of peak memory bandwidth in decode.
    public static let bandwidthEfficiency = 0.8
    /// Context length assumed per running sequence when sizing KV reads and slots.
    public static let typicalContextTokens = 2048

    /// A first profile from published figures, before any calibration.
    ///
    /// `count` GPUs run the model tensor-parallel at 90 % scaling per added GPU.
    public init(gpu: GPUSpec, count: Int = 1, model: ModelSpec, linkRTTSeconds: Double = 0.02, powerCapFactor: Double = 1) {
        let scale = Double(count) * (count > 1 ? 0.9 : 1)
        let flops = gpu.denseTFLOPS * 1e12 * scale
        let bandwidth = gpu.memoryBandwidthGBps * 1e9 * scale * Self.bandwidthEfficiency
        let flopsPerToken = 2 * model.parametersBillions * 1e9
        let prefillRate = flops * Self.prefillMFU / flopsPerToken
        let base = model.weightBytes / bandwidth
        let perSequence = Double(Self.typicalContextTokens) * model.kvBytesPerToken / bandwidth + flopsPerToken / (flops * Self.prefillMFU)
        let kvBytes = max(0, (gpu.memoryGB * Double(count) - model.weightBytes / 1e9) * 0.9e9)
        let kvTokens = kvBytes / model.kvBytesPerToken
        let slots = Int(kvTokens / Double(2 * Self.typicalContextTokens))
        self.init(
            model: model.id, prefillTokensPerSecond: prefillRate, prefillOverheadSeconds: 0.005,
            decodeBaseSeconds: base, decodePerSequenceSeconds: perSequence,
            maxBatch: min(256, max(1, slots)), prefixCacheBlocks: Int(kvTokens / 2) / Self.blockTokens,
            linkRTTSeconds: linkRTTSeconds, powerCapFactor: powerCapFactor)
    }

    /// Fits a profile to calibration samples by least squares:
    /// `prefillSeconds = overhead + promptTokens / rate` and `decodeStepSeconds = base + perSequence × batch`.
    /// Returns nil when there are no usable prefill or decode samples.
    public static func fit(
        model: String, samples: [CalibrationSample], maxBatch: Int, prefixCacheBlocks: Int = 0, linkRTTSeconds: Double = 0.02
    ) -> NodeProfile? {
        let prefill = samples.filter { $0.promptTokens > 0 && $0.prefillSeconds > 0 }
        let decode = samples.filter { $0.batchSize > 0 && $0.decodeStepSeconds > 0 }
        guard !prefill.isEmpty, !decode.isEmpty else { return nil }
        var (prefillIntercept, prefillSlope) = linearFit(prefill.map { (Double($0.promptTokens), $0.prefillSeconds) })
        if prefillSlope <= 0 || prefillIntercept < 0 {
            let tokens = prefill.reduce(0.0) { $0 + Double($1.promptTokens) }
            prefillSlope = prefill.reduce(0.0) { $0 + $1.prefillSeconds } / tokens
            prefillIntercept = 0
        }
        var (decodeIntercept, decodeSlope) = linearFit(decode.map { (Double($0.batchSize), $0.decodeStepSeconds) })
        if decodeSlope < 0 {
            decodeIntercept = decode.reduce(0.0) { $0 + $1.decodeStepSeconds } / Double(decode.count)
            decodeSlope = 0
        } else if decodeIntercept < 0 {
            decodeIntercept = 0
        }
        return NodeProfile(
            model: model, prefillTokensPerSecond: 1 / prefillSlope, prefillOverheadSeconds: prefillIntercept,
            decodeBaseSeconds: decodeIntercept, decodePerSequenceSeconds: decodeSlope, maxBatch: maxBatch,
            prefixCacheBlocks: prefixCacheBlocks, linkRTTSeconds: linkRTTSeconds)
    }

    /// Ordinary least squares `y = a + b x`; with a single distinct x, a line through the origin.
    static func linearFit(_ points: [(Double, Double)]) -> (intercept: Double, slope: Double) {
        let n = Double(points.count)
        let meanX = points.reduce(0) { $0 + $1.0 } / n
        let meanY = points.reduce(0) { $0 + $1.1 } / n
        var sxx = 0.0
        var sxy = 0.0
        for (x, y) in points {
            sxx += (x - meanX) * (x - meanX)
            sxy += (x - meanX) * (y - meanY)
        }
        if sxx == 0 { return (0, meanX == 0 ? 0 : meanY / meanX) }
        let slope = sxy / sxx
        return (meanY - slope * meanX, slope)
    }
}
