import ArgumentParser
import Foundation
import HearthCore
import HearthNode
import HearthPanel
import HearthSim
import Logging

/// Which home panel a node agent reads for its power budget.
enum PanelKind: String, ExpressibleByArgument, CaseIterable {
    /// No panel: the node runs at full power (a site that is not a home, or a developer's machine).
    case none
    /// A simulated home (HearthSim's load profiles) replaying a day from now's time of day.
    case sim
}

/// How the node sets its GPUs' power limits.
enum GPUPowerKind: String, ExpressibleByArgument, CaseIterable {
    /// Record the limits it would set (machines without an NVIDIA GPU).
    case dryRun = "dry-run"
    /// `nvidia-smi -pl` (needs root and an NVIDIA driver).
    case nvidiaSMI = "nvidia-smi"
}

/// Options for a node's power loop (`hearth node`, `hearth up`).
struct PowerOptions: ParsableArguments {
    @Option(help: "Home panel for the node's power budget: none (full power) or sim (a simulated home).")
    var panel: PanelKind = .none

    @Option(help: "With --panel sim: the home's type (\(HomeType.allCases.map(\.rawValue).joined(separator: ", "))).")
    var panelHome: String = HomeType.gasSuburban.rawValue

    @Option(help: "GPU power limits: dry-run (record only) or nvidia-smi.")
    var gpuPower: GPUPowerKind = .dryRun

    @Option(help: "The node's host draw at load (CPU, memory, fans, PSU losses), watts.")
    var hostWatts: Double = 1_200

    @Option(help: "Sum of the GPUs' maximum power limits, watts.")
    var gpuMaxWatts: Double = 18_000

    @Option(help: "Sum of the GPUs' minimum settable power limits, watts.")
    var gpuMinWatts: Double = 5_400

    @Option(help: "The whole node's idle draw, watts.")
    var idleWatts: Double = 2_200

    func validate() throws {
        if panel == .sim, HomeType(rawValue: panelHome) == nil {
            throw ValidationError("--panel-home must be one of \(HomeType.allCases.map(\.rawValue).joined(separator: ", "))")
        }
        for (name, value) in [
            ("--host-watts", hostWatts), ("--gpu-max-watts", gpuMaxWatts), ("--gpu-min-watts", gpuMinWatts), ("--idle-watts", idleWatts),
        ]
        where !(value.isFinite && value >= 0 && value <= 100_000) {
            throw ValidationError("\(name) must be between 0 and 100000 watts")
        }
        guard gpuMinWatts <= gpuMaxWatts else { throw ValidationError("--gpu-min-watts must not exceed --gpu-max-watts") }
    }

    /// The node's power controller, or nil without a panel.
    func makeController(seed: UInt64, logger: Logger) -> PowerController? {
        guard panel == .sim, let home = HomeType(rawValue: panelHome) else { return nil }
        let calendar = Calendar(identifier: .gregorian)
        let now = Date()
        let second = now.timeIntervalSince(calendar.startOfDay(for: now))
        let simulated = SimulatedPanel(configuration: .init(homeType: home, seed: seed), startSecond: second)
        let limiter: any GPUPowerLimiter = gpuPower == .nvidiaSMI ? NvidiaSMIPowerLimiter() : DryRunPowerLimiter()
        let governor = PowerGovernor.Configuration(
            hostWatts: hostWatts, gpuMaxWatts: gpuMaxWatts, gpuMinWatts: gpuMinWatts, idleWatts: idleWatts)
        return PowerController(
            panel: simulated, limiter: limiter, configuration: .init(governor: governor), logger: logger,
            drawObserver: { simulated.setNodeDraw(watts: $0) })
    }
}
