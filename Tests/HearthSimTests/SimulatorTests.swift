import Foundation
import HearthCore
import HearthSim
import Testing

@Suite struct SimulatorTests {
    static let profile = NodeProfile(
        model: "m", prefillTokensPerSecond: 10_000, decodeBaseSeconds: 0.010, decodePerSequenceSeconds: 0.0005, maxBatch: 4,
        prefixCacheBlocks: 64, linkRTTSeconds: 0.02)

    func nodes(_ count: Int) -> [NodeSnapshot] {
        (0..<count).map {
            NodeSnapshot(id: NodeID("n\($0)"), models: [ServedModel(id: "m", contextTokens: 32_768)], profiles: [Self.profile])
        }
    }

    func run(_ requests: [TraceRequest], nodes: [NodeSnapshot], policy: SchedulingPolicyKind = .sloAware) -> SimulationResult {
        var simulator = Simulator(trace: Trace(path: "t", format: .generated, requests: requests), nodes: nodes, policy: policy)
        var progress = ProgressReporter(label: "test", isEnabled: false)
        return simulator.run(progress: &progress)
    }

    @Test func loneRequestMatchesPredictionExactly() throws {
        let result = run([TraceRequest(arrival: 0, promptTokens: 1000, outputTokens: 101)], nodes: nodes(1))
        let outcome = try #require(result.outcomes.first)
        #expect(!outcome.refused)
        #expect(abs(outcome.ttft - (0.1 + 0.02)) < 1e-9)
        #expect(abs(outcome.ttft - outcome.predictedTTFT) < 1e-9)
        #expect(abs(outcome.tpot - 0.0105) < 1e-9)
        #expect(abs(outcome.tpot - outcome.predictedTPOT) < 1e-9)
    }

    @Test func simulatedTimingsAgreeWithPredictionsUnderBacklog() {
        // Three prompts at once on one node: each waits for the prefills before it, as predicted.
        let requests = (0..<3).map { _ in TraceRequest(arrival: 0, promptTokens: 2000, outputTokens: 1) }
        let result = run(requests, nodes: nodes(1), policy: .roundRobin)
        for (i, outcome) in result.outcomes.enumerated() {
            #expect(abs(outcome.ttft - (Double(i + 1) * 0.2 + 0.02)) < 1e-9)
            #expect(abs(outcome.ttft - outcome.predictedTTFT) < 1e-9)
        }
    }

    @Test func continuousBatchingSharesSteps() {
        // Two sequences decoding together run at the batch-2 step time.
        let requests = [
            TraceRequest(arrival: 0, promptTokens: 10, outputTokens: 201), TraceRequest(arrival: 0, promptTokens: 10, outputTokens: 201),
        ]
        let result = run(requests, nodes: nodes(1), policy: .roundRobin)
        let step2 = Self.profile.decodeStepSeconds(batch: 2)
        // The first decodes alone for one prefill (1 ms) then with the second.
        #expect(abs(result.outcomes[1].tpot - step2) < step2 * 0.001)
        #expect(result.outcomes[0].tpot > step2 * 0.99 && result.outcomes[0].tpot < Self.profile.decodeStepSeconds(batch: 2) * 1.01)
    }

    @Test func prefixCacheHitsSkipPrefill() {
        let hashes: [UInt64] = [1, 2, 3, 4]
        let requests = [
            TraceRequest(arrival: 0, promptTokens: 2048, outputTokens: 2, prefixHashes: hashes),
            TraceRequest(arrival: 10, promptTokens: 2100, outputTokens: 2, prefixHashes: hashes + [5]),
        ]
        let result = run(requests, nodes: nodes(3))
        #expect(result.outcomes[1].node == result.outcomes[0].node)
        #expect(result.outcomes[1].cachedTokens == 2048)
        #expect(abs(result.outcomes[1].ttft - (0.0052 + 0.02)) < 1e-9)
    }

