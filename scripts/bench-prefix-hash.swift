// The gateway's prompt prefix hashes per request (scripts/bench-prefix-hash.sh builds this with HearthCore, -O).
//
// A chat of a system prompt and a short question, at 2 KB, 32 KB and 256 KB of prompt: the JSON body is parsed
// once as the gateway parses it (Foundation's JSONSerialization), then the messages are hashed from the parsed
// strings the way CompletionRequestParser.prefixHashes reads them (64-token blocks; 512-token blocks beside them). The parse is timed too, for scale, and a plain
// byte-at-a-time FNV-1a over the same bytes, for the choice of hash.
import Foundation

@main
enum PrefixHashBench {
    static func main() throws {
        print("prompt      blocks  hash ns/request  ns/byte  (512-token blocks ns)  (FNV-1a ns/request)  JSON parse ns/request")
        for kilobytes in [2, 32, 256] {
            let system = String(
                repeating: "You answer for the Hartley & Sons help desk, politely and briefly. ", count: kilobytes * 1024 / 67)
            let body = try JSONSerialization.data(withJSONObject: [
                "model": "m", "messages": [["role": "system", "content": system], ["role": "user", "content": "Where is parcel 4471?"]],
            ])
            let fields = try JSONSerialization.jsonObject(with: body) as! [String: Any]
            let hashed = min(body.count, PromptPrefixHasher.defaultMaxBlocks * PromptPrefixHasher.blockBytes)
            let blocks = hash(fields).count
            let hashNs = measure { blackHole(hash(fields).last ?? 0) }
            let coarseNs = measure {
                blackHole(hash(fields, blockTokens: NodeProfile.blockTokens, maxBlocks: PromptPrefixHasher.defaultMaxBlocks).last ?? 0)
            }
            let fnvNs = measure { blackHole(fnv(fields)) }
            let parseNs = measure { blackHole((try? JSONSerialization.jsonObject(with: body)) as? [String: Any] == nil ? 1 : 0) }
            print(
                "\(String(kilobytes).padding(toLength: 4, withPad: " ", startingAt: 0)) KB     \(pad(blocks, 6))  \(pad(hashNs, 15))  "
                    + "\(String(format: "%7.3f", Double(hashNs) / Double(hashed)))  \(pad(coarseNs, 21))  \(pad(fnvNs, 19))  \(pad(parseNs, 21))"
            )
        }
    }

    /// CompletionRequestParser.prefixHashes for a chat, as the gateway runs it: 64-token blocks, 128 KiB at most.
    static func hash(
        _ fields: [String: Any], blockTokens: Int = PromptPrefixHasher.routingBlockTokens,
        maxBlocks: Int = PromptPrefixHasher.routingMaxBlocks
    ) -> [UInt64] {
        var hasher = PromptPrefixHasher(kind: .chat, blockTokens: blockTokens, maxBlocks: maxBlocks)
        for case let message as [String: Any] in fields["messages"] as? [Any] ?? [] {
            guard !hasher.isFull, let role = message["role"] as? String else { break }
            hasher.beginMessage(role: role)
            if let text = message["content"] as? String { hasher.append(text) }
        }
        return hasher.finish()
    }

    /// FNV-1a 64, one byte at a time, over the same strings and bound.
    static func fnv(_ fields: [String: Any]) -> UInt64 {
        var value: UInt64 = 0xcbf2_9ce4_8422_2325
        var budget = PromptPrefixHasher.defaultMaxBlocks * PromptPrefixHasher.blockBytes
        for case let message as [String: Any] in fields["messages"] as? [Any] ?? [] {
            for byte in ((message["role"] as? String ?? "") + (message["content"] as? String ?? "")).utf8 {
                guard budget > 0 else { return value }
                value = (value ^ UInt64(byte)) &* 0x0000_0100_0000_01B3
                budget -= 1
            }
        }
        return value
    }

    /// Median of five runs of about 0.2 s each: nanoseconds per call.
    static func measure(_ body: () -> Void) -> Int {
        var iterations = 1
        while true {
            let elapsed = ContinuousClock().measure { for _ in 0..<iterations { body() } }
            if elapsed > .milliseconds(50) { break }
            iterations *= 2
        }
        iterations = max(1, iterations * 4)
        let runs = (0..<5).map { _ in
            let elapsed = ContinuousClock().measure { for _ in 0..<iterations { body() } }
            return Double(elapsed.components.seconds) * 1e9 + Double(elapsed.components.attoseconds) / 1e9
        }
        return Int(runs.sorted()[2] / Double(iterations))
    }

    static func pad(_ value: Int, _ width: Int) -> String {
        let text = String(value)
        return String(repeating: " ", count: max(0, width - text.count)) + text
    }

    @inline(never)
    static func blackHole(_ value: UInt64) { sink &+= value }
    nonisolated(unsafe) static var sink: UInt64 = 0
}
