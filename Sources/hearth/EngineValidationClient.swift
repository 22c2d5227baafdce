import AsyncHTTPClient
import Foundation
import HearthCore
import HearthSim
import NIOCore
import NIOFoundationCompat

/// The real client of `hearth sim validate`: streams `/v1/completions` from an engine or a gateway and times the
/// answer on this process's clock (TTFT from sending to the first content token, end to end to the stream's end).
///
/// The answer is the engine's, so it is read defensively: each SSE line is capped, the whole body too, and counts
/// that are missing, negative or absurd fall back to what was asked for or counted here.
struct EngineValidationClient: ValidationEngineClient {
    let baseURL: String
    let model: String
    let apiKey: String?
    let client: HTTPClient

    static let maxLineBytes = 1 << 20
    static let maxBodyBytes = 64 << 20

    struct Failure: Error, CustomStringConvertible {
        var description: String
    }

    func send(_ request: ValidationRequest, sentAt: Double) async throws -> ValidationObservation {
        let body: [String: Any] = [
            "model": model, "prompt": ValidationPromptText.text(request.segments), "max_tokens": request.outputTokens,
            "stream": true, "stream_options": ["include_usage": true], "temperature": 0,
            // llama-server: generate exactly max_tokens and keep the prompt cache (a gateway drops both fields).
            "ignore_eos": true, "cache_prompt": true,
        ]
        var outbound = HTTPClientRequest(url: baseURL + "/v1/completions")
        outbound.method = .POST
        outbound.headers.add(name: "Content-Type", value: "application/json")
        // A pooled connection the engine has since closed fails the request ("I/O on closed channel"): one each.
        outbound.headers.add(name: "Connection", value: "close")
        if let apiKey { outbound.headers.add(name: "Authorization", value: "Bearer \(apiKey)") }
        outbound.body = .bytes(ByteBuffer(data: try JSONSerialization.data(withJSONObject: body)))
        let started = ContinuousClock.now
        let response = try await client.execute(outbound, timeout: .minutes(10))
        guard response.status == .ok else {
            let text = String(buffer: try await response.body.collect(upTo: 1 << 16))
            throw Failure(description: "engine answered \(response.status.code): \(text.prefix(200))")
        }
        var meter = StreamMeter()
        var line: [UInt8] = []
        var received = 0
        reading: for try await chunk in response.body {
            received += chunk.readableBytes
            guard received <= Self.maxBodyBytes else { throw Failure(description: "answer over \(Self.maxBodyBytes) bytes") }
            for byte in chunk.readableBytesView {
                if byte == UInt8(ascii: "\n") {
                    if meter.consume(line, at: ContinuousClock.now) { break reading }
                    line.removeAll(keepingCapacity: true)
                } else {
                    guard line.count < Self.maxLineBytes else { throw Failure(description: "SSE line over \(Self.maxLineBytes) bytes") }
                    line.append(byte)
                }
            }
        }
        let finished = ContinuousClock.now
        guard let first = meter.firstToken else { throw Failure(description: "the answer had no content token") }
        let prompt = meter.promptTokens.flatMap { $0 > 0 && $0 < 10_000_000 ? $0 : nil } ?? request.promptTokens
        let counted = meter.contentEvents
        let completion = meter.completionTokens.flatMap { $0 > 0 && $0 < 10_000_000 ? $0 : nil } ?? counted
        return ValidationObservation(
            id: request.id, sentAt: sentAt, ttft: (first - started).seconds, e2e: (finished - started).seconds, promptTokens: prompt,
            cachedTokens: meter.cachedTokens, completionTokens: max(1, completion))
    }
}

/// Reads an OpenAI-style completion stream line by line: when the first content arrived, how many content events
/// came, and the usage (or llama-server `timings`) figures of the last event that had them.
struct StreamMeter {
    var firstToken: ContinuousClock.Instant?
    var contentEvents = 0
    var promptTokens: Int?
    var completionTokens: Int?
    var cachedTokens: Int?

    /// Takes one line (without its newline); returns true at `data: [DONE]`.
    mutating func consume(_ line: [UInt8], at now: ContinuousClock.Instant) -> Bool {
        let prefix = Array("data:".utf8)
        guard line.count > prefix.count, Array(line.prefix(prefix.count)) == prefix else { return false }
        let payload = line.dropFirst(prefix.count).drop { $0 == UInt8(ascii: " ") }
        if payload.elementsEqual("[DONE]".utf8) { return true }
        guard let object = try? JSONSerialization.jsonObject(with: Data(payload)) as? [String: Any] else { return false }
        let choices = object["choices"] as? [[String: Any]] ?? []
        if let choice = choices.first {
            let text = (choice["text"] as? String) ?? ((choice["delta"] as? [String: Any])?["content"] as? String) ?? ""
            if !text.isEmpty {
                contentEvents += 1
                if firstToken == nil { firstToken = now }
            }
        }
        if let usage = object["usage"] as? [String: Any] {
            promptTokens = (usage["prompt_tokens"] as? Int) ?? promptTokens
            completionTokens = (usage["completion_tokens"] as? Int) ?? completionTokens
            if let details = usage["prompt_tokens_details"] as? [String: Any], let cached = details["cached_tokens"] as? Int {
                cachedTokens = cached
            }
        }
        if let timings = object["timings"] as? [String: Any] {
            if let promptN = timings["prompt_n"] as? Int, let cacheN = timings["cache_n"] as? Int {
                promptTokens = promptTokens ?? promptN &+ cacheN
                cachedTokens = cachedTokens ?? cacheN
            }
            if let predicted = timings["predicted_n"] as? Int { completionTokens = completionTokens ?? predicted }
        }
        return false
    }
}
