import ArgumentParser
import Foundation
import HearthCore
import HearthIdentity
import HearthNode
import HearthPanel
import HearthSim
import Logging
import Synchronization

/// Which home panel a node agent reads for its power budget.
enum PanelKind: String, ExpressibleByArgument, CaseIterable {
    /// No panel: the node runs at full power (a site that is not a home, or a developer's machine).
    case none
    /// A simulated home (HearthSim's load profiles) replaying a day from now's time of day.
    case sim
    /// A SPAN panel over its local v2 interface (MQTT on the panel's broker). Personal, non-commercial use only
    /// under SPAN's terms; a fleet uses SPAN's commercial fleet interface.
    case span
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

    @Option(help: "With --panel span: the panel's local address.")
    var spanHost: String?

    @Option(help: "With --panel span: the panel's serial number (topics ebus/5/<serial>/...).")
    var spanSerial: String?

    @Option(
        help:
            "With --panel span: JSON file of the panel's broker credentials; registered (passphrase from HEARTH_SPAN_PASSPHRASE) when missing."
    )
    var spanCredentials: String = ".hearth-node/span-credentials.json"

    @Option(
        help:
            "With --panel span: how circuit power declared in kW is read: automatic (as the panel's figures show beside its mains), declared (kW) or watts."
    )
    var panelCircuitUnit: PanelCircuitUnit = .automatic

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

    @Option(help: "The node's own battery, kWh (0: none). The node as built carries 15 kWh.")
    var batteryKwh: Double = 0

    @Option(help: "The battery's charge and discharge limit, kW.")
    var batteryKw: Double = 5

    @Option(help: "Share of the battery kept back (for outages and grid events), 0-1.")
    var batteryReserve: Double = 0.2

