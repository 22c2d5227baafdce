/// The ``NodeSnapshot/labels`` keys and values that the security filters read.
///
/// The gateway writes them from its ``NodeTrustPolicy`` (``NodeTrustPolicy/labels(for:)``) and its registry
/// (site, attestation) and applies them with `FleetState.upsert`, as labels change.
public enum SecurityLabels {
    /// ``NodeTrustPolicy/TrustState`` raw value: `trusted`, `quarantined`, `revoked`.
    public static let trustState = "trust-state"
    /// The time of the node's most recent tamper event (strong or critical signal), in the gateway's seconds,
    /// written as a decimal number. Absent: none recorded since enrollment.
    public static let lastTamperAt = "last-tamper-at"
    /// Present with value ``confidentialComputing`` when the node's hardware attestation of confidential
    /// computing (a TEE-capable CPU/GPU pair whose report the gateway verified) checked out.
    public static let attestation = "attestation"
    public static let confidentialComputing = "confidential-computing"
    /// The kind of site: ``dataCentre`` or ``home`` (absent means home).
    public static let site = "site"
    public static let dataCentre = "data-centre"
    public static let home = "home"
}