    @Test func deterministicForASeed() {
        let trace = Trace(
            path: "g", format: .generated,
            requests: TraceGenerator(statistics: TraceGenerator.mooncakeConversation).generate(count: 400, seed: 7))
        let fleet = FleetComposition.mixed.build(nodes: 12, seed: 7)
        func once() -> [RequestOutcome] {
            var simulator = Simulator(trace: trace, nodes: fleet, policy: .sloAware, configuration: SimulationConfiguration(loadScale: 20))
            var progress = ProgressReporter(label: "", isEnabled: false)
            return simulator.run(progress: &progress).outcomes
        }
        #expect(once() == once())
        #expect(FleetComposition.mixed.build(nodes: 12, seed: 7).map(\.profiles) == fleet.map(\.profiles))
        #expect(
            TraceGenerator(statistics: TraceGenerator.azureCode).generate(count: 50, seed: 3)
                == TraceGenerator(statistics: TraceGenerator.azureCode).generate(count: 50, seed: 3))
    }

    @Test func saturationQueuesAndRefusesUnderSLOAware() {
        let requests = (0..<200).map { TraceRequest(arrival: Double($0) * 0.001, promptTokens: 4000, outputTokens: 50) }
        let slo = run(requests, nodes: nodes(2))
        let refused = slo.outcomes.filter(\.refused).count
        #expect(refused > 0)
        let targets = ClassTargets.default
        let metSLO = slo.outcomes.filter {
            !$0.refused && targets[$0.taskClass].isMet(ttft: $0.ttft, tpot: $0.tpot, promptTokens: $0.promptTokens)
        }
        let placed = slo.outcomes.filter { !$0.refused }
        #expect(Double(metSLO.count) >= 0.9 * Double(placed.count))
    }

    @Test("best effort serves what strict refuses for an unreachable target, and reports it apart from met and refused")
    func bestEffortIsReportedApart() {
        // At 200 prompt tokens a second, 2,000-token prompts take 10 s to prefill, far past their class target: strict
        // refuses every one; best effort serves them in the node's slots, within its bounded wait.
        var slow = Self.profile
        slow.prefillTokensPerSecond = 200
        let node = NodeSnapshot(id: NodeID("slow"), models: [ServedModel(id: "m", contextTokens: 32_768)], profiles: [slow])
        let slowPrompts = (0..<4).map { TraceRequest(arrival: Double($0), promptTokens: 2_000, outputTokens: 4) }
        let quick = [TraceRequest(arrival: 100, promptTokens: 20, outputTokens: 4)]
        func report(_ policy: SLOPolicy) -> PolicyReport {
            var configuration = SimulationConfiguration()
            configuration.sloPolicy = policy
            var simulator = Simulator(
                trace: Trace(path: "t", format: .generated, requests: slowPrompts + quick), nodes: [node], policy: .sloAware,
                configuration: configuration)
            var progress = ProgressReporter(label: "test", isEnabled: false)
            return ReportBuilder.policyReport(simulator.run(progress: &progress))
        }
        let strict = report(.strict)
        #expect(strict.refused == 4)
        #expect(strict.best_effort == 0)
        #expect(strict.met == 1)
        let bestEffort = report(.bestEffort)
        #expect(bestEffort.refused == 0)
        #expect(bestEffort.best_effort == 4)
        #expect(bestEffort.met == 1)
        #expect(bestEffort.slo_attainment == strict.slo_attainment)
    }
}

@Suite struct TraceTests {
    func write(_ text: String, name: String) throws -> String {
        let path = FileManager.default.temporaryDirectory.appendingPathComponent("hearth-\(UUID().uuidString)-\(name)").path
        try text.write(toFile: path, atomically: true, encoding: .utf8)
        return path
    }

    @Test func detectsAzure() throws {
        let path = try write(
            "TIMESTAMP,ContextTokens,GeneratedTokens\n2023-11-16 18:17:03.9799600,4808,10\n2023-11-16 18:17:04.0319600,3180,8\n",
            name: "a.csv")
        let trace = try TraceReader.read(path: path)
        #expect(trace.format == .azure)
        #expect(trace.requests.count == 2)
        #expect(abs(trace.requests[1].arrival - 0.052) < 1e-6)
        #expect(trace.requests[0].promptTokens == 4808)
    }

