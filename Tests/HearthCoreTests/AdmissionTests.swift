import HearthCore
import Testing

@Suite struct AdmissionTests {
    @Test func unknownModelIsRefusedWithoutRetry() {
        var scheduler = Scheduler()
        var request = Fixtures.request()
        request.model = "nope"
        let decision = scheduler.decide(request, fleet: FleetState(nodes: [Fixtures.node("a")]), now: 0)
        #expect(decision == .refuse(retryAfterSeconds: nil, reason: .noNodeServesModel("nope")))
    }

    @Test func noEligibleNode() {
        let fleet = FleetState(nodes: [
            Fixtures.node("draining", load: NodeLoad(isAdmitting: false)), Fixtures.node("small", context: 512),
        ])
        for policy in SchedulingPolicyKind.allCases {
            var scheduler = Scheduler(policy: policy)
            let decision = scheduler.decide(Fixtures.request(prompt: 1000), fleet: fleet, now: 0)
            #expect(decision == .refuse(retryAfterSeconds: nil, reason: .noEligibleNode), "\(policy)")
        }
    }

    @Test func targetUnreachableEvenWhenIdle() {
        let fleet = FleetState(nodes: [Fixtures.node("cpu", profile: Fixtures.profile(rate: 100, base: 0.05))])
        var scheduler = Scheduler()
        let decision = scheduler.decide(Fixtures.request(prompt: 5000), fleet: fleet, now: 0)
        guard case .refuse(nil, .targetUnreachable) = decision else {
            Issue.record("expected targetUnreachable, got \(decision)")
            return
        }
    }

    @Test func allFullQueuesThenRefusesWithRetryAfter() {
        let full = NodeLoad(runningSequences: 8, waitingSequences: 8, prefillBacklogSeconds: 3, nextSlotFreeSeconds: 3, asOf: 0)
        let fleet = FleetState(nodes: [Fixtures.node("a", load: full), Fixtures.node("b", load: full)])
        var scheduler = Scheduler()
        let request = Fixtures.request(prompt: 1000, arrival: 0)
        // Target 1.1 s, idle TTFT 0.12 s: it may wait until 0.98 s.
        guard case .queue(let until, .waitingForCapacity) = scheduler.decide(request, fleet: fleet, now: 0) else {
            Issue.record("expected queue")
            return
        }
        #expect(abs(until - 0.98) < 1e-9)
        guard case .refuse(let retryAfter?, .queueDeadlinePassed) = scheduler.decide(request, fleet: fleet, now: 0.99) else {
            Issue.record("expected refusal")
            return
        }
        #expect(retryAfter >= 1)
        // Baselines place anyway.
        var leastLoaded = Scheduler(policy: .leastLoaded)
        #expect(leastLoaded.decide(request, fleet: fleet, now: 0).placement != nil)
    }

    @Test func batchWaitsForSpareCapacityAndNeverTakesBusyNodes() {
        let busy = NodeLoad(runningSequences: 5)
        let fleet = FleetState(nodes: [Fixtures.node("a", load: busy), Fixtures.node("b", load: busy)])
        var scheduler = Scheduler()
        let batch = Fixtures.request(.batch, arrival: 0)
        guard case .queue(let until, .batchWaitsForSpareCapacity) = scheduler.decide(batch, fleet: fleet, now: 0) else {
            Issue.record("expected batch to queue")
            return
        }
        #expect(until == 600)
        // The same fleet still takes interactive work.
        #expect(scheduler.decide(Fixtures.request(.chat), fleet: fleet, now: 0).placement != nil)
        // With a quiet node, batch runs there.
        let quiet = FleetState(nodes: [Fixtures.node("a", load: busy), Fixtures.node("q", load: NodeLoad(runningSequences: 1))])
        let placement = scheduler.decide(batch, fleet: quiet, now: 0).placement
        #expect(placement?.node == NodeID("q"))
        #expect(placement?.reason == .spareCapacity)
        #expect(scheduler.decide(batch, fleet: fleet, now: 601) == .refuse(retryAfterSeconds: 60, reason: .batchWaitsForSpareCapacity))
    }

    @Test func reasonsAreReadable() {
        #expect(DecisionReason.noNodeServesModel("x").description == "no node serves model x")
        #expect(DecisionReason.waitingForCapacity(bestPredictedTTFT: 2, target: 1.1).description.contains("2000 ms"))
    }
}
