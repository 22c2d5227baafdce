import Foundation
public import HearthCore
import HearthProtocol
import Logging
import NIOCore
import NIOFoundationCompat

/// Measures what an engine can do before the node registers: prefill time at two prompt lengths and
/// decode step time at batch sizes 1 and 2, fitted into a ``NodeProfile`` the scheduler predicts from.
///
/// The measurements are repeated until two rounds in a row agree within 10 % (at most five rounds) and each is taken
/// at its median over the rounds (``CalibrationRounds``): one round on a busy machine does not set the profile. What
/// the profile still gets wrong, the gateway's refit from real answers corrects (``ProfileRefitter``).
///
/// llama-server reports its own `timings` (prompt and decode milliseconds) in every answer; other
/// engines are timed from outside (first byte and total time of a short streamed answer).
public enum EngineCalibration {
    /// Words per calibration prompt: short and long, a few hundred tokens apart.
    static let promptWords = [16, 400]
    static let outputTokens = 16

    public static func profile(for engine: any Engine, model: ServedModel) async -> NodeProfile? {
        var rounds = CalibrationRounds()
        while !rounds.isDone { rounds.add(await round(engine, model: model.id)) }
        Logger(label: "hearth.node.calibration").info(
            "calibration rounds",
            metadata: [
                "model": "\(model.id)", "rounds": "\(rounds.rounds.count)", "stable": "\(rounds.isStable)",
            ])
        return NodeProfile.fit(model: model.id, samples: rounds.medianSamples, maxBatch: engine.slots, linkRTTSeconds: 0)
    }

    /// One round: each prompt length alone, then, on an engine with two slots or more, two short prompts at once (how
    /// much a second sequence slows each decode step). Nil where a measurement failed.
    static func round(_ engine: any Engine, model: String) async -> [CalibrationSample?] {
        var samples: [CalibrationSample?] = []
        for words in promptWords { samples.append(try? await measure(engine, model: model, words: words, batch: 1)) }
        if engine.slots > 1 {
            async let first = try? measure(engine, model: model, words: promptWords[0], batch: 2)
            async let second = try? measure(engine, model: model, words: promptWords[0], batch: 2)
            samples += await [first, second]
        }
        return samples
    }

    static func measure(_ engine: any Engine, model: String, words: Int, batch: Int) async throws -> CalibrationSample {
        let prompt = (0..<words).map { "w\($0 % 97)" }.joined(separator: " ")
        let body: [String: Any] = [
            "model": model, "messages": [["role": "user", "content": prompt]], "max_tokens": outputTokens,
            "temperature": 0, "stream": true, "cache_prompt": false, "ignore_eos": true,
        ]
        let request = EngineRequest(
            path: "/v1/chat/completions", body: ByteBuffer(data: try JSONSerialization.data(withJSONObject: body)), stream: true)
        let started = ContinuousClock.now
        var firstToken: ContinuousClock.Instant?
        var text = ""
        try await engine.run(request) { _ in
        } onData: { chunk in
            if firstToken == nil { firstToken = .now }
            text += String(buffer: chunk)
        }
        let finished = ContinuousClock.now
        if let timings = reportedTimings(in: text) {
            return CalibrationSample(
                promptTokens: timings.promptTokens,
                prefillSeconds: timings.promptSeconds,
                batchSize: batch,
                decodeStepSeconds: timings.decodeSteps > 0 ? timings.decodeSeconds / Double(timings.decodeSteps) : 0
            )
        }
        let prefill = (firstToken ?? finished) - started
        let decode = finished - (firstToken ?? finished)
        return CalibrationSample(
            promptTokens: max(1, words * 4 / 3),
            prefillSeconds: max(1e-6, prefill.seconds),
            batchSize: batch,
            decodeStepSeconds: max(1e-6, decode.seconds / Double(outputTokens - 1))
        )
    }

    /// llama-server's `timings` object from the last event that has one.
    static func reportedTimings(in sse: String) -> (promptTokens: Int, promptSeconds: Double, decodeSteps: Int, decodeSeconds: Double)? {
        for event in sse.components(separatedBy: "\n\n").reversed() where event.contains("\"timings\"") {
            guard let start = event.range(of: "data: "),
                let object = try? JSONSerialization.jsonObject(with: Data(event[start.upperBound...].utf8)) as? [String: Any],
                let timings = object["timings"] as? [String: Any],
                let promptN = timings["prompt_n"] as? Int, let promptMS = timings["prompt_ms"] as? Double,
                let predictedN = timings["predicted_n"] as? Int, let predictedMS = timings["predicted_ms"] as? Double
            else { continue }
            return (promptN, promptMS / 1000, max(0, predictedN - 1), predictedMS / 1000)
        }
        return nil
    }
}
