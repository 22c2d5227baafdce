public import HearthCore

/// Settings of one simulation run.
public struct SimulationConfiguration: Sendable {
    /// Arrivals are time-compressed by this factor (2 = twice the trace's rate).
    public var loadScale: Double
    public var classifier: TaskClassifier
    public var scheduler: SchedulerConfiguration
    /// How many queued requests the gateway re-offers to the scheduler each time a slot frees.
    public var retriesPerCompletion: Int
    /// Nodes that go down during the run (theft, power or link outage), in simulated (scaled) seconds.
    public var outages: [NodeOutage]
    /// Tokens per prefix-cache block: a matched block serves this many prompt tokens from cache. Mooncake's
    /// `hash_ids` are 512-token blocks; engines that match cached prompts token by token are closer to small blocks.
    public var prefixBlockTokens: Int = NodeProfile.blockTokens
    /// Whether a node's decoding sequences stand still while it prefills a prompt. Engines that put prompt and decode
    /// tokens in one batch per step on one compute unit (llama.cpp on a CPU) spend a prefill's time on it alone;
    /// false models a node whose prefill and decode overlap.
    public var prefillStallsDecode = false
    /// Seconds a decode step gains per token of context held by the sequences decoding (their attention reads);
    /// a sequence's context counts as its prompt plus half its output.
    public var decodeSecondsPerContextToken = 0.0
    /// Seconds a prompt's prefill gains per pair of (token computed, token before it): attention over the cached
    /// prefix and over the prompt's own earlier tokens, which makes long prompts cost more per token.
    public var prefillSecondsPerContextToken = 0.0
    /// Prompt tokens one prefill batch may compute (llama.cpp's `n_batch`, 2,048 by default); 0: prompts are
    /// prefilled one after another. With a batch, prompts that reach a node while it is busy (or within
    /// ``prefillBatchWindowSeconds`` of a batch's start) are prefilled together and get their first token together,
    /// when the whole batch ends: the engine builds one batch per step from every slot with prompt left. A prompt
    /// that does not fit in the room a batch has left fills it and goes on in the next one, as llama.cpp splits it.
    public var prefillBatchTokens = 0
    /// How late after a batch started a prompt still joins it. 0 (the default): a batch that has started takes no
    /// more prompts. That is what llama-server does, measured: of prompts sent at the same instant, the one its loop
    /// saw first is prefilled alone, and the rest wait for the next step together.
    public var prefillBatchWindowSeconds = 0.0
    /// Whether a prompt that reaches a decoding node waits for the decode step under way to end (llama.cpp's loop
    /// builds each step's batch when the last one returns), and whether the step that prefills it also carries a
    /// token of every sequence decoding (their share of the step's time). Only with ``prefillBatchTokens``.
    public var prefillJoinsDecodeSteps = false
    /// What a request gets when no node could meet its class target even idle: refused (`strict`, the default here,
    /// so that policies are compared under admission control) or placed on the fastest node (`best-effort`, the
    /// gateway's default), as `hearth sim replay --slo-policy` chooses.
    public var sloPolicy: SLOPolicy = .strict

    /// What ``prefillSecondsPerContextToken`` adds to a prompt's prefill: each computed token attends to the cached
    /// prefix and to the computed tokens before it.
    public func prefillAttentionSeconds(computedTokens: Double, cachedTokens: Double) -> Double {
        prefillSecondsPerContextToken * computedTokens * (cachedTokens + computedTokens / 2)
    }

    public init(
        loadScale: Double = 1, classifier: TaskClassifier = TaskClassifier(), scheduler: SchedulerConfiguration = SchedulerConfiguration(),
        retriesPerCompletion: Int = 4, outages: [NodeOutage] = []
    ) {
        self.loadScale = loadScale
        self.classifier = classifier
        self.scheduler = scheduler
        self.retriesPerCompletion = retriesPerCompletion
        self.outages = outages
    }
}

