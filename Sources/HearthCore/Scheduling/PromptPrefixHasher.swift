/// Chained hashes of a prompt's leading blocks: the `prefixHashes` that prefix-affinity routing and the fleet's
/// ``PrefixCache`` work on, computed from the prompt the gateway parsed.
///
/// - A block is `blockTokens` tokens: ``NodeProfile/blockTokens`` (512, the traces' block) by default, and
///   ``routingBlockTokens`` (64) at the gateway, so that a document shorter than 512 tokens still gives the next
///   question over it a key to the node that read it. The request says which (``SchedulingRequest/prefixBlockTokens``),
///   and the performance model credits matched blocks × that many cached tokens. The gateway has no tokenizer, so a
///   block is `blockTokens` × ``bytesPerToken`` bytes of the prompt (256 at the gateway), the same four bytes a token
///   that its prompt-token estimate assumes.
/// - Block *i*'s hash covers blocks 0…*i*: one running state absorbs the whole byte stream and each block's hash
///   is that state at the block's end, so two prompts share exactly their leading hashes up to the first block
///   where they differ. The last, partial block is hashed too (with its length), so an exact repeat matches in full,
///   as the traces' `hash_ids` do.
/// - A chat is hashed as the chat template sees it, with its role boundaries: every message is opened by
///   `0x00, role, 0x01`, so the same text under another role, or split differently between messages, hashes
///   differently. Prompt text and token-id prompts are separate kinds and never match each other or a chat.
/// - The work is bounded: at most `maxBlocks` blocks (``defaultMaxBlocks``: 64 of 512 tokens; at the gateway
///   ``routingMaxBlocks``: 512 of 64 tokens; either way 128 KiB, 32K tokens) are hashed; the rest of the prompt is not
///   read. A cached prefix longer than that is under-counted, never over-counted.
///
/// Not a cryptographic hash: a tenant can craft collisions within its own prompts. The gateway mixes every hash
/// with the request's cache-partition key (``CacheIsolation/isolate(_:partitionKey:)``) before routing, so no
/// collision reaches across partitions.
public struct PromptPrefixHasher: Sendable {
    /// What the bytes are: each kind starts from its own state.
    public enum Kind: UInt64, Sendable {
        /// Chat messages, each opened with ``beginMessage(role:)``.
        case chat = 0x6368_6174
        /// A completion prompt's text.
        case text = 0x7465_7874
        /// A completion prompt of token ids (four bytes each: a block is then exactly 512 tokens).
        case tokens = 0x746F_6B73
    }

    /// The bytes of prompt text a token stands for (the gateway's prompt-token estimate uses the same figure).
    public static let bytesPerToken = 4
    /// Bytes in a default block: ``NodeProfile/blockTokens`` tokens of ``bytesPerToken`` bytes.
    public static let blockBytes = NodeProfile.blockTokens * bytesPerToken
    /// Blocks hashed at most by default: 128 KiB of prompt, 32K tokens.
    public static let defaultMaxBlocks = 64
    /// The gateway's block: fine enough that a short document or a shared system prompt of a few hundred tokens is
    /// whole blocks before the part that differs (the question, the user's turn).
    public static let routingBlockTokens = 64
    /// The gateway's bound: 128 KiB of prompt, as ``defaultMaxBlocks`` of the default block.
    public static let routingMaxBlocks = 512

    private let maxBlocks: Int
    /// This hasher's block in bytes (a multiple of 8, so a block always ends where a word does).
    private let blockSize: Int
    private var hashes: [UInt64] = []
    private var state: UInt64
    /// Bytes not yet absorbed (fewer than 8), little-endian, and how many; `pendingCount == blockFill % 8`.
    private var pending: UInt64 = 0
    private var pendingCount = 0
    /// Bytes of the current block seen so far.
    private var blockFill = 0

    /// `blockTokens` is rounded up to an even count (eight bytes), at least 2.
    public init(kind: Kind, blockTokens: Int = NodeProfile.blockTokens, maxBlocks: Int = PromptPrefixHasher.defaultMaxBlocks) {
        self.maxBlocks = max(0, maxBlocks)
        blockSize = max(2, blockTokens + blockTokens % 2) * Self.bytesPerToken
        state = Self.finalise(kind.rawValue)
        hashes.reserveCapacity(min(self.maxBlocks, 8))
    }

