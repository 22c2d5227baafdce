/// The node agent's tamper response: a value-type state machine that turns sensor signals into findings and
/// findings into actions, by the severity policy of ``TamperFinding/severity``.
///
/// - A `critical` finding quarantines at once.
/// - A `strong` finding quarantines when another, distinct finding (any severity) occurred within
///   ``Configuration/corroborationWindowSeconds``; alone it is reported (the gateway records it as a tamper event,
///   which takes the node out of `sensitive` service for the clean window).
/// - A `weak` finding is reported; it quarantines only as the corroboration of a strong one.
///
/// Quarantine emits, in this order: ``Action/quarantine(_:)`` (stop admitting, cancel in-flight work so the
/// gateway fails it over), ``Action/report(_:)`` with `quarantined: true` (over the tunnel, while the key still
/// exists; the shell bounds this send by ``Configuration/reportTimeoutSeconds``), then ``Action/zeroizeSecrets``
/// (key, cached credentials, model keys). The monitor then stays quarantined until ``Event/reenrolled(_:)``
/// (an operator's re-enrollment): the old identity is gone.
public struct TamperMonitor: Sendable {
    public struct Configuration: Sendable, Hashable {
        /// Tilt from the installed attitude that counts as moved. Default 15°.
        public var tiltThresholdDegrees: Double
        /// Acceleration change that counts as moved (lifting, carrying). Default 0.5 g.
        public var accelerationThresholdG: Double
        /// A change of (wall − monotonic) beyond this is a clock jump. Default 120 s (NTP slews small errors).
        public var clockJumpSeconds: Double
        /// Consecutive missed heartbeats after which the gateway counts as unreachable. Default 3.
        public var missedHeartbeatsForUnreachable: Int
        /// How close together two findings must be to corroborate each other. Default 10 minutes.
        public var corroborationWindowSeconds: Double
        /// Longest the shell waits for the quarantine report to be sent before zeroizing anyway. Default 2 s.
        public var reportTimeoutSeconds: Double

        public init(
            tiltThresholdDegrees: Double = 15, accelerationThresholdG: Double = 0.5, clockJumpSeconds: Double = 120,
            missedHeartbeatsForUnreachable: Int = 3, corroborationWindowSeconds: Double = 600, reportTimeoutSeconds: Double = 2
        ) {
            self.tiltThresholdDegrees = tiltThresholdDegrees
            self.accelerationThresholdG = accelerationThresholdG
            self.clockJumpSeconds = clockJumpSeconds
            self.missedHeartbeatsForUnreachable = missedHeartbeatsForUnreachable
            self.corroborationWindowSeconds = corroborationWindowSeconds
            self.reportTimeoutSeconds = reportTimeoutSeconds
        }
    }

    /// What the node looked like when enrolled. Unknown fields are learned from the first observation.
    public struct Baseline: Sendable, Hashable, Codable {
        public var location: NetworkLocation
        public var gpuSerials: Set<String>

        public init(location: NetworkLocation = NetworkLocation(), gpuSerials: Set<String> = []) {
            self.location = location
            self.gpuSerials = gpuSerials
        }
    }

    public enum Event: Sendable, Hashable {
        case signal(TamperSignal)
        /// Periodic: forgets findings older than the corroboration window.
        case tick
        /// An operator re-enrolled the node (new key, new certificate): clears quarantine, new baseline.
        case reenrolled(Baseline)
    }

    public enum Action: Sendable, Hashable {
        /// Stop admitting, cancel in-flight work (the gateway fails it over), stop the engine.
        case quarantine([TamperFinding])
        /// Send to the gateway.
        case report(TamperReport)
        /// Erase the node's private key, cached credentials and model keys.
        case zeroizeSecrets
    }

    public let configuration: Configuration
    public private(set) var baseline: Baseline
    public private(set) var isQuarantined = false
    /// Findings within the corroboration window, oldest first.
    public private(set) var recent: [(finding: TamperFinding, at: Double)] = []
    private var lastLocation: NetworkLocation?
    private var clockOffset: Double?
    private var missedHeartbeats = 0
    private var panelDown = false

    public init(configuration: Configuration = Configuration(), baseline: Baseline = Baseline()) {
        self.configuration = configuration
        self.baseline = baseline
    }

