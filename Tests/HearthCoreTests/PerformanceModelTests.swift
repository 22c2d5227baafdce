import HearthCore
import Testing

@Suite struct PerformanceModelTests {
    @Test func publishedFiguresOrderTheGPUs() {
        let model = ModelSpec.llama31_8B
        let h100 = NodeProfile(gpu: .h100SXM, model: model)
        let rtx = NodeProfile(gpu: .rtxPro6000Blackwell, model: model)
        let l4 = NodeProfile(gpu: .l4, model: model)
        let cpu = NodeProfile(gpu: .cpuNode, model: model)
        #expect(h100.prefillTokensPerSecond > rtx.prefillTokensPerSecond)
        #expect(rtx.prefillTokensPerSecond > l4.prefillTokensPerSecond)
        #expect(l4.prefillTokensPerSecond > cpu.prefillTokensPerSecond)
        #expect(h100.decodeStepSeconds(batch: 1) < l4.decodeStepSeconds(batch: 1))
        // Decode of 8 GB of FP8 weights at 80 % of 3.35 TB/s is about 3 ms a step.
        #expect(abs(h100.decodeBaseSeconds - 0.003) < 0.0005)
        #expect(cpu.decodeStepSeconds(batch: 1) > 0.1)
    }

    @Test func powerCapSlowsPrefillMoreThanDecode() {
        var profile = Fixtures.profile()
        let prefill = profile.prefillSeconds(tokens: 1000)
        let decode = profile.decodeStepSeconds(batch: 4)
        profile.powerCapFactor = 0.5
        #expect(abs(profile.prefillSeconds(tokens: 1000) - 2 * prefill) < 1e-12)
        #expect(abs(profile.decodeStepSeconds(batch: 4) - decode / 0.75) < 1e-12)
    }

    @Test func fitRecoversCalibration() throws {
        let truth = NodeProfile(
            model: "m", prefillTokensPerSecond: 2000, prefillOverheadSeconds: 0.01, decodeBaseSeconds: 0.02,
            decodePerSequenceSeconds: 0.001,
            maxBatch: 16)
        let samples = [128, 512, 2048].flatMap { prompt in
            [1, 4, 16].map { batch in
                CalibrationSample(
                    promptTokens: prompt, prefillSeconds: truth.prefillSeconds(tokens: prompt), batchSize: batch,
                    decodeStepSeconds: truth.decodeStepSeconds(batch: batch))
            }
        }
        let fitted = try #require(NodeProfile.fit(model: "m", samples: samples, maxBatch: 16))
        #expect(abs(fitted.prefillTokensPerSecond - 2000) < 1e-6)
        #expect(abs(fitted.prefillOverheadSeconds - 0.01) < 1e-9)
        #expect(abs(fitted.decodeBaseSeconds - 0.02) < 1e-9)
        #expect(abs(fitted.decodePerSequenceSeconds - 0.001) < 1e-9)
        #expect(NodeProfile.fit(model: "m", samples: [], maxBatch: 4) == nil)
    }

    @Test func predictionOnIdleNodeIsPrefillPlusRTT() {
        let profile = Fixtures.profile()
        let p = PerformanceModel.predict(promptTokens: 1000, matchedBlocks: 0, load: NodeLoad(), profile: profile, now: 5)
        #expect(abs(p.ttftSeconds - (0.1 + 0.02)) < 1e-12)
        #expect(abs(p.tpotSeconds - 0.0105) < 1e-12)
        #expect(p.queueSeconds == 0)
    }

    @Test func predictionCountsBacklogCacheAndAge() {
        let profile = Fixtures.profile()
        let load = NodeLoad(runningSequences: 3, prefillBacklogSeconds: 0.5, asOf: 10)
        let p = PerformanceModel.predict(promptTokens: 1024, matchedBlocks: 1, load: load, profile: profile, now: 10.2)
        #expect(abs(p.queueSeconds - 0.3) < 1e-12)
        #expect(p.cachedTokens == 512)
        #expect(abs(p.ttftSeconds - (0.3 + 0.0512 + 0.02)) < 1e-12)
        #expect(abs(p.tpotSeconds - (0.010 + 0.0005 * 4)) < 1e-12)
    }

    @Test("matched blocks are credited at the request's block size: the gateway's 64-token blocks")
    func cachedTokensFollowTheRequestsBlockSize() {
        let profile = Fixtures.profile()
        let p = PerformanceModel.predict(promptTokens: 330, matchedBlocks: 5, blockTokens: 64, load: NodeLoad(), profile: profile, now: 0)
        #expect(p.cachedTokens == 320)
        // All blocks of an exact repeat: every token but the one the engine always computes.
        #expect(SimulatedEngineModel.cachedTokens(matchedBlocks: 6, blockTokens: 64, promptTokens: 330) == 329)
        var request = Fixtures.request(prompt: 330, hashes: [1, 2, 3, 4, 5, 6])
        request.prefixBlockTokens = 64
        var fleet = FleetState(nodes: [Fixtures.node("a")])
        fleet.recordPrefix([1, 2, 3, 4, 5], at: 0)
        #expect(PerformanceModel.predict(request, fleet: fleet, nodeIndex: 0, profile: profile, now: 0).cachedTokens == 320)
    }

    @Test func prefixCacheIsLRU() {
        var cache = PrefixCache(capacity: 3)
        cache.insert([1, 2, 3])
        #expect(cache.matchedBlocks([1, 2, 3, 4]) == 3)
        cache.insert(1)  // 1 is now most recent; 2 is least
        cache.insert(4)
        #expect(!cache.contains(2))
        #expect(cache.matchedBlocks([1, 2]) == 1)
        #expect(cache.contains(3) && cache.contains(4))
        #expect(cache.count == 3)
    }
}
