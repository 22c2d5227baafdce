/// A scheduler filter that never places work on a node whose power governor is draining or off.
///
/// The gateway records each node's reported ``PowerGovernor/Mode`` as the label ``labelKey``
/// (`power-state` = `normal` | `capped` | `draining` | `off`) and, for the O(1) path, also sets
/// `NodeLoad.isAdmitting = false` while it is draining or off. A node without the label (a site with no
/// panel, e.g. a data centre) is admitted only when ``admitsUnlabelled`` is true.
public struct PowerCapFilter: NodeFilter {
    public static let labelKey = "power-state"

    public var admitsUnlabelled: Bool
    public var name: String { "power-state" }

    public init(admitsUnlabelled: Bool = true) {
        self.admitsUnlabelled = admitsUnlabelled
    }

    public func admits(_ request: SchedulingRequest, nodeAt index: Int, in fleet: FleetState) -> Bool {
        guard let value = fleet.labels(at: index)[Self.labelKey] else { return admitsUnlabelled }
        guard let mode = PowerGovernor.Mode(rawValue: value) else { return false }
        return mode.isAdmitting
    }
}

extension FleetState {
    /// Applies a node's reported power status: the cap's slowdown (``GPUPowerCurve``) to its profiles and
    /// whether it admits. (The `power-state` label for ``PowerCapFilter`` changes through ``upsert(_:)``, as
    /// labels do.)
    public mutating func applyPowerStatus(_ status: PowerGovernor.Status, at index: Int) {
        setPowerCapFactor(GPUPowerCurve.schedulerFactor(capFraction: status.capFraction), at: index)
        var load = loads[index]
        load.isAdmitting = load.isAdmitting && status.mode.isAdmitting
        setLoad(load, at: index)
    }
}
