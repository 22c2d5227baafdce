import Foundation
import HearthCore
import HearthNode
import HearthPanel
import Logging
import MosquittoTestSupport
import Synchronization
import Testing

/// Issue 15: from a panel change on the MQTT broker to the GPU power limit, the node reacts to the panel's message,
/// not at its next poll. The real path: a simulated SPAN device publishes through a real mosquitto broker, the node's
/// `SpanPanel` reads it, the `PowerController` decides and calls the limiter.
///
/// The power loop's poll here is an hour: every reaction the test waits for can only come from the message itself.
/// With `HEARTH_PANEL_REACTION_SAMPLES=N` it takes N samples and prints their distribution (docs/BENCHMARKS.md).
@Suite(.timeLimit(.minutes(2)))
struct PanelReactionTests {
    /// Records when each limit was set, and lets the test await the next one.
    final class TimedLimiter: GPUPowerLimiter {
        private let (limits, continuation) = AsyncStream<(watts: Double, at: ContinuousClock.Instant)>.makeStream()
        var set: AsyncStream<(watts: Double, at: ContinuousClock.Instant)> { limits }

        func setTotalLimit(watts: Double) async throws { continuation.yield((watts, .now)) }
        func drawWatts() async -> Double? { nil }
    }

    static let serial = "nj-2316-reaction"
    /// A 7 kW node (1 kW host, 2–6 kW of GPUs) on a 200 A service: 38.4 kW continuous.
    static let lowHomeWatts = 10_000.0
    static let highHomeWatts = 33_000.0

    @Test func aPanelChangeOnTheBrokerSetsTheGPULimitWithoutWaitingForAPoll() async throws {
        let samples = ProcessInfo.processInfo.environment["HEARTH_PANEL_REACTION_SAMPLES"].flatMap(Int.init) ?? 6
        let broker = try await MosquittoBroker.start()
        defer { broker.stop() }

        // The panel's side: a simulated home published as a SPAN device.
        let home = SimulatedPanel(configuration: .init(homeType: .allElectric, seed: 7), startSecond: 3 * 3600)
        let device = try MQTTClient(
            configuration: .init(
                host: broker.host, port: broker.port, clientID: "span-device", username: MosquittoBroker.username,
                password: MosquittoBroker.password, will: SpanPanelPublisher.will(serial: Self.serial)))
        try await device.connect()
        defer { device.close() }
        let publisher = SpanPanelPublisher(client: device, source: home, configuration: .init(serial: Self.serial))

        // The node's side.
        let panel = SpanPanel(
            configuration: SpanPanelConfiguration(
                serial: Self.serial,
                credentials: SpanCredentials(
                    accessToken: "test", mqttUsername: MosquittoBroker.username, mqttPassword: MosquittoBroker.password,
                    brokerHost: broker.host, brokerPort: broker.port)))
        let limiter = TimedLimiter()
        var configuration = PowerController.Configuration(
            governor: PowerGovernor.Configuration(
                hostWatts: 1_000, gpuMaxWatts: 6_000, gpuMinWatts: 2_000, idleWatts: 1_500, hysteresisWatts: 480, holdSeconds: 0,
                staleAfterSeconds: 5))
        configuration.period = .seconds(3_600)
        var logger = Logger(label: "hearth.test.panel-reaction")
        logger.logLevel = .critical
        let controller = PowerController(panel: panel, limiter: limiter, configuration: configuration, logger: logger)

        let panelTask = Task { try await panel.run() }
        defer { panelTask.cancel() }
        try await panel.waitUntilSubscribed()
        try publisher.publishState(.ready)
        try await publisher.publish()
        _ = try await panel.waitForSnapshot { $0.mainsActivePowerWatts != nil && $0.breakerRatingAmps != nil }
        let controllerTask = Task { await controller.run() }
        defer { controllerTask.cancel() }

        var limits = limiter.set.makeAsyncIterator()
        // At full power to begin with (the first reading, taken as the loop starts).
        var first = await limits.next()
        while let limit = first, limit.watts < 6_000 { first = await limits.next() }

        // Each sample is one message on the broker: the mains' active-power of a home that starts or stops a large
        // load. The node counts its own draw (7 kW: its metering runs once an hour here) out of the mains.
        let mains = SpanTopic.prefix(serial: Self.serial) + "/upstream-lugs/active-power"
        var reactions: [Duration] = []
        for sample in 0..<samples {
            let capping = sample % 2 == 0
            let homeWatts = capping ? Self.highHomeWatts : Self.lowHomeWatts
            let published = ContinuousClock.now
            try device.publish(mains, text: String(Int(homeWatts + 7_000)), retain: true)
            guard let limit = await limits.next() else { break }
            #expect(capping ? limit.watts < 6_000 : limit.watts == 6_000, "sample \(sample): \(limit.watts) W")
            reactions.append(limit.at - published)
        }
        #expect(reactions.count == samples)
        #expect(controller.status.mode == (samples % 2 == 0 ? .normal : .capped))

        if samples > 6 {
            let milliseconds = reactions.map { Double($0.components.attoseconds) / 1e15 + Double($0.components.seconds) * 1e3 }.sorted()
            func percentile(_ p: Double) -> Double {
                milliseconds[min(milliseconds.count - 1, Int((p * Double(milliseconds.count)).rounded(.up)) - 1)]
            }
            print(
                "PANEL_REACTION samples=\(milliseconds.count) p50_ms=\(percentile(0.5)) p90_ms=\(percentile(0.9)) "
                    + "p99_ms=\(percentile(0.99)) max_ms=\(milliseconds.last!)")
        }
    }
}
