import Foundation
import HearthCore
import HearthNode
import HearthPanel
import HearthSim
import Logging

/// A test node's power side: a simulated panel frozen at one second of its day (so the home's own load only
/// changes when the test adds loads), a dry-run GPU limiter, and the agent's power controller.
struct PoweredNode: Sendable {
    let panel: SimulatedPanel
    let limiter: DryRunPowerLimiter
    let controller: PowerController

    /// Home continuous limit for a 200 A service: 80 % × 200 A × 240 V.
    static let continuousLimitWatts = 38_400.0

    /// A 7 kW node (1 kW host + 6 kW of GPUs, running floor 3 kW, idle 1.5 kW) that reacts at once in both
    /// directions (no hold: tests of the hold live in HearthCore) and reads its panel every 100 ms.
    static func make(homeLoadWatts: Double, energyIntervalSeconds: Int64 = 60, battery: NodeBattery.Configuration? = nil) -> PoweredNode {
        let second = 3 * 3600.0
        let panel = SimulatedPanel(configuration: .init(homeType: .allElectric, seed: 7)) { second }
        // Fix the home's own load at `homeLoadWatts` with one extra load on top of the profile's second.
        panel.setExtraLoad(watts: max(0, homeLoadWatts - panel.homeLoadWatts(atSecond: second)))
        let limiter = DryRunPowerLimiter()
        var configuration = PowerController.Configuration(
            governor: PowerGovernor.Configuration(
                hostWatts: 1_000, gpuMaxWatts: 6_000, gpuMinWatts: 2_000, idleWatts: 1_500, hysteresisWatts: 480, holdSeconds: 0,
                staleAfterSeconds: 5, battery: battery))
        configuration.period = .milliseconds(100)
        configuration.energyIntervalSeconds = energyIntervalSeconds
        var logger = Logger(label: "hearth.test.power")
        logger.logLevel = ProcessInfo.processInfo.environment["HEARTH_TEST_LOG"].flatMap(Logger.Level.init(rawValue:)) ?? .critical
        let controller = PowerController(
            panel: panel, limiter: limiter, configuration: configuration, logger: logger,
            drawObserver: { watts in panel.setNodeDraw(watts: watts) })
        return PoweredNode(panel: panel, limiter: limiter, controller: controller)
    }

    /// The home's own load now (profile second plus added loads), watts.
    var homeLoadWatts: Double {
        // From one snapshot: the node's own circuit is in it, so mains and node draw are read together (the
        // controller's metered draw may already be the next one).
        let snapshot = panel.snapshot()
        let node = snapshot.circuits.first { $0.id == "hearth-node" }?.activePowerWatts ?? 0
        return (snapshot.mainsActivePowerWatts ?? 0) - abs(node)
    }
}
