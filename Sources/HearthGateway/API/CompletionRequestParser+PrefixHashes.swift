import HearthCore
import HearthProtocol

extension CompletionRequestParser {
    /// Tokens per prefix block at the gateway: fine enough that a few-hundred-token document or system prompt is whole
    /// blocks before the question or turn that differs, so the next request over it finds the node that read it.
    static let prefixBlockTokens = PromptPrefixHasher.routingBlockTokens

    /// The prompt's prefix-block hashes (``PromptPrefixHashes``), read from the fields ``parse(_:endpoint:taskHeader:)``
    /// has already validated: a chat's messages, or a completion's prompt text or token ids, in blocks of
    /// ``prefixBlockTokens``. Only the first ``PromptPrefixHasher/routingMaxBlocks`` blocks are read. Not yet salted: the
    /// relay mixes in the cache partition's key (``CacheIsolation/isolate(_:partitionKey:)``) before the scheduler sees
    /// them.
    static func prefixHashes(_ fields: [String: Any], endpoint: CompletionRequest.Endpoint) -> [UInt64] {
        let (block, bound) = (prefixBlockTokens, PromptPrefixHasher.routingMaxBlocks)
        return switch endpoint {
        case .chatCompletions: PromptPrefixHashes.chat(fields["messages"] as? [Any] ?? [], blockTokens: block, maxBlocks: bound)
        case .completions: PromptPrefixHashes.prompt(fields["prompt"], blockTokens: block, maxBlocks: bound)
        }
    }
}
