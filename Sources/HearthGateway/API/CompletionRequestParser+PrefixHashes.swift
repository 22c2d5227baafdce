import Foundation
import HearthCore

extension CompletionRequestParser {
    /// Tokens per prefix block at the gateway: fine enough that a few-hundred-token document or system prompt is whole
    /// blocks before the question or turn that differs, so the next request over it finds the node that read it.
    static let prefixBlockTokens = PromptPrefixHasher.routingBlockTokens

    private static func hasher(_ kind: PromptPrefixHasher.Kind) -> PromptPrefixHasher {
        PromptPrefixHasher(kind: kind, blockTokens: prefixBlockTokens, maxBlocks: PromptPrefixHasher.routingMaxBlocks)
    }

    /// The prompt's prefix-block hashes (``PromptPrefixHasher``), read from the fields ``parse(_:endpoint:taskHeader:)``
    /// has already validated: a chat's messages (role and text, text parts in order), or a completion's prompt text or
    /// token ids, in blocks of ``prefixBlockTokens``. Only the first ``PromptPrefixHasher/routingMaxBlocks`` blocks are
    /// read. Not yet salted: the relay mixes in the cache partition's key (``CacheIsolation/isolate(_:partitionKey:)``)
    /// before the scheduler sees them.
    static func prefixHashes(_ fields: [String: Any], endpoint: CompletionRequest.Endpoint) -> [UInt64] {
        switch endpoint {
        case .chatCompletions: chatPrefixHashes(fields["messages"] as? [Any] ?? [])
        case .completions: promptPrefixHashes(fields["prompt"])
        }
    }

    private static func chatPrefixHashes(_ messages: [Any]) -> [UInt64] {
        var hasher = hasher(.chat)
        for case let message as [String: Any] in messages {
            guard !hasher.isFull, let role = message["role"] as? String else { break }
            hasher.beginMessage(role: role)
            switch message["content"] {
            case let text as String:
                hasher.append(text)
            case let parts as [Any]:
                for case let part as [String: Any] in parts where !hasher.isFull {
                    if let text = part["text"] as? String { hasher.append(text) }
                }
            default:
                break  // an assistant's tool calls without text: its role boundary still counts
            }
        }
        return hasher.finish()
    }

    private static func promptPrefixHashes(_ prompt: Any?) -> [UInt64] {
        switch prompt {
        case let text as String:
            var hasher = hasher(.text)
            hasher.append(text)
            return hasher.finish()
        case let parts as [Any] where parts.count == 1 && parts[0] is String:
            return promptPrefixHashes(parts[0])
        case let ids as [Any]:
            var hasher = hasher(.tokens)
            for case let id as NSNumber in ids {
                guard !hasher.isFull else { break }
                hasher.append(token: UInt32(truncatingIfNeeded: id.int64Value))
            }
            return hasher.finish()
        default:
            return []
        }
    }
}
