@preconcurrency public import Crypto
public import Foundation
public import HearthCore
import SwiftASN1
public import X509

/// The fleet's certificate authority, kept by the gateway: a P-256 root, or an intermediate the root signed for one
/// gateway replica, that issues each node a short-lived client certificate (subject common name = node id) for a key
/// the node generated itself, and the gateway its tunnel server certificate. Nodes trust the root (``root``); an
/// intermediate's certificate travels with every certificate it issues (``chainPEM(for:)``). So the root's key can
/// stay offline while every replica enrolls and renews nodes with its own intermediate (issue 14). The key stays in
/// the gateway's data directory (file mode 0600).
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

    /// This authority's own certificate (the root's, or the intermediate's).
    public let certificate: Certificate
    /// The fleet's root: what nodes and gateways trust. The same as ``certificate`` for a root.
    public let root: Certificate
    // P256 keys are immutable values; Crypto has not marked them Sendable on Linux.
    nonisolated(unsafe) private let key: P256.Signing.PrivateKey

    public init(certificate: Certificate, key: P256.Signing.PrivateKey, root: Certificate? = nil) {
        self.certificate = certificate
        self.key = key
        self.root = root ?? certificate
    }

    /// Whether this is an intermediate (its certificate is not the root).
    public var isIntermediate: Bool { certificate != root }

    /// The certificates a peer needs between what this authority issued and the root: the intermediate, if any.
    public var intermediates: [Certificate] { isIntermediate ? [certificate] : [] }

    /// A new root valid for ten years. It may sign one level of intermediates (one per gateway replica or region).
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
                Critical(BasicConstraints.isCertificateAuthority(maxPathLength: 1))
                Critical(KeyUsage(keyCertSign: true, cRLSign: true))
            },
            issuerPrivateKey: .init(key))
        return FleetCertificateAuthority(certificate: certificate, key: key)
    }

    /// An intermediate authority for one gateway replica (or region), signed by this root, valid for `lifetime`: it
    /// issues node and tunnel certificates but no further authority. A root made before intermediates existed (path
    /// length 0) cannot sign one.
    public func issueIntermediate(name: String, lifetime: TimeInterval = 365 * 86_400, now: Date = Date()) throws
        -> FleetCertificateAuthority
    {
        guard !isIntermediate else { throw Failure.invalidRequest("an intermediate cannot sign another intermediate") }
        if case .isCertificateAuthority(let depth)? = try certificate.extensions.basicConstraints, let depth, depth < 1 {
            throw Failure.invalidRequest("this root was made with a path length of 0 and cannot sign intermediates: make a new root")
        }
        let intermediateKey = P256.Signing.PrivateKey()
        let subject = try DistinguishedName {
            OrganizationName("Hearth")
            CommonName(name)
        }
        let intermediate = try Certificate(
            version: .v3, serialNumber: Certificate.SerialNumber(), publicKey: .init(intermediateKey.publicKey),
            notValidBefore: now.addingTimeInterval(-300), notValidAfter: min(now.addingTimeInterval(lifetime), certificate.notValidAfter),
            issuer: certificate.subject, subject: subject, signatureAlgorithm: .ecdsaWithSHA256,
            extensions: try Certificate.Extensions {
                Critical(BasicConstraints.isCertificateAuthority(maxPathLength: 0))
                Critical(KeyUsage(keyCertSign: true, cRLSign: true))
            },
            issuerPrivateKey: .init(key))
        return FleetCertificateAuthority(certificate: intermediate, key: intermediateKey, root: certificate)
    }

    /// Writes this authority into `directory` as ``loadOrCreate(directory:)`` reads it: `ca-key.pem` (0600),
    /// `ca-cert.pem`, and for an intermediate `ca-root.pem`, the root it chains to.
    public func store(in directory: String) throws {
        try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
        try SecretFile.write(key.pemRepresentation, to: directory + "/ca-key.pem")
        try SecretFile.write(try certificatePEM(), to: directory + "/ca-cert.pem", mode: 0o644)
        if isIntermediate { try SecretFile.write(try rootPEM(), to: directory + "/ca-root.pem", mode: 0o644) }
    }

    /// The authority in `directory` (`ca-key.pem`, `ca-cert.pem`, and `ca-root.pem` when it is an intermediate); a new
    /// root when the folder holds none.
    public static func loadOrCreate(directory: String) throws -> FleetCertificateAuthority {
        let keyPath = directory + "/ca-key.pem"
        let certificatePath = directory + "/ca-cert.pem"
        let rootPath = directory + "/ca-root.pem"
        if FileManager.default.fileExists(atPath: keyPath) {
            do {
                let key = try P256.Signing.PrivateKey(pemRepresentation: try String(contentsOfFile: keyPath, encoding: .utf8))
                let certificate = try Certificate(pemEncoded: try String(contentsOfFile: certificatePath, encoding: .utf8))
                let root =
                    FileManager.default.fileExists(atPath: rootPath)
                    ? try Certificate(pemEncoded: try String(contentsOfFile: rootPath, encoding: .utf8)) : nil
                return FleetCertificateAuthority(certificate: certificate, key: key, root: root)
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

    /// The root's certificate: what a node stores as its authority.
    public func rootPEM() throws -> String { try root.serializeAsPEM().pemString }

    /// `leaf` followed by the intermediates it needs to reach the root, as a peer presents them.
    public func chainPEM(for leaf: Certificate) throws -> String {
        try ([leaf] + intermediates).map { try $0.serializeAsPEM().pemString }.joined(separator: "\n")
    }

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