/// A node that stops at `start` and (unless `end` is infinite, as for a theft) comes back at `end`.
///
/// At `start` the node stops admitting; requests in its prefill or decode are lost (``RequestOutcome/lost``:
/// the gateway would resume them elsewhere, which this simulator does not model, so they count as missing
/// their SLO); requests still waiting on the node go back to the gateway queue. Its prefix cache is kept
/// (a returning node's cache is an optimistic detail; a stolen one never returns).
public struct NodeOutage: Sendable, Hashable {
    public var node: Int
    public var start: Double
    public var end: Double

    public init(node: Int, start: Double, end: Double = .infinity) {
        self.node = node
        self.start = start
        self.end = end
    }
}

/// What happened to one request.
public struct RequestOutcome: Sendable, Hashable {
    public var taskClass: TaskClass
    public var promptTokens: Int
    public var outputTokens: Int
    /// Arrival in simulated (scaled) seconds.
    public var arrival: Double
    public var refused: Bool
    /// -1 when refused.
    public var node: Int32
    public var ttft: Double
    public var tpot: Double
    public var cachedTokens: Int
    /// What the scheduler predicted when it placed the request, measured from that moment.
    public var predictedTTFT: Double
    public var predictedTPOT: Double
    /// Seconds spent queued at the gateway before placement.
    public var gatewayQueueSeconds: Double
    /// In flight on a node when it went down (see ``NodeOutage``); `node` is the node that was lost.
    public var lost: Bool = false
    /// Placed knowing its target would be missed (``SLOPolicy/bestEffort``): served, but not counted as met.
    public var bestEffort: Bool = false
}

/// The outcome of replaying a trace against a fleet with one policy.
public struct SimulationResult: Sendable {
    public var policy: SchedulingPolicyKind
    public var outcomes: [RequestOutcome]
    /// Span of the scaled arrivals, seconds.
    public var duration: Double
    public var targets: ClassTargets
    public var events: Int
}

/// A discrete-event simulation of a fleet of ``SimulatedEngineModel`` engines fed by the real ``Scheduler``.
///
/// Each node: slots (`maxBatch`), a FIFO prefill server that skips the cached prefix, continuous-batching
/// decode (every decoding sequence gains a token per step of `decodeStepSeconds(batch)`, computed exactly
/// between batch changes), an LRU prefix cache of 512-token blocks, and a link RTT added to what the client
/// sees. The gateway holds queued requests and re-offers them when slots free. Deterministic for a given
/// trace, fleet and configuration.
public struct Simulator {
    struct DecodeSequence {
        var request: Int32
        var finishMark: Double
        var context: Double
    }

    private var fleet: FleetState
    private var scheduler: Scheduler
    private let configuration: SimulationConfiguration
    private let requests: [TraceRequest]
    private let model: String
    private var classes: [TaskClass]
    private var outcomes: [RequestOutcome]
    private var events = EventQueue(capacity: 1 << 16)
    private var eventCount = 0

    // Per node.
    private var engines: [SimulatedEngineModel]
    private var prefillFreeAt: [Double]
    /// Start of the node's current unbroken run of prefills (which ends at `prefillFreeAt`).
    private var prefillBusyFrom: [Double]
    /// Per node, the prefill batches not yet done, oldest first (``SimulationConfiguration/prefillBatchTokens``).
    private var prefillBatches: [[PrefillBatch]]
    private var prefillBatchVersion: UInt32 = 0
    private var running: [Int]
    private var decoding: [[DecodeSequence]]
    private var tokenClock: [Double]
    /// Per node, the token clock when decode last resumed at a step boundary (a prefill batch's end), so that the
    /// fraction of the step under way is known (``SimulationConfiguration/prefillJoinsDecodeSteps``).
    private var phaseClock: [Double]
    private var clockTime: [Double]
    private var waitingInteractive: [[Int32]]
    private var waitingBatch: [[Int32]]
    private var version: [UInt32]
    private var nextCompletion: [Double]
    private var down: [Bool]
    private var finished: [Bool]

    // Gateway queue.
    private var pendingInteractive: [Int32] = []
    private var pendingInteractiveHead = 0
    private var pendingBatch: [Int32] = []
    private var pendingBatchHead = 0
    private var placedAt: [Double]
    private var firstTokenAt: [Double]

