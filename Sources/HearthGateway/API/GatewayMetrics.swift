package import Prometheus

/// The gateway's Prometheus metrics, kept in its own registry so that several gateways (tests)
/// can live in one process. `GET /metrics` renders ``registry``.
package final class GatewayMetrics: Sendable {
    package let registry: PrometheusCollectorRegistry
    private let latencyBuckets: [Duration] = [
        .milliseconds(1), .milliseconds(5), .milliseconds(10), .milliseconds(50), .milliseconds(100),
        .milliseconds(250), .milliseconds(500), .seconds(1), .seconds(2.5), .seconds(5), .seconds(10), .seconds(30),
        .seconds(60),
    ]

    /// Per-node state, refreshed at each scrape.
    package let nodeGauges: NodeGauges

    package init() {
        let registry = PrometheusCollectorRegistry()
        self.registry = registry
        nodeGauges = NodeGauges(registry: registry)
    }

    /// 1 while this replica coordinates the fleet's power (always for a gateway alone), else 0.
    package func powerCoordinator(_ coordinating: Bool) {
        registry.makeGauge(name: "hearth_power_coordinator").set(coordinating ? 1.0 : 0.0)
    }

    package func requestFinished(outcome: String, taskClass: String, status: Int) {
        registry.makeCounter(
            name: "hearth_requests_total",
            labels: [("outcome", outcome), ("class", taskClass), ("status", String(status))]
        ).increment()
    }

    package func latency(total: Duration, timeToFirstToken: Duration?, taskClass: String) {
        registry.makeDurationHistogram(name: "hearth_request_duration_seconds", labels: [("class", taskClass)], buckets: latencyBuckets)
            .recordNanoseconds(total.nanosecondsClamped)
        if let timeToFirstToken {
            registry.makeDurationHistogram(
                name: "hearth_time_to_first_token_seconds", labels: [("class", taskClass)], buckets: latencyBuckets
            )
            .recordNanoseconds(timeToFirstToken.nanosecondsClamped)
        }
    }

    /// Counters only go up (Prometheus traps on a negative increment): a count below zero adds nothing.
    package func tokens(prompt: Int, completion: Int, cachedPrompt: Int = 0) {
        registry.makeCounter(name: "hearth_tokens_total", labels: [("kind", "prompt")]).increment(by: Int64(max(0, prompt)))
        registry.makeCounter(name: "hearth_tokens_total", labels: [("kind", "completion")]).increment(by: Int64(max(0, completion)))
        // Prompt tokens engines served from their prompt cache (within a cache partition): operators' view of reuse.
        registry.makeCounter(name: "hearth_tokens_total", labels: [("kind", "cached_prompt")]).increment(by: Int64(max(0, cachedPrompt)))
    }

    /// A request was placed knowing its class target would be missed (best effort).
    package func bestEffort(taskClass: String) {
        registry.makeCounter(name: "hearth_best_effort_total", labels: [("class", taskClass)]).increment()
    }

    /// A node told a provable lie (``AnswerAudit/Lie``).
    package func nodeLie(_ lie: String) {
        registry.makeCounter(name: "hearth_node_lies_total", labels: [("lie", lie)]).increment()
    }

    package func decision(policy: String, outcome: String) {
        registry.makeCounter(name: "hearth_scheduler_decisions_total", labels: [("policy", policy), ("outcome", outcome)]).increment()
    }

    /// A request moved to another node (or was retried before its first byte), by the first node's failure.
    package func failover(reason: String) {
        let label = reason.prefix { $0.isLetter }
        registry.makeCounter(name: "hearth_failovers_total", labels: [("reason", String(label))]).increment()
    }

    /// A hedged request's race ended: `primaryWon`, `hedgeWon`, `primaryWithoutHedge` (no hedge could start in
    /// time) or `failed`.
    package func hedge(outcome: String) {
        registry.makeCounter(name: "hearth_hedges_total", labels: [("outcome", outcome)]).increment()
    }

    package func nodes(_ count: Int) {
        registry.makeGauge(name: "hearth_nodes_connected").set(Double(count))
    }

    package func render() -> [UInt8] { registry.emitToBuffer() }
}

extension Duration {
    var nanosecondsClamped: Int64 {
        let (seconds, attoseconds) = components
        let (nanoseconds, overflow) = seconds.multipliedReportingOverflow(by: 1_000_000_000)
        guard !overflow else { return seconds < 0 ? .min : .max }
        return nanoseconds.addingReportingOverflow(attoseconds / 1_000_000_000).overflow
            ? .max : nanoseconds + attoseconds / 1_000_000_000
    }
}
