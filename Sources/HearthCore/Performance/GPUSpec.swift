/// Published peak figures of an accelerator (or a CPU socket), from which a first ``NodeProfile`` is derived.
///
/// Throughput is dense (no structured sparsity) FP8 tensor throughput, because Hearth serves
/// FP8-quantised weights on every GPU class that supports FP8. Sources:
/// - H100 SXM5 80 GB: 1,979 TFLOPS FP8 dense (3,958 with sparsity), 3.35 TB/s HBM3, 700 W.
///   NVIDIA H100 Tensor Core GPU datasheet (nvidia.com/en-us/data-center/h100, 2023).
/// - L4 24 GB: 242 TFLOPS FP8 dense (485 with sparsity), 300 GB/s GDDR6, 72 W.
///   NVIDIA L4 Tensor Core GPU datasheet (nvidia.com/en-us/data-center/l4, 2023).
/// - RTX PRO 6000 Blackwell (workstation) 96 GB: 4,000 "AI TOPS" = FP4 with sparsity, so about
///   1,000 TFLOPS FP8 dense (÷2 for sparsity, ÷2 for FP8 vs FP4); 1,792 GB/s GDDR7; 600 W.
///   NVIDIA RTX PRO 6000 Blackwell datasheet (nvidia.com/en-us/products/workstations/professional-desktop-gpus/rtx-pro-6000, 2025).
/// - CPU node: a 16-core AVX-512 VNNI socket, ~4 TOPS int8 peak, dual-channel DDR5-5600
///   (2 × 44.8 GB/s = 89.6 GB/s), 64 GB, ~150 W. These are nominal; a CPU node's real profile comes from
///   ``NodeProfile/fit(model:samples:maxBatch:prefixCacheBlocks:linkRTTSeconds:)`` on its own calibration.
public struct GPUSpec: Sendable, Hashable, Codable {
    public var name: String
    /// Dense FP8 (int8 for CPUs) tensor throughput, in TFLOPS.
    public var denseTFLOPS: Double
    public var memoryBandwidthGBps: Double
    public var memoryGB: Double
    public var boardPowerWatts: Double

    public init(name: String, denseTFLOPS: Double, memoryBandwidthGBps: Double, memoryGB: Double, boardPowerWatts: Double) {
        self.name = name
        self.denseTFLOPS = denseTFLOPS
        self.memoryBandwidthGBps = memoryBandwidthGBps
        self.memoryGB = memoryGB
        self.boardPowerWatts = boardPowerWatts
    }

    public static let h100SXM = GPUSpec(name: "h100", denseTFLOPS: 1979, memoryBandwidthGBps: 3350, memoryGB: 80, boardPowerWatts: 700)
    public static let l4 = GPUSpec(name: "l4", denseTFLOPS: 242, memoryBandwidthGBps: 300, memoryGB: 24, boardPowerWatts: 72)
    public static let rtxPro6000Blackwell = GPUSpec(
        name: "rtx-pro-6000", denseTFLOPS: 1000, memoryBandwidthGBps: 1792, memoryGB: 96, boardPowerWatts: 600)
    public static let cpuNode = GPUSpec(name: "cpu", denseTFLOPS: 4, memoryBandwidthGBps: 89.6, memoryGB: 64, boardPowerWatts: 150)

    /// The built-in specs by ``name``.
    public static let known: [GPUSpec] = [.cpuNode, .l4, .rtxPro6000Blackwell, .h100SXM]
}
