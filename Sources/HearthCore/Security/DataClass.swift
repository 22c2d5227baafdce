/// How carefully a tenant's data must be handled; chosen per tenant (and may be raised per request).
///
/// The raw values are the wire and configuration spelling.
/// - ``standard``: any trusted node; prompt caches are partitioned per tenant.
/// - ``sensitive``: only nodes with no tamper event within the configured window; never batched with another
///   tenant's requests; never shares a prefix cache with another tenant (caches are partitioned per session).
/// - ``confidential``: everything `sensitive` requires, and only nodes that present hardware attestation of
///   confidential computing or stand in a site marked as a data centre.
public enum DataClass: String, Sendable, Hashable, Codable, CaseIterable, Comparable, CustomStringConvertible {
    case standard
    case sensitive
    case confidential

    /// Whether requests of this class must not share a batch or a prefix cache with another tenant.
    public var isolatesTenants: Bool { self != .standard }

    /// Whether only nodes with a clean tamper history may serve it.
    public var requiresCleanTamperHistory: Bool { self != .standard }

    /// Whether only hardware-attested nodes or data-centre sites may serve it.
    public var requiresAttestedOrDataCentre: Bool { self == .confidential }

    private var rank: Int {
        switch self {
        case .standard: 0
        case .sensitive: 1
        case .confidential: 2
        }
    }

    public static func < (lhs: DataClass, rhs: DataClass) -> Bool { lhs.rank < rhs.rank }

    public var description: String { rawValue }
}
