import Crypto
import Foundation

/// Resolves `Authorization: Bearer <key>` to its tenant's ``TenantPolicy``. Keys are looked up by their SHA-256
/// hash on every request (one primary-key read of the SQLite store): nothing is cached, so a key revoked with
/// `hearth keys revoke`, from another process, is refused from the next request on.
package final class APIKeyAuthenticator: Sendable {
    private let store: any FleetStore

    package init(store: any FleetStore) {
        self.store = store
    }

    /// The hex SHA-256 of a key, as stored.
    package static func hash(_ key: String) -> String {
        SHA256.hash(data: Data(key.utf8)).map { byte in
            let hex = String(byte, radix: 16)
            return byte < 16 ? "0" + hex : hex
        }.joined()
    }

    /// Creates a fresh random key for `tenant`, stores its hash and returns the key.
    package static func generateKey() -> String {
        var generator = SystemRandomNumberGenerator()
        let bytes = (0..<24).map { _ in UInt8.random(in: 0...255, using: &generator) }
        return "hearth-" + bytes.map { String(format: "%02x", $0) }.joined()
    }

    /// The tenant's policy for a raw `Authorization` header value; 401 for a missing, unknown or revoked key.
    package func policy(authorization: String?) async throws -> TenantPolicy {
        guard let authorization, !authorization.isEmpty else {
            throw OpenAIError.unauthorized("Missing API key: send 'Authorization: Bearer <key>'.")
        }
        let prefix = "bearer "
        guard authorization.count > prefix.count, authorization.lowercased().hasPrefix(prefix) else {
            throw OpenAIError.unauthorized("The Authorization header must be 'Bearer <key>'.")
        }
        let key = authorization.dropFirst(prefix.count).trimmingCharacters(in: .whitespaces)
        guard let policy = try await store.tenantPolicy(forKeyHash: Self.hash(key)) else {
            throw OpenAIError.unauthorized("Incorrect API key provided.")
        }
        return policy
    }
}
