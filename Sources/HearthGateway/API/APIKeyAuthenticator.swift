import Crypto
import Foundation
import HearthCore
import Synchronization

/// Resolves `Authorization: Bearer <key>` to its tenant's ``TenantPolicy``, by the key's SHA-256 hash.
///
/// A key's policy is read from the store at most once per `maximumStaleness` (``GatewayConfiguration/apiKeyCacheSeconds``,
/// 1 s by default) and served from memory in between: a store read per request cost about a tenth of the gateway's
/// time at saturation (issue 13). The bound is what it costs: a key revoked with `hearth keys revoke`, from another
/// process, or a tenant's policy changed there, takes effect within that time; a key revoked or a policy changed
/// through this gateway (``Gateway/revokeAPIKey(hash:)``, ``Gateway/createAPIKey(for:)``) at once. Unknown and revoked
/// keys are never cached, so a key created by another process works from its first request.
package final class APIKeyAuthenticator: Sendable {
    private struct Entry {
        var policy: TenantPolicy
        var readAt: Double
    }

    private let store: any FleetStore
    private let maximumStaleness: Double
    /// Seconds on the gateway's tenant clock.
    private let now: @Sendable () -> Double
    /// The cached keys, and how many times they were all forgotten: a store read that began before the last
    /// ``invalidateAll()`` is not cached (it may hold the policy of a key revoked meanwhile).
    private let cache = Mutex<(entries: [String: Entry], generation: UInt64)>(([:], 0))
    /// Keys held at most; past it, stale entries go, then all (a flood of valid keys only costs store reads).
    private static let capacity = 65_536
    /// How long a cached key stays usable while the store cannot be read, seconds.
    static let storeOutageGrace = 30.0

    package init<C: Clock<Duration>>(store: any FleetStore, maximumStaleness: Double = 1, clock: C = ContinuousClock()) {
        self.store = store
        self.maximumStaleness = max(0, maximumStaleness)
        let start = clock.now
        now = { start.duration(to: clock.now).seconds }
    }

    /// Forgets every cached key: the next request with each reads the store again.
    package func invalidateAll() {
        cache.withLock { cache in
            cache.entries.removeAll(keepingCapacity: true)
            cache.generation &+= 1
        }
    }

    /// The hex SHA-256 of a key, as stored.
    package static func hash(_ key: some StringProtocol) -> String {
        var key = String(key)
        let digest = key.withUTF8 { SHA256.hash(data: $0) }
        return Hex.encode(digest)
    }

    private static let bearer = Array("bearer ".utf8)

    /// `key` without leading and trailing spaces and tabs, as bytes (Foundation's trimming was 1 % of the gateway's
    /// time at saturation).
    static func trimmingBlanks(_ key: Substring.UTF8View) -> Substring {
        let blank: (UInt8) -> Bool = { $0 == UInt8(ascii: " ") || $0 == UInt8(ascii: "\t") }
        guard let first = key.firstIndex(where: { !blank($0) }), let last = key.lastIndex(where: { !blank($0) }) else { return "" }
        return Substring(key[first...last])
    }

    /// Creates a fresh random key for `tenant`, stores its hash and returns the key.
    package static func generateKey() -> String {
        var generator = SystemRandomNumberGenerator()
        return "hearth-" + Hex.random(bytes: 24, using: &generator)
    }

    /// The tenant's policy for a raw `Authorization` header value; 401 for a missing, unknown or revoked key.
    package func policy(authorization: String?) async throws -> TenantPolicy {
        guard let authorization, !authorization.isEmpty else {
            throw OpenAIError.unauthorized("Missing API key: send 'Authorization: Bearer <key>'.")
        }
        // "Bearer " in any case, compared as bytes (no lowercased copy of the header per request).
        let scheme = Self.bearer
        guard authorization.utf8.count > scheme.count,
            zip(authorization.utf8, scheme).allSatisfy({ $0 == $1 || ($1 >= UInt8(ascii: "a") && $0 == $1 - 0x20) })
        else {
            throw OpenAIError.unauthorized("The Authorization header must be 'Bearer <key>'.")
        }
        let hash = Self.hash(Self.trimmingBlanks(authorization.utf8.dropFirst(scheme.count)))
        let time = now()
        let (cached, generation) = cache.withLock { ($0.entries[hash], $0.generation) }
        if maximumStaleness > 0, let cached, time - cached.readAt < maximumStaleness {
            return cached.policy
        }
        let stored: TenantPolicy?
        do {
            stored = try await store.tenantPolicy(forKeyHash: hash)
        } catch {
            // The store is unreachable (a database restart or failover): a key this replica knew a moment ago keeps
            // working for up to `storeOutageGrace` seconds, rather than every tenant's every request failing with it.
            if let cached, time - cached.readAt < Self.storeOutageGrace { return cached.policy }
            throw error
        }
        guard var policy = stored else {
            cache.withLock { _ = $0.entries.removeValue(forKey: hash) }
            throw OpenAIError.unauthorized("Incorrect API key provided.")
        }
        policy.keyID = String(hash.prefix(APIKeyRecord.idLength))
        guard maximumStaleness > 0 else { return policy }
        cache.withLock { cache in
            guard cache.generation == generation else { return }
            if cache.entries.count >= Self.capacity {
                cache.entries = cache.entries.filter { time - $0.value.readAt < maximumStaleness }
                if cache.entries.count >= Self.capacity { cache.entries.removeAll() }
            }
            cache.entries[hash] = Entry(policy: policy, readAt: time)
        }
        return policy
    }
}
