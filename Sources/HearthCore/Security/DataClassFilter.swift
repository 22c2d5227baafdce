/// The scheduler filter that enforces a request's ``DataClass`` (not advisory: a node that fails it is never chosen).
///
/// `SchedulingRequest` carries no data class, so the filter is built for one class; use
/// `Scheduler.decide(_:security:fleet:now:)` which adds it (and ``NodeTrustFilter``, ``TenantIsolationFilter``) for
/// one decision. `request.arrival` serves as "now" for the tamper window.
/// - `standard`: admitted (the ``NodeTrustFilter`` still drops quarantined and revoked nodes).
/// - `sensitive`: no tamper event (label ``SecurityLabels/lastTamperAt``) within ``cleanWindowSeconds`` before the
///   request; a node whose label is unreadable is treated as tampered just now.
/// - `confidential`: as `sensitive`, and the node is attested for confidential computing
///   (``SecurityLabels/attestation``) or its ``SecurityLabels/site`` is a data centre.
public struct DataClassFilter: NodeFilter {
    public var dataClass: DataClass
    /// How long a node must have been free of tamper events to serve `sensitive` or `confidential` work.
    /// Default 7 days.
    public var cleanWindowSeconds: Double
    public var name: String { "data-class:\(dataClass.rawValue)" }

    public init(dataClass: DataClass, cleanWindowSeconds: Double = 7 * 24 * 3600) {
        self.dataClass = dataClass
        self.cleanWindowSeconds = cleanWindowSeconds
    }

    public func admits(_ request: SchedulingRequest, nodeAt index: Int, in fleet: FleetState) -> Bool {
        admits(labels: fleet.labels(at: index), now: request.arrival)
    }

    /// The same rule on a bare label set (for the gateway's explanations and tests).
    public func admits(labels: [String: String], now: Double) -> Bool {
        if dataClass.requiresCleanTamperHistory, let raw = labels[SecurityLabels.lastTamperAt] {
            let last = Double(raw) ?? .infinity
            if !(now - last >= cleanWindowSeconds) { return false }
        }
        if dataClass.requiresAttestedOrDataCentre {
            let attested = labels[SecurityLabels.attestation] == SecurityLabels.confidentialComputing
            let dataCentre = labels[SecurityLabels.site] == SecurityLabels.dataCentre
            if !(attested || dataCentre) { return false }
        }
        return true
    }

    /// The client-facing explanation when no node passes this filter (the gateway answers 503 with it).
    public var refusalMessage: String {
        switch dataClass {
        case .standard:
            "No trusted node is available."
        case .sensitive:
            "No node with a clean tamper history is available for data class 'sensitive'."
        case .confidential:
            "No node with hardware attestation of confidential computing, and no data-centre site, is available for data class 'confidential'."
        }
    }
}

/// Drops nodes the ``NodeTrustPolicy`` has quarantined or revoked, for every data class.
///
/// Reads ``SecurityLabels/trustState``; a node without the label is admitted when ``admitsUnlabelled`` (the
/// default, so fleets that do not yet label keep working).
public struct NodeTrustFilter: NodeFilter {
    public var admitsUnlabelled: Bool
    public var name: String { "trust-state" }

    public init(admitsUnlabelled: Bool = true) {
        self.admitsUnlabelled = admitsUnlabelled
    }

    public func admits(_ request: SchedulingRequest, nodeAt index: Int, in fleet: FleetState) -> Bool {
        guard let raw = fleet.labels(at: index)[SecurityLabels.trustState] else { return admitsUnlabelled }
        return NodeTrustPolicy.TrustState(rawValue: raw) == .trusted
    }
}

/// Drops the listed nodes: a migrated or hedged request never goes back to a node that already failed it or
/// already runs it.
public struct ExcludeNodesFilter: NodeFilter {
    public var nodes: Set<NodeID>
    public var name: String { "exclude-nodes" }

    public init(_ nodes: Set<NodeID>) {
        self.nodes = nodes
    }

    public func admits(_ request: SchedulingRequest, nodeAt index: Int, in fleet: FleetState) -> Bool {
        !nodes.contains(fleet.ids[index])
    }
}
