/// Turns prompt segments into text the engine tokenises to exactly one token per word, and into the
/// prefix-block hashes the simulator's cache matches on.
///
/// Every word is a common English word that SmolLM2's (GPT-2 style) tokenizer, like most BPE vocabularies, keeps
/// as a single token with its leading space; the pre-tokenizer splits at spaces, so the text of two segments side
/// by side is their tokens side by side. The engine's reported prompt count is still what the comparison uses.
public enum ValidationPromptText {
    /// 64 single-token words (checked against SmolLM2's `/tokenize`).
    static let words: [String] = [
        "the", "cat", "sat", "on", "a", "mat", "and", "dog", "ran", "to", "of", "in", "is", "it", "for", "with",
        "as", "was", "at", "by", "from", "this", "that", "be", "are", "or", "an", "not", "but", "all", "can", "has",
        "had", "one", "will", "up", "out", "if", "about", "who", "get", "which", "go", "me", "when", "make", "like", "time",
        "no", "just", "him", "know", "take", "people", "into", "year", "your", "good", "some", "could", "them", "see",
        "other", "than",
    ]

    /// The prompt text of `segments`: each token a word with its leading space.
    public static func text(_ segments: [PromptSegment]) -> String {
        var text = ""
        text.reserveCapacity(segments.reduce(0) { $0 &+ $1.tokens } * 6)
        for segment in segments {
            var state = segment.key ^ 0x9E37_79B9_7F4A_7C15
            for _ in 0..<segment.tokens {
                state = splitMix(&state)
                text += " "
                text += words[Int(state >> 58)]
            }
        }
        return text
    }

    /// Hashes of the prompt's full `blockTokens`-token blocks: block i's hash depends on every token up to its end,
    /// so two prompts share block hashes exactly as far as they share whole leading blocks of text.
    public static func blockHashes(_ segments: [PromptSegment], blockTokens: Int) -> [UInt64] {
        guard blockTokens > 0 else { return [] }
        var hashes: [UInt64] = []
        var hash: UInt64 = 0xcbf2_9ce4_8422_2325
        var inBlock = 0
        for segment in segments {
            var offset = 0
            while offset < segment.tokens {
                let take = min(blockTokens - inBlock, segment.tokens - offset)
                // The run (segment, offset, length) fixes the text of these tokens.
                hash = mix(hash, segment.key)
                hash = mix(hash, UInt64(offset))
                hash = mix(hash, UInt64(take))
                offset += take
                inBlock += take
                if inBlock == blockTokens {
                    hashes.append(hash)
                    inBlock = 0
                }
            }
        }
        return hashes
    }

    static func mix(_ hash: UInt64, _ value: UInt64) -> UInt64 {
        var state = hash ^ value
        return splitMix(&state)
    }

    static func splitMix(_ state: inout UInt64) -> UInt64 {
        state &+= 0x9E37_79B9_7F4A_7C15
        var z = state
        z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
        z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
        return z ^ (z >> 31)
    }
}
