import HearthCore
import Testing

/// Best-effort admission (issue 12): a request no node can serve within its target is served like an ordinary
/// server's request, slots respected, and refused only for contention or after a bounded wait; strict requests keep
/// the refusals of ``AdmissionTests``.
@Suite struct BestEffortAdmissionTests {
    static func request(prompt: Int = 5000, arrival: Double = 0, policy: SLOPolicy = .bestEffort) -> SchedulingRequest {
        var request = Fixtures.request(prompt: prompt, arrival: arrival)
        request.sloPolicy = policy
        return request
    }

    /// A CPU node: 100 tokens/s of prefill, far too slow for a 5,000-token chat prompt's target.
    static let cpu = Fixtures.profile(rate: 100, base: 0.05, perSequence: 0.001, maxBatch: 4)

    @Test func anIdleNodeTooSlowForTheTargetServesInsteadOfRefusing() {
        let fleet = FleetState(nodes: [
            Fixtures.node("slow", profile: Self.cpu), Fixtures.node("slower", profile: Fixtures.profile(rate: 50, base: 0.05, maxBatch: 4)),
        ])
        var scheduler = Scheduler()
        let decision = scheduler.decide(Self.request(), fleet: fleet, now: 0)
        guard case .place(let placement) = decision, case .bestEffort(let ttft, let target) = placement.reason else {
            Issue.record("expected a best-effort placement, got \(decision)")
            return
        }
        #expect(placement.node == NodeID("slow"), "the node predicted fastest")
        #expect(ttft > target)
        #expect(placement.reason.isBestEffort)
        // The same request asking for strict targets is refused as before.
        guard case .refuse(nil, .targetUnreachable) = scheduler.decide(Self.request(policy: .strict), fleet: fleet, now: 0) else {
            Issue.record("a strict request must keep today's refusal")
            return
        }
    }

    @Test func aFullNodeMakesItWaitBoundedThenRefuse() {
        let full = NodeLoad(runningSequences: 4, nextSlotFreeSeconds: 5, asOf: 0)
        let fleet = FleetState(nodes: [Fixtures.node("slow", profile: Self.cpu, load: full)])
        var scheduler = Scheduler(configuration: SchedulerConfiguration(bestEffortQueueSeconds: 30))
        guard case .queue(let until, .bestEffortWaitsForSlot) = scheduler.decide(Self.request(), fleet: fleet, now: 1) else {
            Issue.record("a best-effort request waits for a slot")
            return
        }
        #expect(until == 30)
        guard case .refuse(let retryAfter?, .bestEffortQueueFull) = scheduler.decide(Self.request(), fleet: fleet, now: 30) else {
            Issue.record("past its wait it is refused with Retry-After")
            return
        }
        #expect(retryAfter >= 1)
    }

    @Test func contentionIsRefusalNotPlacement() {
        // Two running sequences meet the 0.1 s decode target at batch 2 (0.09 s); a third would push them to 0.105 s.
        let tight = Fixtures.profile(rate: 100, base: 0.075, perSequence: 0.01, maxBatch: 8)
        let fleet = FleetState(nodes: [Fixtures.node("n", profile: tight, load: NodeLoad(runningSequences: 2, asOf: 0))])
        var targets = ClassTargets.default
        targets.chat.tpotSeconds = 0.1
        var scheduler = Scheduler(configuration: SchedulerConfiguration(targets: targets))
        guard case .queue(_, .bestEffortWaitsForSlot) = scheduler.decide(Self.request(), fleet: fleet, now: 0) else {
            Issue.record("admitting would push admitted requests past their target: wait, do not place")
            return
        }
    }

    @Test func whileTheTargetCanStillBeMetItQueuesLikeAStrictRequest() {
        // Fast node, full: an idle slot would meet the target, so the request waits for one first.
        let full = NodeLoad(runningSequences: 8, waitingSequences: 8, prefillBacklogSeconds: 3, nextSlotFreeSeconds: 3, asOf: 0)
        let fleet = FleetState(nodes: [Fixtures.node("a", load: full)])
        var scheduler = Scheduler()
        guard case .queue(let until, .waitingForCapacity) = scheduler.decide(Self.request(prompt: 1000), fleet: fleet, now: 0) else {
            Issue.record("expected the strict queue first")
            return
        }
        #expect(abs(until - 0.98) < 1e-9)
        // Past that point the node is still full: a best-effort request waits on for a slot instead of a 429.
        guard case .queue(_, .bestEffortWaitsForSlot) = scheduler.decide(Self.request(prompt: 1000), fleet: fleet, now: 0.99) else {
            Issue.record("expected a bounded wait for a slot")
            return
        }
    }
}