    /// Prepares a run of `trace` on `nodes`, all serving the first node's first model.
    public init(
        trace: Trace, nodes: [NodeSnapshot], policy: SchedulingPolicyKind,
        configuration: SimulationConfiguration = SimulationConfiguration()
    ) {
        precondition(!nodes.isEmpty, "a simulation needs nodes")
        let model = nodes[0].models[0].id
        self.model = model
        self.fleet = FleetState(nodes: nodes)
        self.scheduler = Scheduler(policy: policy, configuration: configuration.scheduler)
        self.configuration = configuration
        let scale = max(configuration.loadScale, 1e-9)
        self.requests = trace.requests.map {
            var request = $0
            request.arrival /= scale
            return request
        }
        let classifier = configuration.classifier
        self.classes = requests.map {
            $0.declaredClass
                ?? classifier.classify(declared: nil, promptTokens: $0.promptTokens, maxOutputTokens: $0.outputTokens, turns: $0.turns)
        }
        self.outcomes = zip(requests, classes).map { request, taskClass in
            RequestOutcome(
                taskClass: taskClass, promptTokens: request.promptTokens, outputTokens: request.outputTokens, arrival: request.arrival,
                refused: false, node: -1, ttft: 0, tpot: 0, cachedTokens: 0, predictedTTFT: 0, predictedTPOT: 0, gatewayQueueSeconds: 0)
        }
        let n = nodes.count
        engines = nodes.map { SimulatedEngineModel(profile: $0.profile(for: model) ?? $0.profiles[0]) }
        prefillFreeAt = Array(repeating: 0, count: n)
        prefillBusyFrom = Array(repeating: 0, count: n)
        prefillBatches = Array(repeating: [], count: n)
        running = Array(repeating: 0, count: n)
        decoding = Array(repeating: [], count: n)
        tokenClock = Array(repeating: 0, count: n)
        phaseClock = Array(repeating: 0, count: n)
        clockTime = Array(repeating: 0, count: n)
        waitingInteractive = Array(repeating: [], count: n)
        waitingBatch = Array(repeating: [], count: n)
        version = Array(repeating: 0, count: n)
        nextCompletion = Array(repeating: .infinity, count: n)
        down = Array(repeating: false, count: n)
        finished = Array(repeating: false, count: requests.count)
        for outage in configuration.outages where outage.node >= 0 && outage.node < n && outage.end > outage.start {
            events.push(time: outage.start, kind: .nodeDown, node: Int32(outage.node), request: 0)
            if outage.end.isFinite { events.push(time: outage.end, kind: .nodeUp, node: Int32(outage.node), request: 0) }
        }
        placedAt = Array(repeating: 0, count: requests.count)
        firstTokenAt = Array(repeating: 0, count: requests.count)
    }

    /// Runs to completion (every request finished or refused).
    public mutating func run(progress: inout ProgressReporter) -> SimulationResult {
        var nextArrival = 0
        let total = requests.count
        while true {
            let arrivalTime = nextArrival < total ? requests[nextArrival].arrival : .infinity
            if let top = events.peekTime, top < arrivalTime {
                let event = events.pop()!
                eventCount += 1
                switch event.kind {
                case .prefillDone:
                    if event.request >= 0 {
                        prefillDone(node: Int(event.node), request: Int(event.request), now: event.time)
                    } else {
                        prefillBatchDone(node: Int(event.node), version: event.version, now: event.time)
                    }
                case .decodeCompletion: decodeCompletion(node: Int(event.node), version: event.version, now: event.time)
                case .nodeDown: nodeDown(Int(event.node), now: event.time)
                case .nodeUp: nodeUp(Int(event.node), now: event.time)
                case .arrival: break
                }
            } else if nextArrival < total {
                eventCount += 1
                arrive(nextArrival, now: arrivalTime)
                nextArrival += 1
                if nextArrival & 1023 == 0 { progress.update(done: nextArrival, total: total) }
            } else {
                break
            }
        }
        progress.update(done: total, total: total)
        // Whatever is still queued at the gateway when the fleet has drained is refused.
        for i in pendingInteractiveHead..<pendingInteractive.count { outcomes[Int(pendingInteractive[i])].refused = true }
        for i in pendingBatchHead..<pendingBatch.count { outcomes[Int(pendingBatch[i])].refused = true }
        let duration = (requests.last?.arrival ?? 0) - (requests.first?.arrival ?? 0)
        return SimulationResult(
            policy: scheduler.kind, outcomes: outcomes, duration: duration, targets: configuration.scheduler.targets, events: eventCount)
    }

