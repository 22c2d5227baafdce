import Foundation
import HearthCore

/// A completion request's prompt prefix hashes (``PromptPrefixHasher``) read from its decoded JSON fields, the same
/// way at both ends: the gateway routes by them, the node picks the llama.cpp slot whose cached prompt shares the
/// most of them. Reading the decoded fields, not the body's bytes, makes them independent of key order and escaping,
/// which a JSON encoder is free to change between two requests with the same prompt.
public enum PromptPrefixHashes {
    /// A chat's messages (role and text, a message's text parts in order) or a completion's prompt (text, or token
    /// ids), whichever `fields` has (messages first); empty when it has neither. At most `maxBlocks` are read.
    public static func of(_ fields: [String: Any], blockTokens: Int, maxBlocks: Int) -> [UInt64] {
        if let messages = fields["messages"] as? [Any] {
            return chat(messages, blockTokens: blockTokens, maxBlocks: maxBlocks)
        }
        return prompt(fields["prompt"], blockTokens: blockTokens, maxBlocks: maxBlocks)
    }

    /// A chat's messages, each opened by its role boundary. Stops at the first entry that is not a message with a role.
    public static func chat(_ messages: [Any], blockTokens: Int, maxBlocks: Int) -> [UInt64] {
        var hasher = PromptPrefixHasher(kind: .chat, blockTokens: blockTokens, maxBlocks: maxBlocks)
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

    /// A completion's prompt: one text (alone or as a one-element list) or a list of token ids.
    public static func prompt(_ prompt: Any?, blockTokens: Int, maxBlocks: Int) -> [UInt64] {
        switch prompt {
        case let text as String:
            return PromptPrefixHasher.hashes(text: text, blockTokens: blockTokens, maxBlocks: maxBlocks)
        case let parts as [Any] where parts.count == 1 && parts[0] is String:
            return Self.prompt(parts[0], blockTokens: blockTokens, maxBlocks: maxBlocks)
        case let ids as [Any]:
            var hasher = PromptPrefixHasher(kind: .tokens, blockTokens: blockTokens, maxBlocks: maxBlocks)
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