    public mutating func handle(_ event: Event, now: Double) -> [Action] {
        switch event {
        case .tick:
            prune(now: now)
            return []
        case .reenrolled(let newBaseline):
            self = TamperMonitor(configuration: configuration, baseline: newBaseline)
            return []
        case .signal(let signal):
            prune(now: now)
            let findings = findings(for: signal)
            guard !isQuarantined else { return [] }
            var actions: [Action] = []
            for finding in findings {
                actions += record(finding, now: now)
                // One signal, one outcome: a quarantine replaces the reports of the same signal's earlier findings.
                if isQuarantined { return Array(actions.drop { if case .quarantine = $0 { false } else { true } }) }
            }
            return actions
        }
    }

    private mutating func record(_ finding: TamperFinding, now: Double) -> [Action] {
        let corroborated = recent.contains { $0.finding != finding && ($0.finding.severity >= .strong || finding.severity >= .strong) }
        recent.append((finding, now))
        let quarantine: Bool
        switch finding.severity {
        case .critical: quarantine = true
        case .strong, .weak: quarantine = corroborated
        }
        guard quarantine else {
            return [.report(TamperReport(findings: [finding], at: now, quarantined: false))]
        }
        isQuarantined = true
        var all: [TamperFinding] = []
        for entry in recent where !all.contains(entry.finding) { all.append(entry.finding) }
        return [
            .quarantine(all),
            .report(TamperReport(findings: all, at: now, quarantined: true)),
            .zeroizeSecrets,
        ]
    }

    private mutating func prune(now: Double) {
        recent.removeAll { now - $0.at > configuration.corroborationWindowSeconds }
    }

    /// Compares a signal with the baseline and the previous observation; updates both as documented.
    private mutating func findings(for signal: TamperSignal) -> [TamperFinding] {
        switch signal {
        case .enclosureOpened:
            return [.enclosureOpened]
        case .motion(let tilt, let acceleration):
            let moved = abs(tilt) > configuration.tiltThresholdDegrees || abs(acceleration) > configuration.accelerationThresholdG
            return moved ? [.moved] : []
        case .panelPowerLost:
            defer { panelDown = true }
            return panelDown ? [] : [.panelPowerLost]
        case .panelPowerRestored:
            panelDown = false
            return []
        case .hardwareInventory(let serials):
            if baseline.gpuSerials.isEmpty {
                baseline.gpuSerials = serials
                return []
            }
            return serials == baseline.gpuSerials ? [] : [.hardwareChanged]
        case .clockSample(let wall, let monotonic):
            let offset = wall - monotonic
            defer { clockOffset = offset }
            guard let previous = clockOffset else { return [] }
            return abs(offset - previous) > configuration.clockJumpSeconds ? [.clockJumped] : []
        case .heartbeatMissed:
            missedHeartbeats += 1
            return missedHeartbeats == configuration.missedHeartbeatsForUnreachable ? [.gatewayUnreachable] : []
        case .heartbeatAcknowledged:
            missedHeartbeats = 0
            return []
        case .networkLocation(let location):
            return networkFindings(location)
        }
    }

    /// Router or AS different from the baseline → strong (once per new value); address different with router and
    /// AS unchanged → weak, and the new address becomes the baseline (dynamic addresses rotate).
    private mutating func networkFindings(_ location: NetworkLocation) -> [TamperFinding] {
        defer { lastLocation = location }
        var findings: [TamperFinding] = []
        func changed<T: Equatable>(_ key: WritableKeyPath<NetworkLocation, T?>) -> Bool {
            guard let now = location[keyPath: key] else { return false }
            guard let base = baseline.location[keyPath: key] else {
                baseline.location[keyPath: key] = now
                return false
            }
            return now != base && lastLocation?[keyPath: key] != now
        }
        let router = changed(\.routerIdentity)
        let system = changed(\.autonomousSystem)
        if router { findings.append(.routerChanged) }
        if system { findings.append(.networkChanged) }
        let routerSame = location.routerIdentity == nil || location.routerIdentity == baseline.location.routerIdentity
        let systemSame = location.autonomousSystem == nil || location.autonomousSystem == baseline.location.autonomousSystem
        let publicChanged = changed(\.publicAddress)
        let observedChanged = changed(\.gatewayObservedAddress)
        if publicChanged || observedChanged {
            findings.append(.addressChanged)
            if routerSame && systemSame {
                if let address = location.publicAddress { baseline.location.publicAddress = address }
                if let address = location.gatewayObservedAddress { baseline.location.gatewayObservedAddress = address }
            }
        }
        return findings
    }
}
