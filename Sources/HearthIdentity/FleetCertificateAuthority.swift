@preconcurrency public import Crypto
public import Foundation
public import HearthCore
import SwiftASN1
public import X509

/// The fleet's certificate authority, kept by the gateway: a P-256 root that issues each node a short-lived
/// client certificate (subject common name = node id) for a key the node generated itself, and the gateway its
/// tunnel server certificate. The root key stays in the gateway's data directory (file mode 0600).
public final class FleetCertificateAuthority: Sendable {
    public enum Failure: Error, CustomStringConvertible {
        case invalidRequest(String)
        case storage(String)

        public var description: String {
            switch self {
            case .invalidRequest(let why): "certificate request refused: \(why)"
            case .storage(let why): "certificate authority storage: \(why)"
            }
        }
    }

    public let certificate: Certificate
    // P256 keys are immutable values; Crypto has not marked them Sendable on Linux.
    nonisolated(unsafe) private let key: P256.Signing.PrivateKey

    public init(certificate: Certificate, key: P256.Signing.PrivateKey) {
        self.certificate = certificate
        self.key = key
    }

    /// A new root valid for ten years.
    public static func create(name: String = "Hearth fleet CA", now: Date = Date()) throws -> FleetCertificateAuthority {
        let key = P256.Signing.PrivateKey()
        let subject = try DistinguishedName {
            OrganizationName("Hearth")
            CommonName(name)
        }
        let certificate = try Certificate(
            version: .v3, serialNumber: Certificate.SerialNumber(), publicKey: .init(key.publicKey),
            notValidBefore: now.addingTimeInterval(-300), notValidAfter: now.addingTimeInterval(10 * 365 * 86_400), issuer: subject,
            subject: subject, signatureAlgorithm: .ecdsaWithSHA256,
            extensions: try Certificate.Extensions {
                Critical(BasicConstraints.isCertificateAuthority(maxPathLength: 0))
                Critical(KeyUsage(keyCertSign: true, cRLSign: true))
            },
            issuerPrivateKey: .init(key))
        return FleetCertificateAuthority(certificate: certificate, key: key)
    }

    /// The root in `directory` (`ca-key.pem`, `ca-cert.pem`), created on first use.
    public static func loadOrCreate(directory: String) throws -> FleetCertificateAuthority {
        let keyPath = directory + "/ca-key.pem"
        let certificatePath = directory + "/ca-cert.pem"
        if FileManager.default.fileExists(atPath: keyPath) {
            do {
                let key = try P256.Signing.PrivateKey(pemRepresentation: try String(contentsOfFile: keyPath, encoding: .utf8))
                let certificate = try Certificate(pemEncoded: try String(contentsOfFile: certificatePath, encoding: .utf8))
                return FleetCertificateAuthority(certificate: certificate, key: key)
            } catch {
                throw Failure.storage("cannot read \(keyPath) / \(certificatePath): \(error)")
            }
        }
        let authority = try create()
        try SecretFile.write(authority.key.pemRepresentation, to: keyPath)
        try SecretFile.write(try authority.certificatePEM(), to: certificatePath, mode: 0o644)
        return authority
    }

    public func certificatePEM() throws -> String { try certificate.serializeAsPEM().pemString }

    /// A client certificate for `node`'s key from its certificate signing request. The request must be signed by
    /// the key it carries (proof of possession) and name the node as its common name.
    public func issueNodeCertificate(
        csrPEM: String, node: NodeID, notBefore: Date, notAfter: Date
    ) throws -> Certificate {
        let csr: CertificateSigningRequest
        do { csr = try CertificateSigningRequest(pemEncoded: csrPEM) } catch {
            throw Failure.invalidRequest("not a PEM certificate signing request")
        }
        guard csr.publicKey.isValidSignature(csr.signature, for: csr) else {
            throw Failure.invalidRequest("the request is not signed by its key")
        }
        guard CertificateFacts.commonName(of: csr.subject) == node.rawValue else {
            throw Failure.invalidRequest("the request names another node")
        }
        guard P256.Signing.PublicKey(csr.publicKey) != nil else { throw Failure.invalidRequest("only P-256 keys are accepted") }
        let subject = try DistinguishedName {
            OrganizationName("Hearth node")
            CommonName(node.rawValue)
        }
        return try Certificate(
            version: .v3, serialNumber: Certificate.SerialNumber(), publicKey: csr.publicKey, notValidBefore: notBefore,
            notValidAfter: notAfter, issuer: certificate.subject, subject: subject, signatureAlgorithm: .ecdsaWithSHA256,
            extensions: try Certificate.Extensions {
                Critical(BasicConstraints.notCertificateAuthority)
                Critical(KeyUsage(digitalSignature: true))
                try ExtendedKeyUsage([.clientAuth])
            },
            issuerPrivateKey: .init(key))
    }

    /// The gateway's tunnel server certificate for `hosts` (names and IP addresses nodes dial).
    public func issueServerCertificate(
        key: P256.Signing.PrivateKey, hosts: [String], now: Date = Date(), lifetime: TimeInterval = 30 * 86_400
    ) throws -> Certificate {
        let subject = try DistinguishedName {
            OrganizationName("Hearth gateway")
            CommonName(hosts.first ?? "hearth-gateway")
        }
        let names = hosts.map { host -> GeneralName in
            if let bytes = IPAddressBytes.parse(host) { return .ipAddress(ASN1OctetString(contentBytes: bytes[...])) }
            return .dnsName(host)
        }
        return try Certificate(
            version: .v3, serialNumber: Certificate.SerialNumber(), publicKey: .init(key.publicKey),
            notValidBefore: now.addingTimeInterval(-300), notValidAfter: now.addingTimeInterval(lifetime), issuer: certificate.subject,
            subject: subject, signatureAlgorithm: .ecdsaWithSHA256,
            extensions: try Certificate.Extensions {
                Critical(BasicConstraints.notCertificateAuthority)
                Critical(KeyUsage(digitalSignature: true))
                try ExtendedKeyUsage([.serverAuth])
                SubjectAlternativeNames(names)
            },
            issuerPrivateKey: .init(self.key))
    }
}

/// IPv4 and IPv6 literals as the bytes a certificate's IP address name holds.
public enum IPAddressBytes {
    /// Whether `text` is an IP literal (no SNI for it; a certificate's IP address names apply).
    public static func isIP(_ text: String) -> Bool { parse(text) != nil }

    public static func parse(_ text: String) -> [UInt8]? {
        var v4 = in_addr()
        if inet_pton(AF_INET, text, &v4) == 1 { return withUnsafeBytes(of: &v4) { Array($0) } }
        var v6 = in6_addr()
        if inet_pton(AF_INET6, text, &v6) == 1 { return withUnsafeBytes(of: &v6) { Array($0) } }
        return nil
    }
}