    /// Whether `maxBlocks` blocks are hashed: further input is ignored, so callers may stop feeding it.
    public var isFull: Bool { hashes.count >= maxBlocks }

    /// Opens a chat message of `role` (the role boundary is part of the hashed bytes).
    public mutating func beginMessage(role: String) {
        append(byte: 0x00)
        append(role)
        append(byte: 0x01)
    }

    /// Appends `text`'s UTF-8 bytes.
    public mutating func append(_ text: String) {
        guard !isFull else { return }
        var text = text
        text.withUTF8 { append(bytes: UnsafeRawBufferPointer($0)) }
    }

    /// Appends one token id of a token-id prompt (four bytes, little-endian).
    public mutating func append(token: UInt32) {
        guard !isFull else { return }
        withUnsafeBytes(of: token.littleEndian) { append(bytes: $0) }
    }

    /// Appends raw bytes.
    public mutating func append(bytes: UnsafeRawBufferPointer) {
        let count = bytes.count
        var i = 0
        while i < count, !isFull {
            if pendingCount == 0 && count - i >= 8 {
                // Whole words up to the block's end or the input's, whichever comes first: the fast path.
                let words = min((count - i) / 8, (blockSize - blockFill) / 8)
                for w in 0..<words {
                    absorb(UInt64(littleEndian: bytes.loadUnaligned(fromByteOffset: i + w * 8, as: UInt64.self)))
                }
                i += words * 8
                blockFill += words * 8
            } else {
                pending |= UInt64(bytes[i]) << (8 * UInt64(pendingCount))
                pendingCount += 1
                blockFill += 1
                i += 1
                if pendingCount == 8 {
                    absorb(pending)
                    pending = 0
                    pendingCount = 0
                }
            }
            // Blocks are a multiple of 8 bytes, so a block ends where a word does: nothing is pending here.
            if blockFill == blockSize {
                hashes.append(Self.finalise(state))
                blockFill = 0
            }
        }
    }

    private mutating func append(byte: UInt8) {
        guard !isFull else { return }
        withUnsafeBytes(of: byte) { append(bytes: $0) }
    }

    /// The block hashes: every full block, then the partial last one (unless `maxBlocks` were reached).
    public consuming func finish() -> [UInt64] {
        if blockFill > 0 && !isFull {
            // The length tells "ab" from "ab\0" (both leave the same pending word).
            absorb(pending)
            absorb(UInt64(blockFill) | 1 << 63)
            hashes.append(Self.finalise(state))
        }
        return hashes
    }

    /// The hashes of a chat: `(role, text)` per message, in order.
    public static func hashes(
        messages: [(role: String, text: String)], blockTokens: Int = NodeProfile.blockTokens, maxBlocks: Int = defaultMaxBlocks
    ) -> [UInt64] {
        var hasher = PromptPrefixHasher(kind: .chat, blockTokens: blockTokens, maxBlocks: maxBlocks)
        for message in messages where !hasher.isFull {
            hasher.beginMessage(role: message.role)
            hasher.append(message.text)
        }
        return hasher.finish()
    }

    /// The hashes of a completion prompt's text.
    public static func hashes(text: String, blockTokens: Int = NodeProfile.blockTokens, maxBlocks: Int = defaultMaxBlocks) -> [UInt64] {
        var hasher = PromptPrefixHasher(kind: .text, blockTokens: blockTokens, maxBlocks: maxBlocks)
        hasher.append(text)
        return hasher.finish()
    }

    /// One word into the running state: xor, multiply by an odd constant (low bits into high), xor-shift (high into
    /// low). A bijection of the state for each word; about six cycles per 8 bytes, against FNV-1a's four per byte.
    @inline(__always)
    private mutating func absorb(_ word: UInt64) {
        state = (state ^ word) &* 0x9E37_79B9_7F4A_7C15
        state ^= state >> 29
    }

    /// The splitmix64 finaliser: every state bit reaches every hash bit (jump hashing reads the high bits).
    @inline(__always)
    private static func finalise(_ value: UInt64) -> UInt64 {
        var z = value
        z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
        z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
        return z ^ (z >> 31)
    }
}