    @Option(help: "Hours of the day (local time, 0-23, comma-separated or ranges like 0-6) when the battery charges to full.")
    var batteryCheapHours: String = "0-6"

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
        for (name, value) in [("--battery-kwh", batteryKwh), ("--battery-kw", batteryKw)]
        where !(value.isFinite && value >= 0 && value <= 1_000) {
            throw ValidationError("\(name) must be between 0 and 1000")
        }
        guard batteryReserve.isFinite, (0...1).contains(batteryReserve) else {
            throw ValidationError("--battery-reserve must be between 0 and 1")
        }
        _ = try Self.hours(batteryCheapHours)
        guard gpuMinWatts <= gpuMaxWatts else { throw ValidationError("--gpu-min-watts must not exceed --gpu-max-watts") }
        if panel == .span, spanHost == nil || spanSerial == nil {
            throw ValidationError("--panel span needs --span-host and --span-serial")
        }
    }

    /// With `--panel span`: the panel client (registering first when there are no stored credentials).
    func makeSpanPanel(logger: Logger) async throws -> SpanPanel<ContinuousClock>? {
        guard panel == .span, let host = spanHost, let serial = spanSerial else { return nil }
        let credentials: SpanCredentials
        let caPath = (spanCredentials as NSString).deletingLastPathComponent + "/span-ca.pem"
        if let data = FileManager.default.contents(atPath: spanCredentials) {
            credentials = try JSONDecoder().decode(SpanCredentials.self, from: data)
        } else {
            guard let passphrase = ProcessInfo.processInfo.environment["HEARTH_SPAN_PASSPHRASE"] else {
                throw ValidationError("no SPAN credentials at \(spanCredentials): set HEARTH_SPAN_PASSPHRASE to register once")
            }
            let registrar = SpanHTTPRegistrar()
            credentials = try await registrar.register(
                host: host, name: "hearth-\(serial)-\(UInt16.random(in: 0...UInt16.max))", passphrase: passphrase)
            try FileManager.default.createDirectory(
                atPath: (spanCredentials as NSString).deletingLastPathComponent, withIntermediateDirectories: true)
            try SecretFile.write(String(decoding: try JSONEncoder().encode(credentials), as: UTF8.self), to: spanCredentials)
            try SecretFile.write(try await registrar.brokerCertificateAuthority(host: host), to: caPath, mode: 0o644)
            logger.info("registered with the SPAN panel", metadata: ["panel": "\(host)"])
        }
        let ca = FileManager.default.fileExists(atPath: caPath) ? caPath : nil
        let log = PanelProblemLog(logger: logger)
        return SpanPanel(
            configuration: SpanPanelConfiguration(
                serial: serial, credentials: credentials, caFile: ca, parsing: .init(circuitPowerUnit: panelCircuitUnit.unit),
                onRejection: { log.rejected($0) }, onConnectionFailure: { log.connectionFailed($0) }))
    }

    /// The node's power controller for a SPAN panel (whose client must run beside it).
    func makeController(span: SpanPanel<ContinuousClock>, logger: Logger) -> PowerController {
        makeController(panel: span, logger: logger)
    }

    /// A controller over `panel` with this node's limiter and power figures.
    private func makeController(
        panel: any HomePanel, logger: Logger, drawObserver: (@Sendable (Double) -> Void)? = nil
    ) -> PowerController {
        let limiter: any GPUPowerLimiter = gpuPower == .nvidiaSMI ? NvidiaSMIPowerLimiter() : DryRunPowerLimiter()
        let battery =
            batteryKwh > 0
            ? NodeBattery.Configuration(kilowattHours: batteryKwh, kilowatts: batteryKw, reserveFraction: batteryReserve) : nil
        let governor = PowerGovernor.Configuration(
            hostWatts: hostWatts, gpuMaxWatts: gpuMaxWatts, gpuMinWatts: gpuMinWatts, idleWatts: idleWatts, battery: battery)
        var configuration = PowerController.Configuration(governor: governor)
        // Validated in validate(); the default if it ever is not.
        configuration.cheapHours = (try? Self.hours(batteryCheapHours)) ?? []
        return PowerController(panel: panel, limiter: limiter, configuration: configuration, logger: logger, drawObserver: drawObserver)
    }

    /// Hours of the day from "0-6,22,23": single hours and ranges, each 0-23.
    static func hours(_ text: String) throws -> Set<Int> {
        var hours = Set<Int>()
        for part in text.split(separator: ",").map({ $0.trimmingCharacters(in: .whitespaces) }) where !part.isEmpty {
            let bounds = part.split(separator: "-", maxSplits: 1).map { Int($0) }
            guard let first = bounds.first ?? nil, (0...23).contains(first), let last = bounds.count == 2 ? bounds[1] : first,
                (first...23).contains(last)
            else { throw ValidationError("--battery-cheap-hours: \(part) is not an hour (0-23) or a range of them") }
            hours.formUnion(first...last)
        }
        return hours
    }

    /// The node's power controller, or nil without a panel.
    func makeController(seed: UInt64, logger: Logger) -> PowerController? {
        guard panel == .sim, let home = HomeType(rawValue: panelHome) else { return nil }
        let calendar = Calendar(identifier: .gregorian)
        let now = Date()
        let second = now.timeIntervalSince(calendar.startOfDay(for: now))
        let simulated = SimulatedPanel(configuration: .init(homeType: home, seed: seed), startSecond: second)
        return makeController(panel: simulated, logger: logger, drawObserver: { simulated.setNodeDraw(watts: $0) })
    }
}

/// `--panel-circuit-unit`: ``SpanPanelState/CircuitPowerUnit`` on the command line.
enum PanelCircuitUnit: String, ExpressibleByArgument, CaseIterable {
    case automatic, declared, watts

    var unit: SpanPanelState.CircuitPowerUnit {
        switch self {
        case .automatic: .automatic
        case .declared: .declared
        case .watts: .watts
        }
    }
}

/// The panel's problems in the node's log: each kind of rejection and each connection error at once, then at most
/// once a minute while it repeats (a panel that publishes a bad value every second must not flood the log).
final class PanelProblemLog: Sendable {
    private let logger: Logger
    private let lastLogged = Mutex<[String: ContinuousClock.Instant]>([:])
    static let repeatInterval = Duration.seconds(60)

    init(logger: Logger) { self.logger = logger }

    func rejected(_ rejection: PanelRejection) {
        guard due("rejection \(rejection.kind)") else { return }
        logger.warning("panel message rejected", metadata: ["rejection": "\(rejection)"])
    }

    func connectionFailed(_ error: MQTTError) {
        guard due("connection \(error.code)") else { return }
        logger.error("cannot reach the home panel's broker; the node stays drained and tries again", metadata: ["error": "\(error)"])
    }

    private func due(_ key: String) -> Bool {
        let now = ContinuousClock.now
        return lastLogged.withLock { last in
            if let previous = last[key], previous.duration(to: now) < Self.repeatInterval { return false }
            last[key] = now
            return true
        }
    }
}