    // MARK: Gateway

    private func schedulingRequest(_ r: Int) -> SchedulingRequest {
        let request = requests[r]
        return SchedulingRequest(
            model: model, taskClass: classes[r], promptTokens: request.promptTokens, maxOutputTokens: request.outputTokens,
            prefixHashes: request.prefixHashes, sessionKey: request.sessionKey, arrival: request.arrival,
            sloPolicy: configuration.sloPolicy)
    }

    private mutating func arrive(_ r: Int, now: Double) {
        if !offer(r, now: now) {
            if classes[r] == .batch { pendingBatch.append(Int32(r)) } else { pendingInteractive.append(Int32(r)) }
        }
    }

    /// Asks the scheduler; returns false when the request stays queued.
    private mutating func offer(_ r: Int, now: Double) -> Bool {
        let decision = scheduler.decide(schedulingRequest(r), fleet: fleet, now: now)
        switch decision {
        case .place(let placement):
            outcomes[r].bestEffort = placement.reason.isBestEffort
            place(r, on: placement.nodeIndex, prediction: placement.prediction, now: now)
            return true
        case .queue:
            return false
        case .refuse:
            outcomes[r].refused = true
            return true
        }
    }

    private mutating func retryPending(now: Double) {
        var attempts = configuration.retriesPerCompletion
        while attempts > 0, pendingInteractiveHead < pendingInteractive.count {
            let r = Int(pendingInteractive[pendingInteractiveHead])
            attempts -= 1
            guard offer(r, now: now) else { break }
            pendingInteractiveHead += 1
        }
        if pendingInteractiveHead > 4096 && pendingInteractiveHead * 2 > pendingInteractive.count {
            pendingInteractive.removeFirst(pendingInteractiveHead)
            pendingInteractiveHead = 0
        }
        guard pendingInteractiveHead == pendingInteractive.count else { return }
        while attempts > 0, pendingBatchHead < pendingBatch.count {
            let r = Int(pendingBatch[pendingBatchHead])
            attempts -= 1
            guard offer(r, now: now) else { break }
            pendingBatchHead += 1
        }
        if pendingBatchHead > 4096 && pendingBatchHead * 2 > pendingBatch.count {
            pendingBatch.removeFirst(pendingBatchHead)
            pendingBatchHead = 0
        }
    }

    // MARK: Nodes

    private mutating func place(_ r: Int, on n: Int, prediction: Prediction, now: Double) {
        outcomes[r].node = Int32(n)
        outcomes[r].predictedTTFT = prediction.ttftSeconds
        outcomes[r].predictedTPOT = prediction.tpotSeconds
        outcomes[r].gatewayQueueSeconds = now - requests[r].arrival
        placedAt[r] = now
        if running[n] < engines[n].profile.maxBatch {
            startPrefill(r, on: n, now: now)
        } else if classes[r] == .batch {
            waitingBatch[n].append(Int32(r))
        } else {
            waitingInteractive[n].append(Int32(r))
        }
        refreshLoad(n, now: now)
    }

