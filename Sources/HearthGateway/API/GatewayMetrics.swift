package import HearthCore
package import Prometheus

/// The gateway's Prometheus metrics, kept in its own registry so that several gateways (tests)
/// can live in one process. `GET /metrics` renders ``registry``.
///
/// Every family has its `# HELP` line from ``help`` (Prometheus' conventions; `promtool check metrics` passes), and
/// `deploy/prometheus` and `deploy/grafana` build on these names: rename one there too.
package final class GatewayMetrics: Sendable {
    package let registry: PrometheusCollectorRegistry
    private let latencyBuckets: [Duration] = [
        .milliseconds(1), .milliseconds(5), .milliseconds(10), .milliseconds(50), .milliseconds(100),
        .milliseconds(250), .milliseconds(500), .seconds(1), .seconds(2.5), .seconds(5), .seconds(10), .seconds(30),
        .seconds(60),
    ]
    private let tokenPaceBuckets: [Duration] = [
        .milliseconds(5), .milliseconds(10), .milliseconds(20), .milliseconds(35), .milliseconds(50), .milliseconds(75),
        .milliseconds(100), .milliseconds(150), .milliseconds(250), .milliseconds(500), .seconds(1),
    ]

    /// Per-node state, refreshed at each scrape.
    package let nodeGauges: NodeGauges

    /// The `# HELP` text of every family the gateway exports.
    package static let help: [String: String] = [
        "hearth_requests_total": "Completion requests finished, by outcome, task class and HTTP status.",
        "hearth_request_duration_seconds": "End-to-end time of a completion request, from its arrival to its last byte, by task class.",
        "hearth_time_to_first_token_seconds": "Time from a request's arrival to the first byte of its answer, by task class.",
        "hearth_time_per_output_token_seconds":
            "Mean time per output token after the first, per answer of two tokens or more, by task class.",
        "hearth_slo_requests_total":
            "Answered requests by how they fared against their class objective: met, missed, or best_effort (placed knowing it would be missed).",
        "hearth_tokens_total": "Tokens billed to tenants: prompt, completion, and the prompt tokens engines served from their cache.",
        "hearth_best_effort_total": "Requests placed knowing their class target would be missed, by task class.",
        "hearth_node_lies_total": "Provable lies caught in nodes' answers and reports, by kind.",
        "hearth_scheduler_decisions_total": "Scheduler decisions, by policy and outcome.",
        "hearth_failovers_total": "Requests moved to another node (or retried before their first byte), by the first node's failure.",
        "hearth_hedges_total": "Hedged first-token races, by outcome.",
        "hearth_nodes_connected": "Nodes with an open tunnel to this gateway.",
        "hearth_power_coordinator": "1 while this replica coordinates the fleet's power, else 0.",
        "hearth_usage_rows_written_total": "Usage rows committed to the fleet store.",
        "hearth_usage_write_failures_total": "Batches of usage rows the fleet store refused (they are kept and written again).",
        "hearth_usage_rows_pending": "Usage rows waiting to be written to the fleet store.",
    ]

    package init() {
        let registry = PrometheusCollectorRegistry()
        self.registry = registry
        nodeGauges = NodeGauges(registry: registry)
    }

    /// Each family's name and help, built once (the registry looks families up by name on every update). Unchecked:
    /// `MetricNameDescriptor` holds only immutable strings but does not say it is `Sendable`.
    nonisolated(unsafe) private static let descriptors = Dictionary(uniqueKeysWithValues: help.keys.map { ($0, descriptor($0)) })

    /// A family's descriptor: its full name as given (no unit suffix added) and its help.
    package static func descriptor(_ name: String, help: String? = nil) -> MetricNameDescriptor {
        MetricNameDescriptor(metricName: name, unitName: "", helpText: help ?? Self.help[name] ?? "")
    }

    private func counter(_ name: String, _ labels: [(String, String)] = []) -> Counter {
        registry.makeCounter(descriptor: Self.descriptors[name] ?? Self.descriptor(name), labels: labels)
    }

    private func gauge(_ name: String) -> Gauge {
        registry.makeGauge(descriptor: Self.descriptors[name] ?? Self.descriptor(name), labels: [])
    }

    private func histogram(_ name: String, _ labels: [(String, String)], buckets: [Duration]) -> DurationHistogram {
        registry.makeDurationHistogram(descriptor: Self.descriptors[name] ?? Self.descriptor(name), labels: labels, buckets: buckets)
    }

    /// 1 while this replica coordinates the fleet's power (always for a gateway alone), else 0.
    package func powerCoordinator(_ coordinating: Bool) {
        gauge("hearth_power_coordinator").set(coordinating ? 1.0 : 0.0)
    }

    package func requestFinished(outcome: String, taskClass: String, status: Int) {
        counter("hearth_requests_total", [("outcome", outcome), ("class", taskClass), ("status", String(status))]).increment()
    }

    package func latency(total: Duration, timeToFirstToken: Duration?, timePerOutputToken: Double? = nil, taskClass: String) {
        histogram("hearth_request_duration_seconds", [("class", taskClass)], buckets: latencyBuckets)
            .recordNanoseconds(total.nanosecondsClamped)
        if let timeToFirstToken {
            histogram("hearth_time_to_first_token_seconds", [("class", taskClass)], buckets: latencyBuckets)
                .recordNanoseconds(timeToFirstToken.nanosecondsClamped)
        }
        if let timePerOutputToken, timePerOutputToken.isFinite, timePerOutputToken >= 0 {
            histogram("hearth_time_per_output_token_seconds", [("class", taskClass)], buckets: tokenPaceBuckets)
                .recordNanoseconds(Duration.seconds(timePerOutputToken).nanosecondsClamped)
        }
    }

    /// How an answered request fared against its class objective.
    package func slo(_ attainment: SLOAttainment, taskClass: String) {
        counter("hearth_slo_requests_total", [("class", taskClass), ("result", attainment.rawValue)]).increment()
    }

    /// Counters only go up (Prometheus traps on a negative increment): a count below zero adds nothing.
    package func tokens(prompt: Int, completion: Int, cachedPrompt: Int = 0) {
        counter("hearth_tokens_total", [("kind", "prompt")]).increment(by: Int64(max(0, prompt)))
        counter("hearth_tokens_total", [("kind", "completion")]).increment(by: Int64(max(0, completion)))
        // Prompt tokens engines served from their prompt cache (within a cache partition): operators' view of reuse.
        counter("hearth_tokens_total", [("kind", "cached_prompt")]).increment(by: Int64(max(0, cachedPrompt)))
    }

    /// A request was placed knowing its class target would be missed (best effort).
    package func bestEffort(taskClass: String) {
        counter("hearth_best_effort_total", [("class", taskClass)]).increment()
    }

    /// A node told a provable lie (``AnswerAudit/Lie``).
    package func nodeLie(_ lie: String) {
        counter("hearth_node_lies_total", [("lie", lie)]).increment()
    }

    package func decision(policy: String, outcome: String) {
        counter("hearth_scheduler_decisions_total", [("policy", policy), ("outcome", outcome)]).increment()
    }

    /// A request moved to another node (or was retried before its first byte), by the first node's failure.
    package func failover(reason: String) {
        let label = reason.prefix { $0.isLetter }
        counter("hearth_failovers_total", [("reason", String(label))]).increment()
    }

    /// A hedged request's race ended: `primaryWon`, `hedgeWon`, `primaryWithoutHedge` (no hedge could start in
    /// time) or `failed`.
    package func hedge(outcome: String) {
        counter("hearth_hedges_total", [("outcome", outcome)]).increment()
    }

    package func nodes(_ count: Int) {
        gauge("hearth_nodes_connected").set(Double(count))
    }

    /// The usage ledger wrote `written` rows, or failed a batch; `pending` rows wait.
    package func usageBatch(written: Int, failed: Bool, pending: Int) {
        counter("hearth_usage_rows_written_total").increment(by: Int64(max(0, written)))
        if failed { counter("hearth_usage_write_failures_total").increment() }
        gauge("hearth_usage_rows_pending").set(Double(pending))
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
