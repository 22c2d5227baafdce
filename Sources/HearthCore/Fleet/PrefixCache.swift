/// A least-recently-used set of prefix-block hashes: which leading prompt blocks a node holds in KV cache.
///
/// A block is ``NodeProfile/blockTokens`` (512) tokens, as in Mooncake's `hash_ids`. Lookups do not allocate.
public struct PrefixCache: Sendable {
    public private(set) var capacity: Int
    private var slotByKey: [UInt64: Int32] = [:]
    private var keys: [UInt64] = []
    private var prev: [Int32] = []
    private var next: [Int32] = []
    private var head: Int32 = -1  // most recent
    private var tail: Int32 = -1  // least recent

    public init(capacity: Int) {
        self.capacity = max(0, capacity)
    }

    public var count: Int { keys.count }

    public func contains(_ key: UInt64) -> Bool { slotByKey[key] != nil }

    /// How many of `hashes`, from the first, are cached (stops at the first miss).
    public func matchedBlocks(_ hashes: [UInt64]) -> Int {
        var matched = 0
        for hash in hashes {
            guard slotByKey[hash] != nil else { break }
            matched += 1
        }
        return matched
    }

    /// Marks `hashes` as most recently used, evicting the least recently used beyond capacity.
    public mutating func insert(_ hashes: [UInt64]) {
        for hash in hashes { insert(hash) }
    }

    public mutating func insert(_ key: UInt64) {
        guard capacity > 0 else { return }
        if let slot = slotByKey[key] {
            moveToFront(slot)
            return
        }
        let slot: Int32
        if keys.count < capacity {
            slot = Int32(keys.count)
            keys.append(key)
            prev.append(-1)
            next.append(-1)
        } else {
            slot = tail
            unlink(slot)
            slotByKey[keys[Int(slot)]] = nil
            keys[Int(slot)] = key
        }
        slotByKey[key] = slot
        pushFront(slot)
    }

    private mutating func moveToFront(_ slot: Int32) {
        guard slot != head else { return }
        unlink(slot)
        pushFront(slot)
    }

    private mutating func unlink(_ slot: Int32) {
        let p = prev[Int(slot)]
        let n = next[Int(slot)]
        if p >= 0 { next[Int(p)] = n } else { head = n }
        if n >= 0 { prev[Int(n)] = p } else { tail = p }
        prev[Int(slot)] = -1
        next[Int(slot)] = -1
    }

    private mutating func pushFront(_ slot: Int32) {
        prev[Int(slot)] = -1
        next[Int(slot)] = head
        if head >= 0 { prev[Int(head)] = slot }
        head = slot
        if tail < 0 { tail = slot }
    }
}
