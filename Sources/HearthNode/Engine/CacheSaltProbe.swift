import Foundation
public import HearthCore
public import HearthProtocol
import NIOCore
import NIOFoundationCompat

/// Tests, at join, whether an engine keeps `cache_salt` partitions apart: one prompt sent with salt A (to fill the
/// cache), again with salt A (it must hit: this shows the engine reports hits at all), then with salt B (it must
/// not hit). Hits are read from the engine's own counts: `usage.prompt_tokens_details.cached_tokens` (vLLM, SGLang)
/// or llama.cpp's `timings.cache_n`.
///
/// The prompt carries a fresh nonce, so no tenant's cache is involved and the probe never hits an earlier probe.
public enum CacheSaltProbe {
    /// Longest the probe waits for one answer; an engine that takes longer is ``CacheSaltProbeResult/unmeasurable``.
    static let answerTimeout: Duration = .seconds(30)

    public static func run(on engine: some Engine, model: ServedModel) async -> CacheSaltProbeResult {
        let nonce = randomHex(bytes: 16)
        // Longer than a few cache blocks (vLLM hashes blocks of 16 tokens; only whole blocks are reused).
        let filler = (0..<6).map { "Line \($0) of a cache probe that no client ever sends." }.joined(separator: " ")
        let prompt = "Hearth cache-salt probe \(nonce). \(filler)"
        let first = randomHex(bytes: 32)
        let second = randomHex(bytes: 32)
        do {
            _ = try await cachedTokens(engine, model: model.id, prompt: prompt, salt: first)
            guard let sameSalt = try await cachedTokens(engine, model: model.id, prompt: prompt, salt: first), sameSalt > 0 else {
                return .unmeasurable
            }
            guard let otherSalt = try await cachedTokens(engine, model: model.id, prompt: prompt, salt: second) else {
                return .unmeasurable
            }
            return otherSalt == 0 ? .honoured : .ignored
        } catch {
            return .unmeasurable
        }
    }

    /// The prompt tokens the engine reports it found cached for one request (nil: it reports none).
    static func cachedTokens(_ engine: some Engine, model: String, prompt: String, salt: String) async throws -> Int? {
        let body: [String: Any] = [
            "model": model, "messages": [["role": "user", "content": prompt]], "max_tokens": 1, "temperature": 0,
            "stream": false, "cache_salt": salt, "cache_prompt": true,
        ]
        let request = EngineRequest(
            path: "/v1/chat/completions", body: ByteBuffer(data: try JSONSerialization.data(withJSONObject: body)), stream: false)
        let answer = try await withThrowingTaskGroup(of: ByteBuffer?.self) { group in
            group.addTask {
                var status = 0
                var collected = ByteBuffer()
                try await engine.run(request) { head in
                    status = head.status
                } onData: { chunk in
                    var chunk = chunk
                    guard collected.readableBytes + chunk.readableBytes <= 1 << 20 else { throw EngineError("probe answer too long") }
                    collected.writeBuffer(&chunk)
                }
                return status == 200 ? collected : nil
            }
            group.addTask {
                try await Task.sleep(for: answerTimeout)
                return nil
            }
            defer { group.cancelAll() }
            return try await group.next() ?? nil
        }
        guard let answer else { throw EngineError("the engine did not answer the cache-salt probe") }
        return cacheHits(in: answer)
    }

    /// `usage.prompt_tokens_details.cached_tokens`, else `timings.cache_n`; nil when the answer has neither.
    static func cacheHits(in answer: ByteBuffer) -> Int? {
        guard let object = try? JSONSerialization.jsonObject(with: Data(buffer: answer)) as? [String: Any] else { return nil }
        let usage = object["usage"] as? [String: Any]
        if let details = usage?["prompt_tokens_details"] as? [String: Any], let cached = details["cached_tokens"] as? Int {
            return cached
        }
        if let timings = object["timings"] as? [String: Any], let cached = timings["cache_n"] as? Int { return cached }
        return nil
    }

    private static func randomHex(bytes: Int) -> String {
        var generator = SystemRandomNumberGenerator()
        return Hex.random(bytes: bytes, using: &generator)
    }
}
