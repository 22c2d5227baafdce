/// One observation from a node's tamper sensors or its own checks (the agent's `TamperSensor`s produce them).
public enum TamperSignal: Sendable, Hashable {
    /// The enclosure switch reports the case open.
    case enclosureOpened
    /// An accelerometer reading: tilt from the installed attitude in degrees, and peak acceleration change in g.
    case motion(tiltDegrees: Double, accelerationG: Double)
    /// The home panel (the node's supply) is gone: the node runs from its hold-up battery or the panel's API
    /// says its breaker or the mains is off.
    case panelPowerLost
    /// The panel is back.
    case panelPowerRestored
    /// Where the node sees itself on the network (any field may be unknown).
    case networkLocation(NetworkLocation)
    /// The GPU serial numbers now present.
    case hardwareInventory(gpuSerials: Set<String>)
    /// A pair of clock readings taken together: wall-clock seconds and monotonic seconds. A jump is a change of
    /// their difference.
    case clockSample(wallSeconds: Double, monotonicSeconds: Double)
    /// A heartbeat to the gateway went unanswered / was answered.
    case heartbeatMissed
    case heartbeatAcknowledged
}

/// Where a node is on the network. The baseline is taken at enrollment.
public struct NetworkLocation: Sendable, Hashable, Codable {
    /// The public address the node finds for itself (e.g. from its router or a STUN-like echo).
    public var publicAddress: String?
    /// The address (and autonomous system) the gateway observed the tunnel come from, echoed in its welcome.
    public var gatewayObservedAddress: String?
    public var autonomousSystem: Int?
    /// The home router's identity: its MAC address (from ARP for the default gateway) or a hash of it.
    public var routerIdentity: String?

    public init(
        publicAddress: String? = nil, gatewayObservedAddress: String? = nil, autonomousSystem: Int? = nil, routerIdentity: String? = nil
    ) {
        self.publicAddress = publicAddress
        self.gatewayObservedAddress = gatewayObservedAddress
        self.autonomousSystem = autonomousSystem
        self.routerIdentity = routerIdentity
    }
}

/// What a signal means, after comparing it with the baseline.
public enum TamperFinding: String, Sendable, Hashable, Codable, CaseIterable {
    case enclosureOpened = "enclosure-opened"
    case hardwareChanged = "hardware-changed"
    case moved = "moved"
    case panelPowerLost = "panel-power-lost"
    case routerChanged = "router-changed"
    case networkChanged = "network-changed"  // autonomous system changed
    case addressChanged = "address-changed"  // public or observed address changed within the same AS and router
    case clockJumped = "clock-jumped"
    case gatewayUnreachable = "gateway-unreachable"

    /// The severity policy (see docs/SECURITY.md):
    /// - `critical` quarantines at once: enclosure open, GPU serials changed;
    /// - `strong` quarantines when corroborated by another distinct strong or weak finding within the
    ///   corroboration window: moved, panel power lost, router changed, network (AS) changed;
    /// - `weak` never quarantines alone: address changed (ISPs rotate addresses), clock jumped (NTP steps),
    ///   gateway unreachable (home links drop).
    public var severity: TamperSeverity {
        switch self {
        case .enclosureOpened, .hardwareChanged: .critical
        case .moved, .panelPowerLost, .routerChanged, .networkChanged: .strong
        case .addressChanged, .clockJumped, .gatewayUnreachable: .weak
        }
    }
}

public enum TamperSeverity: String, Sendable, Hashable, Codable, Comparable {
    case weak
    case strong
    case critical

    private var rank: Int {
        switch self {
        case .weak: 0
        case .strong: 1
        case .critical: 2
        }
    }

    public static func < (lhs: TamperSeverity, rhs: TamperSeverity) -> Bool { lhs.rank < rhs.rank }
}

/// What a node tells the gateway about tamper findings (sent in telemetry, and at once on quarantine).
public struct TamperReport: Sendable, Hashable, Codable {
    public var findings: [TamperFinding]
    /// The node's time of the latest finding.
    public var at: Double
    /// True when the node has quarantined itself (and is zeroizing): the gateway revokes at once.
    public var quarantined: Bool

    public init(findings: [TamperFinding], at: Double, quarantined: Bool) {
        self.findings = findings
        self.at = at
        self.quarantined = quarantined
    }

    /// The most severe finding's severity.
    public var severity: TamperSeverity { findings.map(\.severity).max() ?? .weak }
}
