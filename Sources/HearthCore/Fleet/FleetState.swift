/// The whole fleet as the scheduler sees it: node snapshots stored column-wise and indexed by model.
///
/// Membership changes (``upsert(_:)``, ``remove(_:)``) rebuild the model index; live updates
/// (``setLoad(_:at:)``, ``recordPrefix(_:at:)``, ``setPowerCapFactor(_:at:)``, ``setProfile(_:at:)``,
/// ``setLinkRTT(_:at:)``, ``setLabels(_:at:)``, ``setProfileUnconfirmed(_:at:)``) are O(1) in the fleet's size and in
/// place: heartbeats, answers and power reports arrive at every node's pace, so none of them may cost the whole fleet.
public struct FleetState: Sendable {
    public private(set) var ids: [NodeID] = []
    public private(set) var loads: [NodeLoad] = []
    public private(set) var caches: [PrefixCache] = []
    private var models: [[ServedModel]] = []
    private var profiles: [[NodeProfile]] = []
    private var labelSets: [[String: String]] = []
    private var unconfirmed: [Bool] = []
    private var indexByID: [NodeID: Int] = [:]
    private var pools: [ModelPool] = []
    private var poolIndexByModel: [String: Int] = [:]
    /// Per node: (pool index, position within the pool).
    private var memberships: [[(pool: Int, slot: Int)]] = []

    public init(nodes: [NodeSnapshot] = []) {
        for node in nodes { append(node) }
        rebuildPools()
    }

    public var count: Int { ids.count }

    public func index(of id: NodeID) -> Int? { indexByID[id] }

    public func labels(at index: Int) -> [String: String] { labelSets[index] }

    /// See ``NodeSnapshot/profileUnconfirmed``.
    public func isProfileUnconfirmed(at index: Int) -> Bool { unconfirmed[index] }

    /// The node's profiles, one per model, without building its whole snapshot.
    public func profiles(at index: Int) -> [NodeProfile] { profiles[index] }

    /// The profile the node at `index` has for `model`, without building its whole snapshot.
    public func profile(at index: Int, for model: String) -> NodeProfile? { profiles[index].first { $0.model == model } }

    /// The model's pool, or nil when no node serves it.
    public func pool(for model: String) -> ModelPool? {
        guard let p = poolIndexByModel[model] else { return nil }
        return pools[p]
    }

    @usableFromInline
    func poolIndex(for model: String) -> Int? { poolIndexByModel[model] }

    @usableFromInline
    func pool(at index: Int) -> ModelPool { pools[index] }

    public func snapshot(at index: Int) -> NodeSnapshot {
        NodeSnapshot(
            id: ids[index], models: models[index], profiles: profiles[index], load: loads[index],
            prefixCache: caches[index], labels: labelSets[index], profileUnconfirmed: unconfirmed[index])
    }

    public var snapshots: [NodeSnapshot] { (0..<count).map(snapshot(at:)) }

    /// Adds a node, or replaces the one with the same id.
    public mutating func upsert(_ node: NodeSnapshot) {
        if let i = indexByID[node.id] {
            models[i] = node.models
            profiles[i] = node.profiles
            loads[i] = node.load
            caches[i] = node.prefixCache
            labelSets[i] = node.labels
            unconfirmed[i] = node.profileUnconfirmed
        } else {
            append(node)
        }
        rebuildPools()
    }

    public mutating func remove(_ id: NodeID) {
        guard indexByID[id] != nil else { return }
        let remaining = snapshots.filter { $0.id != id }
        self = FleetState(nodes: remaining)
    }

    /// Replaces a node's live state, keeping the pools' load totals right.
    public mutating func setLoad(_ load: NodeLoad, at index: Int) {
        let delta = load.outstanding - loads[index].outstanding
        loads[index] = load
        if delta != 0 {
            for m in memberships[index] { pools[m.pool].totalOutstanding += delta }
        }
    }

