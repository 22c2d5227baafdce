import Foundation
import HearthCore
import HearthGateway
import HearthIdentity
import HearthNode
import HearthProtocol
import Logging

/// The gateway's node identities as the CLI sets them up: the fleet CA and identity records in
/// `<data-dir>/identity`, and the operator credential in `<data-dir>/operator-key` (mode 0600) that
/// `hearth nodes` reads.
enum FleetIdentitySetup {
    static func openGatewayIdentity(
        dataDirectory: String, tunnelHost: String, fleetStore: (any FleetStore)? = nil, logger: Logger
    ) async throws -> GatewayIdentity {
        var configuration = IdentityConfiguration(directory: dataDirectory + "/identity")
        configuration.tunnelHosts = Array(Set(["127.0.0.1", "localhost", tunnelHost]))
        let identity = try await GatewayIdentity.open(configuration: configuration, fleetStore: fleetStore, logger: logger)
        let keyPath = dataDirectory + "/operator-key"
        if !FileManager.default.fileExists(atPath: keyPath) {
            try SecretFile.write(try await identity.createOperatorKey() + "\n", to: keyPath)
        }
        return identity
    }

    /// Enrolls a node of this process (`hearth up`) in-process: same token, CSR and attestation as over HTTP.
    static func enrollLocalNode(_ node: NodeID, identity: GatewayIdentity, dataDirectory: String) async throws -> NodeIdentityConfiguration
    {
        let credentials = NodeCredentialStore(directory: dataDirectory + "/nodes/" + node.rawValue, node: node)
        let configuration = NodeIdentityConfiguration(credentials: credentials, agentBinary: agentBinaryPath())
        let trust = identity.statuses(connected: []).first { $0.id == node.rawValue }?.trust
        if credentials.isEnrolled, trust == "trusted" { return configuration }
        if trust == "revoked" {
            // `hearth up` is its own operator: a local node revoked in an earlier run enrolls again with a new key
            // (the revoked one is refused for good), which the audit log records as a new enrollment.
            credentials.zeroize()
        }
        // An id the gateway knows already (quarantined, revoked, credentials lost) comes back through a re-key.
        let request = EnrollmentRequest(
            token: try await identity.createEnrollmentToken(for: node, rekey: trust != nil, actor: "hearth up"), nodeID: node,
            csrPEM: try credentials.certificateSigningRequestPEM(), attestation: try NodeEnrollment.attestation(configuration))
        let grant = try await identity.enroll(request)
        try credentials.store(certificatePEM: grant.certificatePEM, authorityPEM: grant.authorityPEM)
        return configuration
    }

    /// The running executable (what the node attests as its agent).
    static func agentBinaryPath() -> String {
        (try? FileManager.default.destinationOfSymbolicLink(atPath: "/proc/self/exe")) ?? CommandLine.arguments[0]
    }
}
