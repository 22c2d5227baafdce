import Foundation
import HearthCore
import HearthNode
import HearthProtocol
import NIOCore
import NIOFoundationCompat
import Synchronization

/// An engine with one prompt cache shared by every request, as a curious tenant meets it: each answer reports how
/// much of its prompt was found cached, the way real engines do (`usage.prompt_tokens_details.cached_tokens`,
/// llama.cpp's `timings.cache_n`, and in a stream a `prompt_progress` event first).
///
/// `honoursSalt`: `cache_salt` partitions the cache (vLLM) or is ignored (llama-server). `cache_prompt: false` stops
/// a request reusing the cache but, as in llama.cpp, its prompt is still kept. `probes`: the engine answers the
/// node's join-time salt probe by running it (as ``OpenAICompatibleEngine`` does); otherwise it is untested.
final class PrefixCacheEngine: Engine {
    let kind = "openai"
    let slots = 4
    let model = "test-model"
    private let honoursSalt: Bool
    private let probes: Bool
    private let state = Mutex<(cached: Set<String>, served: [Served])>(([], []))

    /// One request the engine ran for a client (probe requests are not listed).
    struct Served: Sendable {
        var body: [String: String]
        var prompt: String
        /// Prompt tokens the engine found cached and reported.
        var cachedTokens: Int
    }

    init(honoursSalt: Bool, probes: Bool = true) {
        self.honoursSalt = honoursSalt
        self.probes = probes
    }

    var served: [Served] { state.withLock { $0.served } }

    func models() async throws -> [ServedModel] { [ServedModel(id: model, contextTokens: 32_768)] }
    func isHealthy() async -> Bool { true }
    func calibrate(_ model: ServedModel) async -> NodeProfile? {
        NodeProfile(
            model: model.id, prefillTokensPerSecond: 100_000, prefillOverheadSeconds: 0.001, decodeBaseSeconds: 0.001,
            decodePerSequenceSeconds: 0.0001, maxBatch: slots, prefixCacheBlocks: 0, linkRTTSeconds: 0)
    }

    func probeCacheSalt(model: ServedModel) async -> CacheSaltProbeResult? {
        probes ? await CacheSaltProbe.run(on: self, model: model) : nil
    }

    func run(_ request: EngineRequest, onHead: (StreamHead) async throws -> Void, onData: (ByteBuffer) async throws -> Void) async throws {
        let object = (try? JSONSerialization.jsonObject(with: Data(buffer: request.body)) as? [String: Any]) ?? [:]
        let messages = object["messages"] as? [[String: Any]] ?? []
        let prompt = messages.compactMap { $0["content"] as? String }.joined(separator: "\n")
        let salt = object["cache_salt"] as? String ?? ""
        let key = (honoursSalt ? salt + "|" : "") + prompt
        let reuse = object["cache_prompt"] as? Bool ?? true
        let promptTokens = max(2, prompt.utf8.count / 4)
        let cached = state.withLock { state in
            let hit = reuse && state.cached.contains(key)
            state.cached.insert(key)
            if !prompt.hasPrefix("Hearth cache-salt probe") {
                state.served.append(Served(body: object.mapValues { "\($0)" }, prompt: prompt, cachedTokens: hit ? promptTokens - 1 : 0))
            }
            return hit ? promptTokens - 1 : 0
        }
        let usage =
            #""usage":{"prompt_tokens":\#(promptTokens),"completion_tokens":1,"total_tokens":\#(promptTokens + 1),"#
            + #""prompt_tokens_details":{"cached_tokens":\#(cached)}},"timings":{"cache_n":\#(cached),"prompt_n":\#(promptTokens - cached)}"#
        try await onHead(StreamHead(status: 200, contentType: request.stream ? "text/event-stream" : "application/json"))
        guard request.stream else {
            try await onData(
                ByteBuffer(
                    string: #"{"object":"chat.completion","choices":[{"index":0,"message":{"role":"assistant","content":"ok"},"#
                        + #""finish_reason":"stop"}],"# + usage + "}"))
            return
        }
        for event in [
            #"{"choices":[{"index":0,"delta":{}}],"prompt_progress":{"total":\#(promptTokens),"cache":\#(cached),"processed":\#(promptTokens)}}"#,
            #"{"choices":[{"index":0,"delta":{"content":"ok"}}]}"#,
            #"{"choices":[],"# + usage + "}",
        ] {
            try await onData(ByteBuffer(string: "data: " + event + "\n\n"))
        }
        try await onData(ByteBuffer(string: "data: [DONE]\n\n"))
    }
}