    /// Leading prefix blocks of `hashes` the node at `index` holds (no copy of the cache).
    @inlinable
    public func matchedBlocks(_ hashes: [UInt64], at index: Int) -> Int {
        hashes.isEmpty ? 0 : caches[index].matchedBlocks(hashes)
    }

    /// Whether the node at `index` holds `key` (a block hash or session key).
    @inlinable
    public func cacheContains(_ key: UInt64, at index: Int) -> Bool { caches[index].contains(key) }

    /// Records that the node now holds these prefix blocks (and session keys) in its KV cache.
    public mutating func recordPrefix(_ hashes: [UInt64], at index: Int) {
        caches[index].insert(hashes)
    }

    /// Applies a new power cap (0 < f ≤ 1) to every model profile of a node.
    public mutating func setPowerCapFactor(_ factor: Double, at index: Int) {
        for j in profiles[index].indices { profiles[index][j].powerCapFactor = factor }
        for m in memberships[index] { pools[m.pool].profiles[m.slot].powerCapFactor = factor }
    }

    /// Replaces the node's profile of `profile.model` (a refit), in the node's pool too. A model the node serves
    /// without a profile so far changes pool membership, and only then is the model index rebuilt.
    public mutating func setProfile(_ profile: NodeProfile, at index: Int) {
        guard let j = profiles[index].firstIndex(where: { $0.model == profile.model }),
            let m = memberships[index].first(where: { pools[$0.pool].model == profile.model })
        else {
            var snapshot = snapshot(at: index)
            snapshot.profiles.removeAll { $0.model == profile.model }
            snapshot.profiles.append(profile)
            upsert(snapshot)
            return
        }
        pools[m.pool].totalSlots += profile.maxBatch - profiles[index][j].maxBatch
        profiles[index][j] = profile
        pools[m.pool].profiles[m.slot] = profile
    }

    /// Sets the link round trip (seconds) of every model profile of a node.
    public mutating func setLinkRTT(_ seconds: Double, at index: Int) {
        for j in profiles[index].indices { profiles[index][j].linkRTTSeconds = seconds }
        for m in memberships[index] { pools[m.pool].profiles[m.slot].linkRTTSeconds = seconds }
    }

    /// Replaces a node's labels (they are read per decision, not kept in the pools).
    public mutating func setLabels(_ labels: [String: String], at index: Int) {
        labelSets[index] = labels
    }

    /// Marks whether answers have confirmed the node's profiles (read per decision, not kept in the pools).
    public mutating func setProfileUnconfirmed(_ flag: Bool, at index: Int) {
        unconfirmed[index] = flag
    }

    private mutating func append(_ node: NodeSnapshot) {
        indexByID[node.id] = ids.count
        ids.append(node.id)
        models.append(node.models)
        profiles.append(node.profiles)
        loads.append(node.load)
        caches.append(node.prefixCache)
        labelSets.append(node.labels)
        unconfirmed.append(node.profileUnconfirmed)
    }

    private mutating func rebuildPools() {
        pools = []
        poolIndexByModel = [:]
        memberships = Array(repeating: [], count: ids.count)
        for i in ids.indices {
            for served in models[i] {
                guard let profile = profiles[i].first(where: { $0.model == served.id }) else { continue }
                let p: Int
                if let existing = poolIndexByModel[served.id] {
                    p = existing
                } else {
                    p = pools.count
                    poolIndexByModel[served.id] = p
                    pools.append(
                        ModelPool(model: served.id, nodeIndices: [], profiles: [], contextTokens: [], totalOutstanding: 0, totalSlots: 0))
                }
                memberships[i].append((p, pools[p].nodeIndices.count))
                pools[p].nodeIndices.append(i)
                pools[p].profiles.append(profile)
                pools[p].contextTokens.append(served.contextTokens)
                pools[p].totalOutstanding += loads[i].outstanding
                pools[p].totalSlots += profile.maxBatch
            }
        }
    }
}