    private mutating func startPrefill(_ r: Int, on n: Int, now: Double) {
        running[n] += 1
        let request = requests[r]
        let matched = request.prefixHashes.isEmpty ? 0 : fleet.caches[n].matchedBlocks(request.prefixHashes)
        let cached = SimulatedEngineModel.cachedTokens(
            matchedBlocks: matched, blockTokens: configuration.prefixBlockTokens, promptTokens: request.promptTokens)
        outcomes[r].cachedTokens = cached
        // Decode time so far counts under the old prefill run, before this prompt extends or replaces it.
        advanceClock(n, to: now)
        let ready = stepBoundary(n, now: now)
        if ready > prefillFreeAt[n] { prefillBusyFrom[n] = ready }
        let computed = Double(max(1, request.promptTokens - cached))
        let attention = configuration.prefillAttentionSeconds(computedTokens: computed, cachedTokens: Double(cached))
        let seconds = engines[n].prefillSeconds(promptTokens: request.promptTokens, cachedTokens: cached) + attention
        if configuration.prefillBatchTokens > 0 {
            batchPrefill(r, on: n, computedTokens: Int(computed), seconds: seconds, now: now, ready: ready)
        } else {
            let end = max(now, prefillFreeAt[n]) + seconds
            prefillFreeAt[n] = end
            events.push(time: end, kind: .prefillDone, node: Int32(n), request: Int32(r))
        }
        // A stalled decode finishes later now.
        if configuration.prefillStallsDecode && !decoding[n].isEmpty { reschedule(n) }
    }

    /// Puts a prompt into the node's last prefill batch if that has not started (or started within the window) and
    /// has room, spilling what does not fit into new batches after it. The node's prefill time is the same either way;
    /// what changes is when each prompt's first token appears: at the end of the batch that holds its last token.
    private mutating func batchPrefill(_ r: Int, on n: Int, computedTokens: Int, seconds: Double, now: Double, ready: Double) {
        let capacity = configuration.prefillBatchTokens
        var tokensLeft = max(1, computedTokens)
        var secondsLeft = seconds
        /// Takes up to `room` of the prompt's tokens, with their share of its prefill time.
        func take(_ room: Int) -> (tokens: Int, seconds: Double) {
            let tokens = min(room, tokensLeft)
            let share = secondsLeft * Double(tokens) / Double(tokensLeft)
            tokensLeft -= tokens
            secondsLeft -= share
            return (tokens, share)
        }
        if var last = prefillBatches[n].last,
            last.start > now || now - last.start < configuration.prefillBatchWindowSeconds,
            last.tokens < capacity
        {
            let part = take(capacity - last.tokens)
            last.end += part.seconds
            last.tokens += part.tokens
            if tokensLeft == 0 { last.members.append(Int32(r)) }
            prefillBatchVersion &+= 1
            last.version = prefillBatchVersion
            prefillBatches[n][prefillBatches[n].count - 1] = last
            prefillFreeAt[n] = last.end
            // A batch that grew announces its new end; the event for its old end no longer matches its version.
            events.push(time: last.end, kind: .prefillDone, node: Int32(n), request: -1, version: prefillBatchVersion)
        }
        while tokensLeft > 0 {
            let start = max(ready, prefillFreeAt[n])
            let part = take(capacity)
            // The sequences decoding get their token in this step too, at a decode step's cost.
            let carried = configuration.prefillJoinsDecodeSteps && !decoding[n].isEmpty
            prefillBatchVersion &+= 1
            let batch = PrefillBatch(
                start: start, end: start + part.seconds + (carried ? decodeStep(n) : 0), tokens: part.tokens,
                members: tokensLeft == 0 ? [Int32(r)] : [], version: prefillBatchVersion, carriesDecode: carried)
            prefillBatches[n].append(batch)
            prefillFreeAt[n] = batch.end
            events.push(time: batch.end, kind: .prefillDone, node: Int32(n), request: -1, version: prefillBatchVersion)
        }
    }

    private mutating func prefillBatchDone(node n: Int, version: UInt32, now: Double) {
        // A batch's event whose version is gone is stale (the batch grew). Batches end in order, so one ending also
        // ends any before it whose event, at the same instant, has not come up yet.
        guard let index = prefillBatches[n].firstIndex(where: { $0.version == version }) else { return }
        let done = prefillBatches[n][...index]
        prefillBatches[n].removeFirst(index + 1)
        if configuration.prefillJoinsDecodeSteps {
            advanceClock(n, to: now)
            let carried = done.filter(\.carriesDecode).count
            tokenClock[n] += Double(carried)
            phaseClock[n] = tokenClock[n]
            // The decoding sequences are a token further on than their completion event assumed.
            if carried > 0 { reschedule(n) }
        }
        for batch in done {
            for member in batch.members { prefillDone(node: n, request: Int(member), now: now) }
        }
    }

