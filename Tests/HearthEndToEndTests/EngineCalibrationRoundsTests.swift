import Foundation
import HearthCore
import HearthNode
import HearthProtocol
import NIOCore
import Synchronization
import Testing

/// A node calibrated while its machine is busy does not keep the busy figures: calibration repeats until two rounds
/// agree, and takes the median.
@Suite struct EngineCalibrationRoundsTests {
    /// An engine that reports llama-server's `timings`: 1,000 prompt tokens a second and 30 ms a decode step, each
    /// `slowdown(round)` times slower (one round is the two prompt lengths, on this one-slot engine).
    final class TimedEngine: Engine {
        let kind = "llama"
        let slots = 1
        private let slowdown: @Sendable (Int) -> Double
        private let served = Mutex(0)

        init(slowdown: @escaping @Sendable (Int) -> Double) { self.slowdown = slowdown }

        var requests: Int { served.withLock { $0 } }

        func models() async throws -> [ServedModel] { [ServedModel(id: "m", contextTokens: 4_096)] }
        func isHealthy() async -> Bool { true }

        func run(_ request: EngineRequest, onHead: (StreamHead) async throws -> Void, onData: (ByteBuffer) async throws -> Void)
            async throws
        {
            let index = served.withLock { count in
                defer { count += 1 }
                return count
            }
            let factor = slowdown(index / 2)
            let promptTokens = request.body.readableBytes / 4
            let timings: [String: Any] = [
                "prompt_n": promptTokens, "prompt_ms": Double(promptTokens) * factor + 0.5,
                "predicted_n": 16, "predicted_ms": 15 * 30 * factor + 0.5,
            ]
            let event: [String: Any] = ["choices": [] as [Any], "timings": timings]
            try await onHead(StreamHead(status: 200, contentType: "text/event-stream"))
            try await onData(ByteBuffer(string: "data: {\"choices\":[{\"index\":0,\"delta\":{\"content\":\"w\"}}]}\n\n"))
            let timed = String(decoding: try JSONSerialization.data(withJSONObject: event), as: UTF8.self)
            try await onData(ByteBuffer(string: "data: \(timed)\n\n"))
            try await onData(ByteBuffer(string: "data: [DONE]\n\n"))
        }
    }

    @Test("a first round 3× slow (a busy machine) is measured again: three rounds, and the profile is the calm one")
    func aBusyFirstRoundIsOutvoted() async throws {
        let engine = TimedEngine { round in round == 0 ? 3 : 1 }
        let profile = try #require(await EngineCalibration.profile(for: engine, model: ServedModel(id: "m", contextTokens: 4_096)))
        #expect(engine.requests == 6, "three rounds of two measurements")
        #expect(abs(profile.prefillTokensPerSecond / 1_000 - 1) < 0.05, "\(profile)")
        #expect(abs(profile.decodeStepSeconds(batch: 1) / 0.030 - 1) < 0.05, "\(profile)")
    }

    @Test("an engine whose speed never settles is measured five rounds, no more")
    func roundsAreBounded() async throws {
        let engine = TimedEngine { round in round % 2 == 0 ? 1 : 2 }
        _ = await EngineCalibration.profile(for: engine, model: ServedModel(id: "m", contextTokens: 4_096))
        #expect(engine.requests == 10)
    }
}
