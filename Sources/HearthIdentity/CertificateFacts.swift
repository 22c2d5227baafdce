public import Crypto
public import Foundation
public import HearthCore
import SwiftASN1
public import X509

/// What Hearth reads from a certificate: the node it names, its key's fingerprint, its validity.
public enum CertificateFacts {
    public static func commonName(of name: DistinguishedName) -> String? {
        for rdn in name {
            for attribute in rdn where attribute.type == .RDNAttributeType.commonName {
                return String(describing: attribute.value)
            }
        }
        return nil
    }

    public static func node(of certificate: Certificate) -> NodeID? {
        commonName(of: certificate.subject).map(NodeID.init)
    }

    /// SHA-256 of the SubjectPublicKeyInfo DER, lowercase hex (HearthCore's ``Attestation/keyFingerprint``).
    public static func fingerprint(of key: Certificate.PublicKey) -> String {
        Hex.encode(SHA256.hash(data: Array(key.subjectPublicKeyInfoBytes)))
    }

    public static func fingerprint(of certificate: Certificate) -> String { fingerprint(of: certificate.publicKey) }

    public static func derBytes(of certificate: Certificate) throws -> [UInt8] {
        var serializer = DER.Serializer()
        try serializer.serialize(certificate)
        return serializer.serializedBytes
    }
}