    private mutating func prefillDone(node n: Int, request r: Int, now: Double) {
        if outcomes[r].lost { return }
        let rtt = engines[n].profile.linkRTTSeconds
        firstTokenAt[r] = now + rtt
        let request = requests[r]
        if !request.prefixHashes.isEmpty { fleet.recordPrefix(request.prefixHashes, at: n) }
        if let session = request.sessionKey { fleet.recordPrefix([session], at: n) }
        if request.outputTokens <= 1 {
            finish(r, at: now + rtt)
            running[n] -= 1
            admitWaiting(n, now: now)
            refreshLoad(n, now: now)
            retryPending(now: now)
            return
        }
        advanceClock(n, to: now)
        decoding[n].append(
            DecodeSequence(
                request: Int32(r), finishMark: tokenClock[n] + Double(request.outputTokens - 1),
                context: Double(request.promptTokens) + Double(request.outputTokens) / 2))
        reschedule(n)
        refreshLoad(n, now: now)
    }

    private mutating func decodeCompletion(node n: Int, version v: UInt32, now: Double) {
        guard v == version[n] else { return }
        advanceClock(n, to: now)
        let clock = tokenClock[n] + 1e-6
        let rtt = engines[n].profile.linkRTTSeconds
        var i = 0
        while i < decoding[n].count {
            if decoding[n][i].finishMark <= clock {
                finish(Int(decoding[n][i].request), at: now + rtt)
                decoding[n].swapAt(i, decoding[n].count - 1)
                decoding[n].removeLast()
                running[n] -= 1
            } else {
                i += 1
            }
        }
        admitWaiting(n, now: now)
        reschedule(n)
        refreshLoad(n, now: now)
        retryPending(now: now)
    }

    private mutating func finish(_ r: Int, at time: Double) {
        finished[r] = true
        let output = requests[r].outputTokens
        outcomes[r].ttft = firstTokenAt[r] - requests[r].arrival
        outcomes[r].tpot = output > 1 ? (time - firstTokenAt[r]) / Double(output - 1) : 0
    }

    private mutating func nodeDown(_ n: Int, now: Double) {
        guard !down[n] else { return }
        down[n] = true
        version[n] &+= 1
        let waiting = Set(waitingInteractive[n] + waitingBatch[n])
        for r in outcomes.indices where outcomes[r].node == Int32(n) && !finished[r] && !outcomes[r].lost && !outcomes[r].refused {
            if waiting.contains(Int32(r)) {
                outcomes[r].node = -1
                if classes[r] == .batch { pendingBatch.append(Int32(r)) } else { pendingInteractive.append(Int32(r)) }
            } else {
                outcomes[r].lost = true
            }
        }
        waitingInteractive[n].removeAll()
        waitingBatch[n].removeAll()
        decoding[n].removeAll()
        running[n] = 0
        prefillFreeAt[n] = now
        prefillBatches[n].removeAll()
        nextCompletion[n] = .infinity
        refreshLoad(n, now: now)
    }

    private mutating func nodeUp(_ n: Int, now: Double) {
        guard down[n] else { return }
        down[n] = false
        clockTime[n] = now
        refreshLoad(n, now: now)
        retryPending(now: now)
    }

    private mutating func admitWaiting(_ n: Int, now: Double) {
        let maxBatch = engines[n].profile.maxBatch
        while running[n] < maxBatch {
            if !waitingInteractive[n].isEmpty {
                startPrefill(Int(waitingInteractive[n].removeFirst()), on: n, now: now)
            } else if !waitingBatch[n].isEmpty {
                startPrefill(Int(waitingBatch[n].removeFirst()), on: n, now: now)
            } else {
                break
            }
        }
    }

    private mutating func advanceClock(_ n: Int, to now: Double) {
        let batch = decoding[n].count
        if batch > 0 { tokenClock[n] += max(0, now - clockTime[n] - stalledSeconds(n, from: clockTime[n], to: now)) / decodeStep(n) }
        clockTime[n] = now
    }

