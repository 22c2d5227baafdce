import Foundation
import HearthCore
import HearthSim
import Testing

/// The closed-loop replay against a recorded run where iterating every arrival to a fixed point oscillated: the
/// timings it reported then belonged to other arrivals (a cached question waited 5.8 s behind a prefill that, at its
/// reported arrival, had long ended).
@Suite struct ValidationClosedLoopTests {
    /// llama-server on this project's 2-core machine, document prefill at two clients (`hearth sim validate --record`,
    /// 2026-12-06): the calibrated profile and the level's requests and observations.
    static let recorded = #"""
        {"profile":{"decode_s_per_context_token":1.162744356118305e-05,"node":{"decodeBaseSeconds":0.0009739761547898859,"decodePerSequenceSeconds":0.011949506213437279,"linkRTTSeconds":0,"maxBatch":4,"model":"/root/.cache/hearth/models/SmolLM2-135M-Instruct.Q4_1.gguf","powerCapFactor":1,"prefillOverheadSeconds":0.06763232263241828,"prefillTokensPerSecond":123.01333565123767,"prefixCacheBlocks":0,"typicalOutputTokens":256},"prefill_s_per_context_token":2.651844176547783e-06},"contextTokens":16384,"level":{"concurrency":2,"observations":[{"cachedTokens":0,"client":0,"completionTokens":16,"e2e":13.792268665,"id":0,"promptTokens":708,"sentAt":3.8401e-05,"ttft":6.242276935},{"cachedTokens":0,"client":1,"completionTokens":20,"e2e":14.167333219,"id":3,"promptTokens":807,"sentAt":0.025141607,"ttft":13.153519569},{"cachedTokens":688,"client":0,"completionTokens":16,"e2e":1.510306189,"gap":0.0005914840000009747,"id":1,"promptTokens":706,"sentAt":13.79289855,"ttft":0.256581235},{"cachedTokens":785,"client":1,"completionTokens":21,"e2e":1.894983936,"gap":0.0007088619999997547,"id":4,"promptTokens":814,"sentAt":14.193183688,"ttft":0.625257656},{"cachedTokens":688,"client":0,"completionTokens":21,"e2e":1.63527952,"gap":0.0005632210000001692,"id":2,"promptTokens":717,"sentAt":15.30376796,"ttft":0.459118614},{"cachedTokens":786,"client":1,"completionTokens":18,"e2e":6.797110377,"gap":0.00040749000000062097,"id":5,"promptTokens":813,"sentAt":16.088575114,"ttft":0.392091729},{"cachedTokens":0,"client":0,"completionTokens":20,"e2e":13.067286231,"gap":0.00043452100000251903,"id":6,"promptTokens":667,"sentAt":16.939482001000002,"ttft":5.705572085},{"cachedTokens":0,"client":1,"completionTokens":19,"e2e":7.641009102,"gap":0.000394705999998024,"id":9,"promptTokens":639,"sentAt":22.886080197,"ttft":6.580874217},{"cachedTokens":640,"client":0,"completionTokens":19,"e2e":1.5535455759999999,"gap":0.0006072329999966541,"id":7,"promptTokens":657,"sentAt":30.007375465,"ttft":0.322570661},{"cachedTokens":613,"client":1,"completionTokens":20,"e2e":1.719213537,"gap":0.0004621110000044837,"id":10,"promptTokens":634,"sentAt":30.52755141,"ttft":0.407213068},{"cachedTokens":640,"client":0,"completionTokens":22,"e2e":1.880127823,"gap":0.0007037939999996468,"id":8,"promptTokens":662,"sentAt":31.561624835,"ttft":0.441405236},{"cachedTokens":613,"client":1,"completionTokens":19,"e2e":1.290060321,"gap":0.0005880470000008131,"id":11,"promptTokens":645,"sentAt":32.247352994,"ttft":0.570662645}],"requests":[{"conversation":0,"id":0,"outputTokens":16,"segments":[{"key":18125404632118484939,"tokens":688},{"key":14667420466400512108,"tokens":20}],"taskClass":"document","workload":"document-prefill"},{"conversation":0,"id":1,"outputTokens":16,"segments":[{"key":18125404632118484939,"tokens":688},{"key":14863585953131490806,"tokens":18}],"taskClass":"document","workload":"document-prefill"},{"conversation":0,"id":2,"outputTokens":21,"segments":[{"key":18125404632118484939,"tokens":688},{"key":543491640417486569,"tokens":29}],"taskClass":"document","workload":"document-prefill"},{"conversation":1,"id":3,"outputTokens":20,"segments":[{"key":9191780279398173178,"tokens":785},{"key":14593608051890191743,"tokens":22}],"taskClass":"document","workload":"document-prefill"},{"conversation":1,"id":4,"outputTokens":21,"segments":[{"key":9191780279398173178,"tokens":785},{"key":13208800515753180606,"tokens":29}],"taskClass":"document","workload":"document-prefill"},{"conversation":1,"id":5,"outputTokens":18,"segments":[{"key":9191780279398173178,"tokens":785},{"key":3392459794909688135,"tokens":28}],"taskClass":"document","workload":"document-prefill"},{"conversation":2,"id":6,"outputTokens":20,"segments":[{"key":692124670540774446,"tokens":640},{"key":10586927941209983873,"tokens":27}],"taskClass":"document","workload":"document-prefill"},{"conversation":2,"id":7,"outputTokens":19,"segments":[{"key":692124670540774446,"tokens":640},{"key":5316618501923550235,"tokens":17}],"taskClass":"document","workload":"document-prefill"},{"conversation":2,"id":8,"outputTokens":22,"segments":[{"key":692124670540774446,"tokens":640},{"key":6769906738454172462,"tokens":22}],"taskClass":"document","workload":"document-prefill"},{"conversation":3,"id":9,"outputTokens":19,"segments":[{"key":3077867710112750297,"tokens":613},{"key":10852082436811608399,"tokens":26}],"taskClass":"document","workload":"document-prefill"},{"conversation":3,"id":10,"outputTokens":20,"segments":[{"key":3077867710112750297,"tokens":613},{"key":4394553517081174485,"tokens":21}],"taskClass":"document","workload":"document-prefill"},{"conversation":3,"id":11,"outputTokens":19,"segments":[{"key":3077867710112750297,"tokens":613},{"key":11405639852663491509,"tokens":32}],"taskClass":"document","workload":"document-prefill"}],"workload":"document-prefill"}}
        """#

    struct Fixture: Decodable {
        var profile: ValidationProfile
        var contextTokens: Int
        var level: ValidationRecording.Level
    }

    @Test func timingsBelongToTheArrivalsTheyImply() throws {
        let fixture = try JSONDecoder().decode(Fixture.self, from: Data(Self.recorded.utf8))
        let configuration = ValidationSimulation.validationConfiguration(fixture.profile)
        let level = fixture.level
        let closed = ValidationSimulation.simulate(
            requests: level.requests, observations: level.observations, profile: fixture.profile.node,
            contextTokens: fixture.contextTokens, configuration: configuration)
        #expect(closed.count == level.observations.count)
        // Each client's next request arrives at its previous simulated end plus the real gap.
        var clientEnd: [Int: Double] = [:]
        var open: [ValidationObservation] = []
        for observation in level.observations.sorted(by: { $0.sentAt < $1.sentAt }) {
            let timing = try #require(closed[observation.id])
            var fixed = observation
            fixed.sentAt = observation.gap.map { (clientEnd[observation.client] ?? 0) + $0 } ?? observation.sentAt
            fixed.gap = nil
            clientEnd[observation.client] = fixed.sentAt + timing.e2e
            open.append(fixed)
        }
        // The same requests sent at those instants (open loop) must be simulated exactly as the closed loop reported.
        let replayed = ValidationSimulation.simulate(
            requests: level.requests, observations: open, profile: fixture.profile.node, contextTokens: fixture.contextTokens,
            configuration: configuration)
        for observation in level.observations {
            let a = try #require(closed[observation.id])
            let b = try #require(replayed[observation.id])
            #expect(abs(a.ttft - b.ttft) < 1e-9 && abs(a.e2e - b.e2e) < 1e-9, "request \(observation.id)")
        }
        // The question that waited behind nothing: served from cache, in well under a second.
        let question = try #require(closed[7])
        #expect(question.ttft < 0.5)
    }
}
