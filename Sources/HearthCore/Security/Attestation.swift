/// What a node proves about itself when it enrolls and at every renewal.
///
/// The node agent computes the digests (SHA-256 of the agent binary, the engine binary and the model file)
/// and signs the whole with its key; the gateway verifies the signature (and, for confidential computing, the
/// TEE report) with swift-crypto before handing the attestation to ``NodeTrustPolicy``.
public struct Attestation: Sendable, Hashable, Codable {
    public var node: NodeID
    public var measurement: SoftwareMeasurement
    public var hardware: HardwareIdentity
    /// SHA-256 of the node's public key (SubjectPublicKeyInfo DER), lowercase hex.
    public var keyFingerprint: String
    /// When the node took the measurement, in the gateway's seconds (the gateway stamps receipt time if it does
    /// not trust the node's clock).
    public var measuredAt: Double

    public init(node: NodeID, measurement: SoftwareMeasurement, hardware: HardwareIdentity, keyFingerprint: String, measuredAt: Double) {
        self.node = node
        self.measurement = measurement
        self.hardware = hardware
        self.keyFingerprint = keyFingerprint
        self.measuredAt = measuredAt
    }
}

/// The software a node runs: hex SHA-256 digests of the agent binary, the engine binary and the model file.
public struct SoftwareMeasurement: Sendable, Hashable, Codable {
    public var agent: String
    public var engine: String
    public var model: String

    public init(agent: String, engine: String, model: String) {
        self.agent = agent
        self.engine = engine
        self.model = model
    }

    /// One digest over the three, the value an allowed set lists: SHA-256 of `agent:engine:model` (lowercased).
    public var digest: String {
        Hex.encode(SHA256Digest.hash(Array("\(agent.lowercased()):\(engine.lowercased()):\(model.lowercased())".utf8)))
    }
}

/// The hardware a node is: GPU serials, its TPM's endorsement key (if any), and whether a verified confidential
/// computing report came with the attestation.
public struct HardwareIdentity: Sendable, Hashable, Codable {
    public var gpuSerials: Set<String>
    /// Hash of the TPM endorsement key certificate, when the node has a TPM.
    public var tpmEndorsementKey: String?
    /// True only when the gateway verified a TEE attestation report (e.g. AMD SEV-SNP / Intel TDX with an
    /// NVIDIA confidential-computing GPU) for this node.
    public var confidentialComputingVerified: Bool

    public init(gpuSerials: Set<String>, tpmEndorsementKey: String? = nil, confidentialComputingVerified: Bool = false) {
        self.gpuSerials = gpuSerials
        self.tpmEndorsementKey = tpmEndorsementKey
        self.confidentialComputingVerified = confidentialComputingVerified
    }

    /// Same machine: same GPUs and the same TPM (when one was enrolled). Confidential-computing status may differ.
    public func isSameMachine(as other: HardwareIdentity) -> Bool {
        gpuSerials == other.gpuSerials && (tpmEndorsementKey == nil || tpmEndorsementKey == other.tpmEndorsementKey)
    }
}

/// One revoked identity. A revoked node never reconnects with the same key; re-enrollment needs an operator.
public struct RevocationEntry: Sendable, Hashable, Codable {
    public var node: NodeID
    public var keyFingerprint: String
    public var reason: String
    public var at: Double

    public init(node: NodeID, keyFingerprint: String, reason: String, at: Double) {
        self.node = node
        self.keyFingerprint = keyFingerprint
        self.reason = reason
        self.at = at
    }
}
