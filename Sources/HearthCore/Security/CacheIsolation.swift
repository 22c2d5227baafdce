/// Prefix-cache isolation between tenants: the cache salt the gateway sets on every engine request, and the
/// partition key that prefix-affinity routing mixes into every prefix hash.
///
/// Shared KV/prefix caches leak prompts by timing: a request whose prefix is cached answers its first token
/// sooner, so a tenant who can choose prefixes can test whether another tenant sent them (Wu et al., "I Know
/// What You Asked: Prompt Leakage via KV-Cache Sharing in Multi-Tenant LLM Serving", NDSS 2025; Gu et al.,
/// "InputSnatch", arXiv:2411.18191; Song et al., arXiv:2409.20002). Hearth answers with partitions:
/// - the gateway computes the salt itself, HMAC-SHA-256(gateway secret, partition), and overwrites any
///   `cache_salt` the client sent; engines with a salt (vLLM's `cache_salt`, SGLang's equivalent) then never
///   match a block across partitions;
/// - the scheduler routes on *salted* prefix hashes (``isolate(_:partitionKey:)``): prefix affinity never
///   reveals, by routing, that another partition cached a prefix, and the fleet's cache index never matches
///   one partition's blocks for another;
/// - an engine gets the salt only when its node showed at join that it honours salts (same prompt, two salts: no
///   cache hit; the engine's kind proves nothing). Every other engine gets ``EngineCacheControl/disablePromptCache``
///   (no reuse, and a fresh salt per request), and ``TenantOccupancy`` keeps other tenants off the node while
///   isolated work runs. The node gives llama.cpp's server a salt itself, by pinning each partition to its own slots.
///
/// Partitions: `standard` → the tenant; `sensitive` and `confidential` → the tenant's session when it has one,
/// else the single request (no reuse at all, even within the tenant, beyond one conversation).
public struct CacheIsolation: Sendable {
    /// What one cache partition is; its ``canonical`` form is what the HMAC covers.
    public enum Partition: Sendable, Hashable {
        case tenant(String)
        case session(tenant: String, session: String)
        case request(tenant: String, requestID: String)

        /// Unambiguous bytes for the HMAC (lengths prefix every field, so no two partitions collide).
        public var canonical: String {
            func field(_ s: String) -> String { "\(s.utf8.count):\(s)" }
            switch self {
            case .tenant(let tenant): return "tenant|" + field(tenant)
            case .session(let tenant, let session): return "session|" + field(tenant) + field(session)
            case .request(let tenant, let requestID): return "request|" + field(tenant) + field(requestID)
            }
        }
    }

    /// What the node agent does to the engine request.
    public enum EngineCacheControl: Sendable, Hashable {
        /// Set the engine's cache salt to this value (overwriting the client's).
        case salt(String)
        /// The engine has not shown that it honours a salt: no prompt-cache reuse (llama.cpp: `"cache_prompt": false`;
        /// the node also sets a fresh random salt, for engines that honour one unseen), and rely on
        /// ``TenantOccupancy`` to keep the node to one tenant meanwhile.
        case disablePromptCache
        /// Leave the engine's caching as it is (only when the operator allowed it for `standard`).
        case engineDefault
    }

    private let secret: [UInt8]

    /// `secret`: at least 32 random bytes the gateway keeps (shared by the gateway replicas of one fleet, so
    /// that salts and routing agree across them).
    public init(secret: [UInt8]) {
        self.secret = secret
    }

    /// The partition a request's cache lives in.
    public static func partition(tenant: String, dataClass: DataClass, session: String?, requestID: String) -> Partition {
        guard dataClass.isolatesTenants else { return .tenant(tenant) }
        if let session, !session.isEmpty { return .session(tenant: tenant, session: session) }
        return .request(tenant: tenant, requestID: requestID)
    }

    /// The engine cache salt: lowercase hex of HMAC-SHA-256(secret, partition).
    public func salt(for partition: Partition) -> String { keys(for: partition).salt }

    /// The 64-bit key that routing mixes into prefix hashes and session keys for this partition.
    public func partitionKey(for partition: Partition) -> UInt64 { keys(for: partition).partitionKey }

    /// The salt and the routing key of one partition from one HMAC (the request path needs both).
    public func keys(for partition: Partition) -> (salt: String, partitionKey: UInt64) {
        let mac = mac(partition)
        return (Hex.encode(mac), mac.prefix(8).reduce(0) { $0 << 8 | UInt64($1) })
    }

    /// Convenience: the partition key of a tenant's request (``partition(tenant:dataClass:session:requestID:)``).
    public func partitionKey(tenant: String, dataClass: DataClass, session: String? = nil, requestID: String = "") -> UInt64 {
        partitionKey(for: Self.partition(tenant: tenant, dataClass: dataClass, session: session, requestID: requestID))
    }

    private func mac(_ partition: Partition) -> [UInt8] {
        SHA256Digest.hmac(key: secret, message: Array(partition.canonical.utf8))
    }

    /// The request with its prefix hashes and session key mixed with `partitionKey`, so the scheduler's
    /// affinity and cached-prefix matching only ever see blocks of the same partition. Record the *salted*
    /// hashes with `FleetState.recordPrefix` after placing.
    public static func isolate(_ request: SchedulingRequest, partitionKey: UInt64) -> SchedulingRequest {
        var isolated = request
        isolated.prefixHashes = request.prefixHashes.map { mix($0, partitionKey) }
        isolated.sessionKey = request.sessionKey.map { mix($0, partitionKey) }
        return isolated
    }

    /// How the node should control the engine's cache for a request of `dataClass`.
    ///
    /// An engine without a salt cannot keep partitions apart, so by default it caches nothing across requests
    /// (`cache_prompt: false`). `standardMayShareOnSaltlessEngines` lets an operator accept, for `standard`
    /// tenants only, the prompt-leak risk that llama.cpp's slot reuse carries, in exchange for its speed-up.
    public static func cacheControl(
        engineSupportsSalt: Bool, dataClass: DataClass, salt: String, standardMayShareOnSaltlessEngines: Bool = false
    ) -> EngineCacheControl {
        if engineSupportsSalt { return .salt(salt) }
        if dataClass == .standard && standardMayShareOnSaltlessEngines { return .engineDefault }
        return .disablePromptCache
    }

    /// A keyed 64-bit mix (splitmix64 finaliser over hash ⊕ rotated key): distinct keys give unrelated hashes.
    static func mix(_ hash: UInt64, _ key: UInt64) -> UInt64 {
        var z = hash ^ (key &* 0x9E37_79B9_7F4A_7C15) ^ (key >> 29 | key << 35)
        z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
        z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
        return z ^ (z >> 31)
    }
}
