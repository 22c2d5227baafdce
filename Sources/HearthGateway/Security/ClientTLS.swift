import Foundation
import NIOSSL
import X509

/// TLS for the client API: a certificate chain and its private key (PEM), served with TLS 1.2 or newer.
///
/// Loading checks everything a bad deployment gets wrong (unreadable files, no certificate, a key that does not
/// belong to the leaf certificate), so the gateway fails at start with a clear message instead of at the first
/// handshake.
public struct ClientTLS: Sendable {
    /// Why the certificate or key cannot serve.
    public struct LoadError: Error, CustomStringConvertible, Sendable {
        public var description: String
    }

    let configuration: TLSConfiguration

    /// - Parameters:
    ///   - certificatePEM: the server certificate first, then any intermediates.
    ///   - keyPEM: the leaf certificate's private key.
    public init(certificatePEM: String, keyPEM: String) throws {
        let chain: [NIOSSLCertificate]
        do { chain = try NIOSSLCertificate.fromPEMBytes(Array(certificatePEM.utf8)) } catch {
            throw LoadError(description: "the certificate file is not PEM: \(error)")
        }
        guard let leaf = chain.first else { throw LoadError(description: "the certificate file holds no certificate") }
        let key: NIOSSLPrivateKey
        do { key = try NIOSSLPrivateKey(bytes: Array(keyPEM.utf8), format: .pem) } catch {
            throw LoadError(description: "the key file is not a PEM private key: \(error)")
        }
        // BoringSSL would only notice a mismatch per handshake; compare the public keys now.
        if let certificate = try? Certificate(derEncoded: try leaf.toDERBytes()),
            let parsedKey = try? Certificate.PrivateKey(pemEncoded: keyPEM),
            parsedKey.publicKey != certificate.publicKey
        {
            throw LoadError(description: "the private key does not belong to the certificate")
        }
        var configuration = TLSConfiguration.makeServerConfiguration(
            certificateChain: chain.map { .certificate($0) }, privateKey: .privateKey(key))
        configuration.minimumTLSVersion = .tlsv12
        do { _ = try NIOSSLContext(configuration: configuration) } catch {
            throw LoadError(description: "the certificate and key cannot serve TLS: \(error)")
        }
        self.configuration = configuration
    }

    /// Reads the PEM files at `certificatePath` and `keyPath`.
    public static func load(certificatePath: String, keyPath: String) throws -> ClientTLS {
        func read(_ path: String, _ what: String) throws -> String {
            do { return try String(contentsOfFile: path, encoding: .utf8) } catch {
                throw LoadError(description: "cannot read the TLS \(what) \(path): \(error.localizedDescription)")
            }
        }
        do {
            return try ClientTLS(certificatePEM: try read(certificatePath, "certificate"), keyPEM: try read(keyPath, "key"))
        } catch let error as LoadError where !error.description.hasPrefix("cannot read") {
            throw LoadError(description: "\(certificatePath) / \(keyPath): \(error.description)")
        }
    }
}