    @Test func detectsMooncake() throws {
        let path = try write(
            "{\"timestamp\": 0, \"input_length\": 1000, \"output_length\": 5, \"hash_ids\": [0, 1]}\n{\"timestamp\": 1500, \"input_length\": 1100, \"output_length\": 9, \"hash_ids\": [0, 1, 2]}\n",
            name: "m.jsonl")
        let trace = try TraceReader.read(path: path)
        #expect(trace.format == .mooncake)
        #expect(trace.requests[1].arrival == 1.5)
        #expect(trace.requests[1].prefixHashes == [0, 1, 2])
        #expect(trace.requests[1].turns == 2)
    }

    @Test func detectsBurstGPTAndDropsFailures() throws {
        let path = try write(
            "Timestamp,Session ID,Elapsed time,Model,Request tokens,Response tokens,Total tokens,Log Type\n10,s1,3,ChatGPT,100,20,120,Conversation log\n11,,1,GPT-4,0,0,0,Conversation log\n20,s1,2,ChatGPT,300,40,340,Conversation log\n",
            name: "b.csv")
        let trace = try TraceReader.read(path: path)
        #expect(trace.format == .burstGPT)
        #expect(trace.requests.count == 2)
        #expect(trace.requests[1].turns == 2)
        #expect(trace.requests[1].sessionKey != nil && trace.requests[1].sessionKey == trace.requests[0].sessionKey)
    }

    @Test func absentTraceIsGeneratedAndSaysSo() throws {
        let trace = try TraceGenerator.readOrGenerate(path: "/nonexistent/AzureLLMInferenceTrace_code.csv", count: 1000, seed: 1)
        #expect(trace.format == .generated)
        #expect(trace.generatedFrom == TraceGenerator.azureCode.name)
        #expect(trace.requests.count == 1000)
        let medianPrompt = trace.requests.map(\.promptTokens).sorted()[500]
        #expect(medianPrompt > 1200 && medianPrompt < 1750)
    }

    @Test(.enabled(if: FileManager.default.fileExists(atPath: "/work/shared/traces/conversation_trace.jsonl")))
    func readsTheSharedTraces() throws {
        let mooncake = try TraceReader.read(path: "/work/shared/traces/conversation_trace.jsonl")
        #expect(mooncake.requests.count == 12_031)
        let azure = try TraceReader.read(path: "/work/shared/traces/AzureLLMInferenceTrace_conv.csv")
        #expect(azure.requests.count == 19_366)
        #expect(abs(azure.duration - 3501.7) < 1)
    }

    @Test func jsonReportHasTheDocumentedShape() throws {
        let trace = Trace(
            path: "g", format: .generated,
            requests: TraceGenerator(statistics: TraceGenerator.azureConversation).generate(count: 200, seed: 1))
        let report = Replay(
            trace: trace, nodes: 10, policies: [.sloAware, .roundRobin], seed: 1, configuration: SimulationConfiguration(loadScale: 10)
        ).run()
        let json = try ReportRenderer.json(report)
        let object = try #require(try JSONSerialization.jsonObject(with: Data(json.utf8)) as? [String: Any])
        #expect(object["trace"] as? String == "g")
        #expect(object["nodes"] as? Int == 10)
        #expect(object["requests"] as? Int == 200)
        let policies = try #require(object["policies"] as? [[String: Any]])
        #expect(policies.map { $0["policy"] as? String } == ["slo-aware", "round-robin"])
        for key in ["slo_attainment", "goodput_rps", "refused", "classes"] { #expect(policies[0][key] != nil, "\(key)") }
        let classes = try #require(policies[0]["classes"] as? [String: [String: Any]])
        let chat = try #require(classes["chat"])
        for key in ["slo_attainment", "ttft_p50_ms", "ttft_p99_ms", "tpot_p50_ms", "tpot_p99_ms", "requests"] {
            #expect(chat[key] != nil, "\(key)")
        }
        #expect(!ReportRenderer.text(report).isEmpty)
    }
}