    private mutating func reschedule(_ n: Int) {
        version[n] &+= 1
        guard !decoding[n].isEmpty else {
            nextCompletion[n] = .infinity
            return
        }
        var minMark = Double.infinity
        for sequence in decoding[n] where sequence.finishMark < minMark { minMark = sequence.finishMark }
        let time = decodeFinish(n, after: max(0, minMark - tokenClock[n]) * decodeStep(n))
        nextCompletion[n] = time
        events.push(time: time, kind: .decodeCompletion, node: Int32(n), version: version[n])
    }

    /// One decode step of node `n` with the sequences now decoding.
    private func decodeStep(_ n: Int) -> Double {
        let step = engines[n].interTokenSeconds(batchSize: decoding[n].count)
        guard configuration.decodeSecondsPerContextToken > 0 else { return step }
        let context = decoding[n].reduce(0.0) { $0 + $1.context }
        return step + configuration.decodeSecondsPerContextToken * context
    }

    /// When node `n`'s engine can start its next step: now, unless it is in a decode step, which it finishes first
    /// (``SimulationConfiguration/prefillJoinsDecodeSteps``). The clock must have been advanced to `now`.
    private func stepBoundary(_ n: Int, now: Double) -> Double {
        guard configuration.prefillJoinsDecodeSteps, !decoding[n].isEmpty, now >= prefillFreeAt[n] else { return now }
        let stepsDone = tokenClock[n] - phaseClock[n]
        let fraction = stepsDone - stepsDone.rounded(.down)
        guard fraction > 1e-9 else { return now }
        return now + (1 - fraction) * decodeStep(n)
    }

    /// Of the interval `from...to`, the seconds node `n`'s decode stands still for prefill (0 unless
    /// ``SimulationConfiguration/prefillStallsDecode``). Only the current prefill run can overlap: the clock was
    /// advanced when it began.
    private func stalledSeconds(_ n: Int, from: Double, to: Double) -> Double {
        guard configuration.prefillStallsDecode else { return 0 }
        return max(0, min(to, prefillFreeAt[n]) - max(from, prefillBusyFrom[n]))
    }

    /// When node `n`'s decode, advanced to `clockTime[n]`, has run `seconds` more, stalls included.
    func decodeFinish(_ n: Int, after seconds: Double) -> Double {
        let clock = clockTime[n]
        guard configuration.prefillStallsDecode else { return clock + seconds }
        let stallStart = max(clock, prefillBusyFrom[n])
        let stallEnd = prefillFreeAt[n]
        guard stallEnd > stallStart, clock + seconds > stallStart else { return clock + seconds }
        return clock + seconds + (stallEnd - stallStart)
    }

    private mutating func refreshLoad(_ n: Int, now: Double) {
        let maxBatch = engines[n].profile.maxBatch
        var nextFree = 0.0
        if running[n] >= maxBatch {
            nextFree = decoding[n].isEmpty ? max(0, prefillFreeAt[n] - now) : max(0, nextCompletion[n] - now)
        }
        let load = NodeLoad(
            runningSequences: running[n], waitingSequences: waitingInteractive[n].count + waitingBatch[n].count,
            prefillBacklogSeconds: max(0, prefillFreeAt[n] - now), nextSlotFreeSeconds: nextFree, asOf: now, isAdmitting: !down[n])
        fleet.setLoad(load, at: n)
    }
}

extension EventQueue {
    var peekTime: Double? { isEmpty ? nil : firstTime }
}

/// Prompts a node prefills in one batch (``SimulationConfiguration/prefillBatchTokens``): they start together and
/// their first tokens appear together, at `end`.
private struct PrefillBatch {
    var start: Double
    var end: Double
    /// Prompt tokens computed in the batch (cached ones are not).
    var tokens: Int
    var members: [Int32]
    /// Changes whenever the batch grows, so that only the event for its latest end completes it.
    var version: UInt32
    /// Whether the step also decoded a token of each sequence decoding when it was formed.
    var carriesDecode = false
}
