/// How long node certificates live and when nodes renew them: short-lived (one hour by default) so that a
/// stolen node's credentials expire on their own even if a revocation never reaches it.
public struct CertificateLifetimePolicy: Sendable, Hashable, Codable {
    /// Validity from issue to expiry. Default 3600 s.
    public var lifetimeSeconds: Double
    /// Fraction of the validity after which the node renews. Default 0.5 (half life).
    public var renewAtFraction: Double
    /// `notBefore` is set this far before issue, to tolerate clock skew between node and gateway. Default 60 s.
    public var backdateSeconds: Double

    public init(lifetimeSeconds: Double = 3600, renewAtFraction: Double = 0.5, backdateSeconds: Double = 60) {
        self.lifetimeSeconds = max(1, lifetimeSeconds)
        self.renewAtFraction = min(max(renewAtFraction, 0.05), 0.95)
        self.backdateSeconds = max(0, backdateSeconds)
    }

    /// The validity window of a certificate issued at `now`.
    public func validity(issuedAt now: Double) -> (notBefore: Double, notAfter: Double) {
        (now - backdateSeconds, now + lifetimeSeconds)
    }

    /// When a certificate with this validity should be renewed: `renewAtFraction` of the way from issue
    /// (`notBefore + backdate`) to expiry.
    public func renewalTime(notBefore: Double, notAfter: Double) -> Double {
        let issued = min(notBefore + backdateSeconds, notAfter)
        return issued + renewAtFraction * (notAfter - issued)
    }

    public func shouldRenew(now: Double, notBefore: Double, notAfter: Double) -> Bool {
        now >= renewalTime(notBefore: notBefore, notAfter: notAfter)
    }

    /// Whether a certificate is valid at `now` (both ends inclusive of the backdate already applied).
    public func isValid(now: Double, notBefore: Double, notAfter: Double) -> Bool {
        now >= notBefore && now < notAfter
    }
}
