import Crypto
import Foundation
import Synchronization

/// Resolves `Authorization: Bearer <key>` to a tenant. Keys are looked up by their SHA-256 hash;
/// hits are cached in memory so the store is not on every request's path.
package final class APIKeyAuthenticator: Sendable {
    private let store: any FleetStore
    private let cache = Mutex<[String: String]>([:])

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

    /// The tenant for a raw `Authorization` header value.
    package func tenant(authorization: String?) async throws -> String {
        guard let authorization, !authorization.isEmpty else {
            throw OpenAIError.unauthorized("Missing API key: send 'Authorization: Bearer <key>'.")
        }
        let prefix = "bearer "
        guard authorization.count > prefix.count, authorization.lowercased().hasPrefix(prefix) else {
            throw OpenAIError.unauthorized("The Authorization header must be 'Bearer <key>'.")
        }
        let key = authorization.dropFirst(prefix.count).trimmingCharacters(in: .whitespaces)
        let hash = Self.hash(key)
        if let tenant = cache.withLock({ $0[hash] }) { return tenant }
        guard let tenant = try await store.tenant(forKeyHash: hash) else {
            throw OpenAIError.unauthorized("Incorrect API key provided.")
        }
        cache.withLock { $0[hash] = tenant }
        return tenant
    }
}
