/// What the hardware a node declared can physically do: no profile it claims or the gateway refits, no slot count and
/// no power it reports may go beyond it, so a node cannot look faster (and attract work) or bigger than its machine.
///
/// A node declares GPU names and CPU cores in its hello. The bounds hold for any model it could serve, so they are
/// taken at the smallest one Hearth assumes (``smallestModelParameters`` at 4 bits: SmolLM2-135M is the smallest
/// served today) and at 100 % of the accelerators' published peaks:
/// - prefill reads no faster than `2 × parameters` FLOPs per token at peak tensor throughput;
/// - a decode step is no shorter than reading the weights once at peak memory bandwidth.
///
/// A GPU name Hearth does not know counts as the fastest it knows (it cannot be bounded below what we have not
/// measured). No GPUs at all is a CPU-only node, bounded by a server CPU's matrix units and memory channels (not
/// ``GPUSpec/cpuNode``'s nominal figures, which model a typical CPU node: a bound must hold for the best one).
public struct HardwareBounds: Sendable, Hashable {
    /// Highest prefill rate for any model, tokens per second.
    public var maximumPrefillTokensPerSecond: Double
    /// Shortest decode step for any model, seconds.
    public var minimumDecodeStepSeconds: Double
    /// Most sequences the node can run at once.
    public var maximumSlots: Int
    /// Most the node can draw at full load, watts; nil when it declared no accelerator, since node agents do not
    /// report their GPUs yet and only the circuit (the caller's own limit) bounds what an undeclared GPU draws.
    public var maximumDrawWatts: Double?

    /// Parameters of the smallest model a node could serve.
    public static let smallestModelParameters = 1e8
    /// Its weights at 4 bits, bytes: what one decode step must read at least.
    public static let smallestModelWeightBytes = smallestModelParameters / 2
    /// A GPU host's own draw at full load (CPU, memory, disks, fans, power-supply losses), watts.
    public static let hostWatts = 400.0
    /// More GPUs than this in one node is not a home machine: the hello is refused.
    public static let maximumGPUs = 16
    /// Sequences one GPU or one CPU core can usefully hold at once (llama.cpp's and vLLM's practical limits).
    public static let slotsPerGPU = 256
    public static let slotsPerCPUCore = 16
    /// CPU cores counted at most (a 256-core server; more is a lie, and counts as this).
    public static let maximumCPUCores = 256
    /// Peak int8 throughput of 16 server cores with matrix units (Intel AMX: 2,048 int8 operations per cycle per core
    /// at 2 GHz is about 4 TOPS a core), TOPS.
    public static let cpuTOPSPer16Cores = 64.0
    /// Peak memory bandwidth behind 16 server cores (8 channels of DDR5-4800), GB/s.
    public static let cpuBandwidthGBpsPer16Cores = 307.2

    public init(maximumPrefillTokensPerSecond: Double, minimumDecodeStepSeconds: Double, maximumSlots: Int, maximumDrawWatts: Double?) {
        self.maximumPrefillTokensPerSecond = maximumPrefillTokensPerSecond
        self.minimumDecodeStepSeconds = minimumDecodeStepSeconds
        self.maximumSlots = max(1, maximumSlots)
        self.maximumDrawWatts = maximumDrawWatts
    }

    /// The bounds of a node with these GPUs (names as the node reports them) and CPU cores.
    public init(gpuNames: [String], cpuCores: Int) {
        let gpus = gpuNames.prefix(Self.maximumGPUs).map(Self.spec(named:))
        if gpus.isEmpty {
            // A 16-core socket is the reference; a bigger CPU scales with its cores, a smaller one is not credited less
            // (the reference is already modest, and a bound must never be tighter than an honest machine).
            let sockets = Double(min(max(cpuCores, 16), Self.maximumCPUCores)) / 16
            self.init(
                maximumPrefillTokensPerSecond: Self.prefillRate(tflops: Self.cpuTOPSPer16Cores * sockets),
                minimumDecodeStepSeconds: Self.decodeStep(bandwidthGBps: Self.cpuBandwidthGBpsPer16Cores * sockets),
                maximumSlots: max(1, min(max(cpuCores, 1), Self.maximumCPUCores)) * Self.slotsPerCPUCore,
                maximumDrawWatts: nil)
            return
        }
        self.init(
            maximumPrefillTokensPerSecond: Self.prefillRate(tflops: gpus.reduce(0) { $0 + $1.denseTFLOPS }),
            minimumDecodeStepSeconds: Self.decodeStep(bandwidthGBps: gpus.reduce(0) { $0 + $1.memoryBandwidthGBps }),
            maximumSlots: gpus.count * Self.slotsPerGPU,
            maximumDrawWatts: Self.hostWatts + gpus.reduce(0) { $0 + $1.boardPowerWatts })
    }

    /// The published figures for a reported GPU name (`NVIDIA H100 80GB HBM3` is ``GPUSpec/h100SXM``); an unknown
    /// name gets the fastest known figures, each on its own.
    public static func spec(named name: String) -> GPUSpec {
        let words = "-" + String(name.lowercased().map { $0.isLetter || $0.isNumber ? $0 : "-" }) + "-"
        let accelerators = GPUSpec.known.filter { $0 != .cpuNode }
        if let known = accelerators.first(where: { words.contains("-\($0.name)-") }) { return known }
        return GPUSpec(
            name: "unknown", denseTFLOPS: accelerators.map(\.denseTFLOPS).max() ?? 0,
            memoryBandwidthGBps: accelerators.map(\.memoryBandwidthGBps).max() ?? 0, memoryGB: accelerators.map(\.memoryGB).max() ?? 0,
            boardPowerWatts: accelerators.map(\.boardPowerWatts).max() ?? 0)
    }

    private static func prefillRate(tflops: Double) -> Double { tflops * 1e12 / (2 * smallestModelParameters) }
    private static func decodeStep(bandwidthGBps: Double) -> Double { smallestModelWeightBytes / (bandwidthGBps * 1e9) }
}
