public import AsyncHTTPClient
public import Foundation
public import HearthCore
public import HearthIdentity
public import HearthProtocol
import NIOCore
import NIOFoundationCompat
import NIOSSL

/// A node's identity settings: where its key and certificate live, and what it attests.
public struct NodeIdentityConfiguration: Sendable {
    public var credentials: NodeCredentialStore
    /// Files measured into the attestation: this agent's binary, the engine binary and the model file.
    public var agentBinary: String
    public var engineBinary: String?
    public var modelFile: String?
    /// The GPUs' serial numbers (hardware identity; empty on a CPU node).
    public var gpuSerials: Set<String>
    public var certificates = CertificateLifetimePolicy()

    public init(
        credentials: NodeCredentialStore, agentBinary: String = CommandLine.arguments.first ?? "/proc/self/exe",
        engineBinary: String? = nil,
        modelFile: String? = nil, gpuSerials: Set<String> = []
    ) {
        self.credentials = credentials
        self.agentBinary = agentBinary
        self.engineBinary = engineBinary
        self.modelFile = modelFile
        self.gpuSerials = gpuSerials
    }
}

/// Enrollment and attestation on the node side.
public enum NodeEnrollment {
    public enum Failure: Error, CustomStringConvertible {
        case refused(status: UInt, message: String)

        public var description: String {
            switch self {
            case .refused(let status, let message): "enrollment refused (HTTP \(status)): \(message)"
            }
        }
    }

    /// A fresh attestation of what the node runs now.
    public static func attestation(_ configuration: NodeIdentityConfiguration, measurer: SoftwareMeasurer = SoftwareMeasurer()) throws
        -> Attestation
    {
        Attestation(
            node: configuration.credentials.node,
            measurement: measurer.measure(
                agent: configuration.agentBinary, engine: configuration.engineBinary, model: configuration.modelFile),
            hardware: HardwareIdentity(gpuSerials: configuration.gpuSerials),
            keyFingerprint: try configuration.credentials.keyFingerprint(),
            measuredAt: Date().timeIntervalSince1970)
    }

    /// Enrolls with the gateway at `gatewayURL` (its HTTP API) using a one-time token: generates the key if
    /// needed, sends a CSR and the attestation, stores the certificate and the fleet CA.
    public static func enroll(
        gatewayURL: String, token: String, configuration: NodeIdentityConfiguration, client: HTTPClient = .shared
    ) async throws {
        let store = configuration.credentials
        let request = EnrollmentRequest(
            token: token, nodeID: store.node, csrPEM: try store.certificateSigningRequestPEM(), attestation: try attestation(configuration))
        var http = HTTPClientRequest(url: gatewayURL + "/v1/nodes/enroll")
        http.method = .POST
        http.headers.add(name: "Content-Type", value: "application/json")
        http.body = .bytes(ByteBuffer(data: try JSONEncoder().encode(request)))
        let response = try await client.execute(http, timeout: .seconds(30))
        let body = try await response.body.collect(upTo: 1 << 20)
        guard response.status == .ok else {
            throw Failure.refused(status: response.status.code, message: String(buffer: body))
        }
        let grant = try JSONDecoder().decode(CertificateGrant.self, from: body)
        try store.store(certificatePEM: grant.certificatePEM, authorityPEM: grant.authorityPEM)
    }

    /// The TLS context for the tunnel from the stored credentials.
    static func tlsContext(_ store: NodeCredentialStore) throws -> NIOSSLContext {
        guard let certificate = store.certificatePEM, let authority = store.authorityPEM else {
            throw TunnelErrorMessage(
                code: .notRegistered, message: "node \(store.node) is not enrolled: run it once with an enrollment token")
        }
        return try TunnelTLS.clientContext(certificatePEM: certificate, key: try store.key(), authorityPEM: authority)
    }
}
