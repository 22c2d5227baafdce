package import HearthCore
package import HearthProtocol
package import Prometheus
import Synchronization

/// Per-node gauges, set from the nodes' last heartbeats when `/metrics` is scraped: whether each node takes new
/// work, its power draw, GPU cap and budget, its running streams and its link. A node that left is dropped, so a
/// dashboard never shows a ghost.
package final class NodeGauges: Sendable {
    private let registry: PrometheusCollectorRegistry
    private let published = Mutex<[String: [String: Gauge]]>([:])

    /// The `# HELP` text of each per-node family.
    static let help: [String: String] = [
        "hearth_node_admitting": "1 while the node takes new requests (not draining, quarantined or shed), else 0.",
        "hearth_node_active_streams": "Streams the node is running, from its last heartbeat.",
        "hearth_node_power_draw_watts": "The node's power draw, from its last heartbeat.",
        "hearth_node_gpu_cap_watts": "The power cap the node set on its GPUs.",
        "hearth_node_power_budget_watts": "The power budget the gateway gave the node (home, transformer and grid events).",
        "hearth_node_battery_state_of_charge": "The node's battery state of charge, 0 to 1.",
        "hearth_node_battery_watts": "The node's battery power: positive discharging, negative charging.",
        "hearth_node_grid_import_watts": "What the node draws from the grid (its draw less what its battery gives).",
        "hearth_node_link_rtt_seconds": "Round-trip time of the node's link to the gateway.",
        "hearth_node_link_loss_ratio": "Share of the node's link probes lost.",
        "hearth_node_link_bandwidth_bytes_per_second": "The node's measured link throughput.",
    ]

    package init(registry: PrometheusCollectorRegistry) {
        self.registry = registry
    }

    /// One node as the scheduler and its last heartbeat describe it.
    package struct Reading: Sendable {
        package var node: NodeID
        package var admitting: Bool
        package var heartbeat: NodeHeartbeat?

        package init(node: NodeID, admitting: Bool, heartbeat: NodeHeartbeat?) {
            self.node = node
            self.admitting = admitting
            self.heartbeat = heartbeat
        }
    }

    package func update(_ readings: [Reading]) {
        var fresh: [String: [String: Gauge]] = [:]
        for reading in readings {
            let node = reading.node.rawValue
            var values: [(String, Double)] = [("hearth_node_admitting", reading.admitting ? 1 : 0)]
            if let beat = reading.heartbeat {
                values.append(("hearth_node_active_streams", Double(beat.activeStreams)))
                if let power = beat.power {
                    values.append(("hearth_node_power_draw_watts", power.drawWatts))
                    values.append(("hearth_node_gpu_cap_watts", power.capWatts))
                    if let budget = power.budgetWatts { values.append(("hearth_node_power_budget_watts", budget)) }
                    if let soc = power.batteryStateOfCharge { values.append(("hearth_node_battery_state_of_charge", soc)) }
                    if let battery = power.batteryWatts { values.append(("hearth_node_battery_watts", battery)) }
                    if let grid = power.gridImportWatts { values.append(("hearth_node_grid_import_watts", grid)) }
                }
                if let link = beat.link {
                    if let rtt = link.rttMilliseconds { values.append(("hearth_node_link_rtt_seconds", rtt / 1000)) }
                    values.append(("hearth_node_link_loss_ratio", link.loss))
                    if let bandwidth = link.bandwidthBytesPerSecond {
                        values.append(("hearth_node_link_bandwidth_bytes_per_second", bandwidth))
                    }
                }
            }
            var gauges: [String: Gauge] = [:]
            for (name, value) in values {
                let gauge = registry.makeGauge(
                    descriptor: GatewayMetrics.descriptor(name, help: Self.help[name] ?? ""), labels: [("node", node)])
                gauge.set(value)
                gauges[name] = gauge
            }
            fresh[node] = gauges
        }
        let stale = published.withLock { published in
            defer { published = fresh }
            return published.flatMap { node, gauges in
                gauges.filter { name, _ in fresh[node]?[name] == nil }.map(\.value)
            }
        }
        for gauge in stale { registry.unregisterGauge(gauge) }
    }
}
