import AsyncHTTPClient
import Crypto
import Foundation
import HearthGateway
import HearthIdentity
import NIOCore
import NIOSSL
import Testing
import X509

/// `hearth gateway --tls-cert --tls-key`: the client API speaks HTTPS only.
@Suite("Client API over TLS")
struct ClientTLSTests {
    /// A throwaway root and a server certificate it issued for 127.0.0.1, written as PEM files.
    struct Files {
        var directory: URL
        var authority: FleetCertificateAuthority
        var certificatePath: String
        var keyPath: String

        static func make() throws -> Files {
            let directory = FileManager.default.temporaryDirectory.appendingPathComponent("hearth-tls-\(UUID().uuidString)")
            try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
            let authority = try FleetCertificateAuthority.create(name: "test root")
            let key = P256.Signing.PrivateKey()
            let certificate = try authority.issueServerCertificate(key: key, hosts: ["127.0.0.1", "localhost"])
            let files = Files(
                directory: directory, authority: authority, certificatePath: directory.appendingPathComponent("cert.pem").path,
                keyPath: directory.appendingPathComponent("key.pem").path)
            try certificate.serializeAsPEM().pemString.write(toFile: files.certificatePath, atomically: true, encoding: .utf8)
            try key.pemRepresentation.write(toFile: files.keyPath, atomically: true, encoding: .utf8)
            return files
        }

        /// - Parameters:
        ///   - trusting: trust the test root (else only the system's).
        ///   - maximumVersion: cap the TLS version the client offers.
        func client(trusting: Bool = true, maximumVersion: TLSVersion? = nil) throws -> HTTPClient {
            var tls = TLSConfiguration.makeClientConfiguration()
            if trusting { tls.trustRoots = .certificates([try TunnelTLS.nio(authority.certificate)]) }
            if let maximumVersion {
                tls.minimumTLSVersion = .tlsv1
                tls.maximumTLSVersion = maximumVersion
            }
            var configuration = HTTPClient.Configuration(tlsConfiguration: tls)
            // A failed handshake is retried until the connect timeout: keep the expected failures short.
            configuration.timeout.connect = .seconds(1)
            return HTTPClient(eventLoopGroupProvider: .singleton, configuration: configuration)
        }
    }

    @Test("HTTPS answers a client that trusts the certificate; plain HTTP, untrusting clients and TLS 1.1 get nothing")
    func httpsOnly() async throws {
        let files = try Files.make()
        defer { try? FileManager.default.removeItem(at: files.directory) }
        let tls = try ClientTLS.load(certificatePath: files.certificatePath, keyPath: files.keyPath)
        let engine = TestEngine { _, _, emit in for chunk in TestEngine.json(text: "ok") { try await emit(chunk) } }
        try await withTestFleet(nodes: [TestNodeSpec(id: "n", engine: engine)], configure: { $0.clientTLS = tls }) { fleet in
            #expect(fleet.baseURL.hasPrefix("https://"))
            let trusting = try files.client()
            let untrusting = try files.client(trusting: false)
            let legacy = try files.client(maximumVersion: .tlsv11)
            do {
                let models = try await sendHTTP(
                    url: fleet.baseURL + "/v1/models", method: .GET, body: nil, apiKey: fleet.apiKey, headers: [], client: trusting)
                #expect(models.status == 200 && models.body.contains("test-model"))
                let answer = try await sendHTTP(
                    url: fleet.baseURL + "/v1/chat/completions", method: .POST,
                    body: try JSONSerialization.data(withJSONObject: chatBody(model: "test-model")), apiKey: fleet.apiKey, headers: [],
                    client: trusting)
                #expect(answer.status == 200)
                await #expect(throws: (any Error).self) {
                    try await sendHTTP(
                        url: fleet.baseURL + "/v1/models", method: .GET, body: nil, apiKey: nil, headers: [], client: untrusting)
                }
                await #expect(throws: (any Error).self) {
                    try await sendHTTP(url: fleet.baseURL + "/v1/models", method: .GET, body: nil, apiKey: nil, headers: [], client: legacy)
                }
            } catch {
                Issue.record("\(error)")
            }
            try await trusting.shutdown()
            try await legacy.shutdown()
            try await untrusting.shutdown()

            // Plain HTTP to the same port: no HTTP answer, the connection is closed.
            let plain = try await RawConnection.connect(host: "127.0.0.1", port: fleet.addresses.httpPort)
            try await plain.send(ByteBuffer(string: "GET /v1/models HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n"))
            var received = ""
            for await chunk in plain.received { received += String(buffer: chunk) }  // ends when the gateway closes
            #expect(!received.contains("HTTP/1.1") && !received.contains("test-model"))
        }
    }

    @Test("unreadable, malformed and mismatched files are refused with a clear error")
    func badFiles() throws {
        let files = try Files.make()
        defer { try? FileManager.default.removeItem(at: files.directory) }
        func failure(_ certificate: String, _ key: String) -> String {
            do {
                _ = try ClientTLS.load(certificatePath: certificate, keyPath: key)
                return "loaded"
            } catch {
                return "\(error)"
            }
        }
        let missing = files.directory.appendingPathComponent("missing.pem").path
        #expect(failure(missing, files.keyPath).contains("cannot read the TLS certificate \(missing)"))
        #expect(failure(files.certificatePath, missing).contains("cannot read the TLS key \(missing)"))

        let otherKey = files.directory.appendingPathComponent("other-key.pem").path
        try P256.Signing.PrivateKey().pemRepresentation.write(toFile: otherKey, atomically: true, encoding: .utf8)
        #expect(failure(files.certificatePath, otherKey).contains("does not belong to the certificate"))

        let garbage = files.directory.appendingPathComponent("garbage.pem").path
        try "not a certificate".write(toFile: garbage, atomically: true, encoding: .utf8)
        #expect(failure(garbage, files.keyPath).contains(garbage))
        #expect(failure(files.certificatePath, garbage).contains("not a PEM private key"))
        #expect(failure(files.certificatePath, files.keyPath) == "loaded")
    }
}
