/// A hard constraint on which nodes may take a request (the "filter" stage of llm-d's filter → scorer → picker).
///
/// The scheduler always applies the built-in filters (serves the model, admitting, context fits); add more
/// (data class, tamper state, power state) through ``SchedulerConfiguration/filters``.
public protocol NodeFilter: Sendable {
    var name: String { get }
    func admits(_ request: SchedulingRequest, nodeAt index: Int, in fleet: FleetState) -> Bool
}

/// Admits nodes whose label `key` equals one of `values` (for example `data-class-ok` = `sensitive`).
public struct LabelFilter: NodeFilter {
    public var key: String
    public var values: Set<String>
    public var name: String { "label:\(key)" }

    public init(key: String, values: Set<String>) {
        self.key = key
        self.values = values
    }

    public func admits(_ request: SchedulingRequest, nodeAt index: Int, in fleet: FleetState) -> Bool {
        guard let value = fleet.labels(at: index)[key] else { return false }
        return values.contains(value)
    }
}
