public import AsyncHTTPClient
import Foundation
public import HearthPanel
import NIOCore
import NIOFoundationCompat

/// SPAN's v2 registration over HTTP (AsyncHTTPClient): `POST /api/v2/auth/register` on the panel's local address,
/// and its broker's CA certificate from `GET /api/v2/certificate/ca`. Run once per node; keep the credentials.
public struct SpanHTTPRegistrar: SpanRegistering {
    public enum Failure: Error, CustomStringConvertible {
        case refused(status: UInt)

        public var description: String {
            switch self {
            case .refused(let status) where [401, 403, 422].contains(status): "the panel refused the passphrase (HTTP \(status))"
            case .refused(let status): "the panel refused registration (HTTP \(status))"
            }
        }
    }

    public let client: HTTPClient
    /// `http` on the panel's local network; `https` where the panel serves it.
    public let scheme: String

    public init(client: HTTPClient = .shared, scheme: String = "http") {
        self.client = client
        self.scheme = scheme
    }

    public func register(host: String, name: String, passphrase: String) async throws -> SpanCredentials {
        var request = HTTPClientRequest(url: "\(scheme)://\(host)\(SpanRegistration.path)")
        request.method = .POST
        request.headers.add(name: "Content-Type", value: "application/json")
        request.body = .bytes(ByteBuffer(data: try JSONEncoder().encode(SpanRegistration.Request(name: name, hopPassphrase: passphrase))))
        let response = try await client.execute(request, timeout: .seconds(15))
        let body = try await response.body.collect(upTo: 1 << 20)
        guard response.status == .ok || response.status == .created else { throw Failure.refused(status: response.status.code) }
        return try JSONDecoder().decode(SpanRegistration.Response.self, from: body).credentials
    }

    /// The PEM CA certificate the panel's broker chains to.
    public func brokerCertificateAuthority(host: String) async throws -> String {
        let response = try await client.execute(
            HTTPClientRequest(url: "\(scheme)://\(host)\(SpanRegistration.caCertificatePath)"), timeout: .seconds(15))
        let body = try await response.body.collect(upTo: 1 << 20)
        guard response.status == .ok else { throw Failure.refused(status: response.status.code) }
        return String(buffer: body)
    }
}
