public import Crypto
import Foundation
public import NIOSSL
public import X509

/// The TLS settings of the node tunnel: mutual TLS 1.3 with certificates from the fleet CA only.
public enum TunnelTLS {
    /// The gateway's side: its server certificate; clients must present a certificate the fleet CA issued.
    /// - Parameters:
    ///   - intermediates: what chains `certificate` to `authority` (a replica's intermediate), sent with it.
    ///   - authority: the fleet's root, which node certificates must chain to.
    public static func serverContext(
        certificate: Certificate, key: P256.Signing.PrivateKey, intermediates: [Certificate] = [], authority: Certificate
    ) throws -> NIOSSLContext {
        var configuration = TLSConfiguration.makeServerConfiguration(
            certificateChain: try ([certificate] + intermediates).map { .certificate(try nio($0)) }, privateKey: .privateKey(try nio(key)))
        configuration.minimumTLSVersion = .tlsv13
        configuration.trustRoots = .certificates([try nio(authority)])
        // Node certificates name a node, not a host: require a chain to the fleet CA, not a host name.
        configuration.certificateVerification = .noHostnameVerification
        return try NIOSSLContext(configuration: configuration)
    }

    /// The node's side: its client certificate and key; the gateway must present a certificate from the fleet CA.
    public static func clientContext(certificatePEM: String, key: P256.Signing.PrivateKey, authorityPEM: String) throws -> NIOSSLContext {
        var configuration = TLSConfiguration.makeClientConfiguration()
        configuration.minimumTLSVersion = .tlsv13
        configuration.certificateChain = try NIOSSLCertificate.fromPEMBytes(Array(certificatePEM.utf8)).map { .certificate($0) }
        configuration.privateKey = .privateKey(try nio(key))
        configuration.trustRoots = .certificates(try NIOSSLCertificate.fromPEMBytes(Array(authorityPEM.utf8)))
        configuration.certificateVerification = .fullVerification
        return try NIOSSLContext(configuration: configuration)
    }

    public static func nio(_ certificate: Certificate) throws -> NIOSSLCertificate {
        try NIOSSLCertificate(bytes: try CertificateFacts.derBytes(of: certificate), format: .der)
    }

    public static func nio(_ key: P256.Signing.PrivateKey) throws -> NIOSSLPrivateKey {
        try NIOSSLPrivateKey(bytes: Array(key.pemRepresentation.utf8), format: .pem)
    }

    /// The X.509 view of a peer certificate NIOSSL verified.
    public static func certificate(_ peer: NIOSSLCertificate) throws -> Certificate {
        try Certificate(derEncoded: try peer.toDERBytes())
    }
}
