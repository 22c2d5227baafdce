public import Crypto
public import Foundation
public import HearthCore
public import X509

/// A node's identity on disk: its private key (generated here, never sent anywhere, mode 0600), the client
/// certificate the fleet CA issued for it and the CA's certificate. A TPM-backed key would replace the key file
/// where the hardware has one; the file is the fallback the issue allows.
public final class NodeCredentialStore: Sendable {
    public let directory: String
    public let node: NodeID

    public init(directory: String, node: NodeID) {
        self.directory = directory
        self.node = node
    }

    var keyPath: String { directory + "/node-key.pem" }
    var certificatePath: String { directory + "/node-cert.pem" }
    var authorityPath: String { directory + "/fleet-ca.pem" }

    /// The node's key, created on first use.
    public func key() throws -> P256.Signing.PrivateKey {
        if let text = try? String(contentsOfFile: keyPath, encoding: .utf8) {
            return try P256.Signing.PrivateKey(pemRepresentation: text)
        }
        try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
        let key = P256.Signing.PrivateKey()
        try SecretFile.write(key.pemRepresentation, to: keyPath)
        return key
    }

    /// A certificate signing request for the node's key, naming the node.
    public func certificateSigningRequestPEM() throws -> String {
        let key = try key()
        let subject = try DistinguishedName { CommonName(node.rawValue) }
        let csr = try CertificateSigningRequest(
            version: .v1, subject: subject, privateKey: .init(key), attributes: .init(), signatureAlgorithm: .ecdsaWithSHA256)
        return try csr.serializeAsPEM().pemString
    }

    /// SHA-256 of the node's public key (what the gateway revokes).
    public func keyFingerprint() throws -> String {
        CertificateFacts.fingerprint(of: Certificate.PublicKey(try key().publicKey))
    }

    public func store(certificatePEM: String, authorityPEM: String?) throws {
        try SecretFile.write(certificatePEM, to: certificatePath, mode: 0o644)
        if let authorityPEM { try SecretFile.write(authorityPEM, to: authorityPath, mode: 0o644) }
    }

    public var certificatePEM: String? { try? String(contentsOfFile: certificatePath, encoding: .utf8) }
    public var authorityPEM: String? { try? String(contentsOfFile: authorityPath, encoding: .utf8) }

    /// The stored certificate, if any.
    /// The node's own certificate: the first of the chain it stores (an intermediate may follow it).
    public func certificate() -> Certificate? {
        guard let pem = certificatePEM, let end = pem.range(of: "-----END CERTIFICATE-----") else { return nil }
        return try? Certificate(pemEncoded: String(pem[..<end.upperBound]))
    }

    /// Whether the node has a key and a certificate.
    public var isEnrolled: Bool { FileManager.default.fileExists(atPath: keyPath) && certificate() != nil }

    /// Destroys the key and certificate (tamper): the node can no longer prove who it is.
    public func zeroize() {
        SecretFile.zeroize(keyPath)
        SecretFile.zeroize(certificatePath)
    }
}
