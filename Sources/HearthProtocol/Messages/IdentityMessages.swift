public import HearthCore

/// `POST /v1/nodes/enroll`: a node's first contact. The token is one-time and issued by an operator; the key
/// behind the CSR was generated on the node and never leaves it.
public struct EnrollmentRequest: Codable, Sendable, Equatable {
    public var token: String
    public var nodeID: NodeID
    public var csrPEM: String
    public var attestation: Attestation

    public init(token: String, nodeID: NodeID, csrPEM: String, attestation: Attestation) {
        self.token = token
        self.nodeID = nodeID
        self.csrPEM = csrPEM
        self.attestation = attestation
    }

    private enum CodingKeys: String, CodingKey {
        case token
        case nodeID = "node_id"
        case csrPEM = "csr_pem"
        case attestation
    }
}

/// The node's certificate (and, at enrollment, the fleet CA's), PEM.
public struct CertificateGrant: Codable, Sendable, Equatable {
    public var certificatePEM: String
    public var authorityPEM: String?
    /// Unix seconds.
    public var notAfter: Double

    public init(certificatePEM: String, authorityPEM: String?, notAfter: Double) {
        self.certificatePEM = certificatePEM
        self.authorityPEM = authorityPEM
        self.notAfter = notAfter
    }

    private enum CodingKeys: String, CodingKey {
        case certificatePEM = "certificate_pem"
        case authorityPEM = "authority_pem"
        case notAfter = "not_after"
    }
}

/// node → gateway over the tunnel (frame ``TunnelFrameKind/renewRequest``): a fresh attestation and a CSR for the
/// same key. The answer is a ``RenewalResponse``.
public struct RenewalRequest: Codable, Sendable, Equatable {
    public var csrPEM: String
    public var attestation: Attestation

    public init(csrPEM: String, attestation: Attestation) {
        self.csrPEM = csrPEM
        self.attestation = attestation
    }

    private enum CodingKeys: String, CodingKey {
        case csrPEM = "csr_pem"
        case attestation
    }
}

/// gateway → node: a new certificate, or why not.
public struct RenewalResponse: Codable, Sendable, Equatable {
    public var grant: CertificateGrant?
    public var denied: String?

    public init(grant: CertificateGrant?, denied: String?) {
        self.grant = grant
        self.denied = denied
    }
}
