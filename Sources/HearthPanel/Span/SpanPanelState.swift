/// Everything a SPAN panel's Homie device has told the client, as a pure value: feed it MQTT messages with
/// ``handle(topic:payload:retained:payloadTooLarge:at:)`` and read ``snapshot(at:)``. No I/O, no clock: `now` is
/// the caller's monotonic seconds.
///
/// Fail-safe rules:
/// - Payloads are stored as the latest *statement* of each property; a payload that is not valid UTF-8, too
///   large, or not a plausible value replaces the previous value, so the figure becomes nil rather than keeping
///   an older good value.
/// - Live figures are published only while `$state` is `ready`; any other state (or none yet) withholds them and
///   forgets when mains power was last seen, so a panel that comes back must publish a fresh reading first.
/// - The mains power's age counts from the last plausible update that arrived live while `ready` (or during the
///   `init` that the `ready` ends: Homie devices publish their values, then `ready`). A retained message
///   delivered at subscription time may be arbitrarily old, so it is never counted as fresh.
/// - Memory is bounded: only the properties Hearth reads are kept, for at most ``Options/maximumNodes`` nodes.
public struct SpanPanelState: Sendable {
    /// How circuit `active-power` declared in `kW` is read.
    public enum CircuitPowerUnit: String, Sendable, Hashable, CaseIterable {
        /// As the panel's own figures show: the circuits' sum beside the mains (``SpanPanelState/circuitPowerIsWatts``).
        case automatic
        /// As declared: kW.
        case declared
        /// As watts, whatever the declaration (SPAN's topic reference says firmware publishes watts).
        case watts
    }

    public struct Options: Sendable, Hashable {
        /// Nodes kept at most (a SPAN panel has 2 lugs, a core, up to ~48 circuits and a few device nodes).
        public var maximumNodes: Int
        /// Longest property payload accepted, bytes (`$description` has its own limit).
        public var maximumValueBytes: Int
        /// Longest `$description` accepted, bytes: a full 32-circuit panel's is about 62 KB, so 1 MiB leaves room for
        /// the largest panels and their device nodes.
        public var maximumDescriptionBytes: Int
        /// How circuit `active-power` declared in `kW` is read (circuit figures are informational: the governor uses
        /// the lugs).
        public var circuitPowerUnit: CircuitPowerUnit

        /// Read circuit `active-power` declared as `kW` as watts (``CircuitPowerUnit/watts``; false: as declared).
        public var circuitKilowattsAreWatts: Bool {
            get { circuitPowerUnit == .watts }
            set { circuitPowerUnit = newValue ? .watts : .declared }
        }

        public init(
            maximumNodes: Int = 256, maximumValueBytes: Int = 256, maximumDescriptionBytes: Int = 1 << 20,
            circuitPowerUnit: CircuitPowerUnit = .automatic, circuitKilowattsAreWatts: Bool? = nil
        ) {
            self.maximumNodes = maximumNodes
            self.maximumValueBytes = maximumValueBytes
            self.maximumDescriptionBytes = maximumDescriptionBytes
            self.circuitPowerUnit = circuitKilowattsAreWatts.map { $0 ? .watts : .declared } ?? circuitPowerUnit
        }
    }

    public let serial: String
    public var options: Options
    /// The device's last `$state` (nil before one arrives, or after an unrecognised one).
    public private(set) var deviceState: HomieDeviceState?
    /// The device's last usable `$description`.
    public private(set) var description: HomieDescription?
    public private(set) var diagnostics = PanelDiagnostics()
    /// When the last plausible live mains `active-power` arrived (caller's seconds).
    public private(set) var mainsUpdatedAt: Double?
    /// A live mains update published during `init`: Homie devices publish their values and then `ready`, so it
    /// becomes fresh when `ready` follows.
    private var initMainsAt: Double?
    /// Latest raw payload per node and property; nil records a payload that could not even be decoded.
    private var values: [String: [String: String?]] = [:]
    /// Whether circuit power declared in `kW` is watts: fixed by the options, or (``CircuitPowerUnit/automatic``)
    /// decided once the mains and the circuits have both published (nil until then: those circuits read no power).
    public private(set) var circuitPowerIsWatts: Bool?

    public init(serial: String, options: Options = Options()) {
        self.serial = serial
        self.options = options
        switch options.circuitPowerUnit {
        case .automatic: circuitPowerIsWatts = nil
        case .declared: circuitPowerIsWatts = false
        case .watts: circuitPowerIsWatts = true
        }
    }

    /// Undecided, values are checked as watts: read as kW, a firmware's watts would mostly fail the range check.
    private var interpreter: SpanValueInterpreter { SpanValueInterpreter(circuitKilowattsAreWatts: circuitPowerIsWatts ?? true) }

    // MARK: Input

    /// Applies one MQTT message. Returns the rejections it caused (already counted in ``diagnostics``) so the
    /// caller can log them outside any lock.
    @discardableResult
    public mutating func handle(topic: String, payload: [UInt8], retained: Bool, payloadTooLarge: Bool = false, at now: Double)
        -> [PanelRejection]
    {
        var rejections: [PanelRejection] = []
        func reject(_ kind: PanelRejection.Kind, _ detail: String) {
            let rejection = PanelRejection(kind: kind, topic: topic, detail: detail)
            diagnostics.record(rejection)
            rejections.append(rejection)
        }
        let target = SpanTopic.classify(topic, serial: serial)
        switch target {
        case .foreign, .ignored:
            diagnostics.ignored += 1
            return []
        case .malformed(let reason):
            reject(.malformedTopic, reason)
            return rejections
        case .state, .description, .property:
            break
        }

        // Decode the payload once; a failure is a statement that the value is now unknown.
        let limit = target == .description ? options.maximumDescriptionBytes : options.maximumValueBytes
        var text: String?
        if payloadTooLarge || payload.count > limit {
            reject(.payloadTooLarge, payloadTooLarge ? "payload over the client's cap was dropped" : "\(payload.count) bytes > \(limit)")
        } else if let decoded = String(validating: payload, as: UTF8.self) {
            text = decoded
        } else {
            reject(.invalidUTF8, "\(payload.count) bytes are not UTF-8")
        }

        switch target {
        case .state:
            let state = text.flatMap(HomieDeviceState.init(payload:))
            deviceState = state
            if state == .ready {
                diagnostics.accepted += 1
                if let initMainsAt { mainsUpdatedAt = initMainsAt }
                initMainsAt = nil
            } else if state == .initializing {
                // The normal start of a (re)connecting device: figures wait for `ready`, nothing is wrong.
                diagnostics.accepted += 1
                mainsUpdatedAt = nil
                initMainsAt = nil
            } else {
                mainsUpdatedAt = nil
                initMainsAt = nil
                if let text {
                    reject(.deviceNotReady, state == nil ? "unrecognised $state \(SpanValueInterpreter.quote(text))" : "$state \(text)")
                }
            }
        case .description:
            guard let text else { break }
            switch HomieDescription.parse(text) {
            case .success(let parsed):
                description = parsed
                // A node the panel no longer describes (a circuit removed) keeps no value.
                values = values.filter { parsed.nodes[$0.key] != nil }
                diagnostics.accepted += 1
            case .failure(let error):
                reject(.malformedDescription, error.reason)
            }
        case .property(let node, let property):
            if let description, description.nodes[node] == nil {
                reject(.unknownNode, "node \(node.prefix(64)) is not in $description")
                break
            }
            let role = self.role(of: node)
            guard let spec = SpanProperty.spec(role: role, property: property) else {
                diagnostics.ignored += 1
                break
            }
            if values[node] == nil, values.count >= options.maximumNodes {
                reject(.tooManyNodes, "already keeping \(values.count) nodes")
                break
            }
            values[node, default: [:]][property] = .some(text)
            guard let text else { break }
            let result = interpreter.interpret(
                text, spec: spec, role: role, property: property, declared: description?.nodes[node]?.properties[property])
            switch result {
            case .success:
                diagnostics.accepted += 1
                if role == .upstreamLugs, property == "active-power", !retained {
                    if deviceState == .ready { mainsUpdatedAt = now }
                    if deviceState == .initializing { initMainsAt = now }
                }
                if property == "active-power", role == .upstreamLugs || role == .circuit { decideCircuitPowerUnit() }
            case .failure(let failure):
                if role == .upstreamLugs, property == "active-power" { initMainsAt = nil }
                reject(failure.kind, failure.detail)
            }
        case .foreign, .ignored, .malformed:
            break
        }
        return rejections
    }

    // MARK: Output

    /// The panel's figures at `now` (same seconds as `handle`'s `at`).
    public func snapshot(at now: Double) -> PanelSnapshot {
        let ready = deviceState == .ready
        let roles = nodeRoles()
        func first(_ role: SpanNodeRole) -> String? { roles.first { $0.role == role }?.node }
        func value(_ node: String?, _ property: String) -> SpanValue? {
            guard let node, let raw = values[node]?[property], let raw else { return nil }
            let role = self.role(of: node)
            guard let spec = SpanProperty.spec(role: role, property: property) else { return nil }
            let declared = description?.nodes[node]?.properties[property]
            return try? interpreter.interpret(raw, spec: spec, role: role, property: property, declared: declared).get()
        }
        func live(_ node: String?, _ property: String) -> Double? { ready ? value(node, property)?.number : nil }

        let upstream = first(.upstreamLugs)
        let core = first(.core)
        let battery = first(.battery)
        let pcs = first(.powerControl)

        var snapshot = PanelSnapshot()
        if mainsUpdatedAt != nil { snapshot.mainsActivePowerWatts = live(upstream, "active-power") }
        snapshot.ageSeconds = ready ? mainsUpdatedAt.map { max(0, now - $0) } : nil
        snapshot.l1CurrentAmps = live(upstream, "l1-current")
        snapshot.l2CurrentAmps = live(upstream, "l2-current")
        snapshot.breakerRatingAmps = value(core, "breaker-rating")?.number
        snapshot.l1Voltage = live(core, "l1-voltage")
        if ready, let door = value(core, "door")?.text {
            snapshot.doorOpen = door == "OPEN" ? true : door == "CLOSED" ? false : nil
        }
        snapshot.batteryStateOfChargePercent = live(battery, "soc")
        snapshot.batteryStateOfEnergyWattHours = live(battery, "soe")
        let enablement = value(pcs, "requested-import-limit-enablement")?.text
        if ready, enablement == nil || enablement == "ENABLED", case .limit(let amps, let watts)? = value(pcs, "requested-import-limit") {
            snapshot.requestedImportLimitWatts = watts ?? amps.map { $0 * (snapshot.l1Voltage.map { 2 * $0 } ?? 240) }
        }
        snapshot.unavailableBecause = Self.missing(
            snapshot, deviceState: deviceState, hasUpstreamLugs: upstream != nil, hasCore: core != nil)
        snapshot.circuits = roles.filter { $0.role == .circuit }.map { entry in
            let undecided = circuitPowerIsWatts == nil && declaresKilowatts(entry.node)
            return PanelSnapshot.Circuit(
                id: entry.node, name: value(entry.node, "name")?.text,
                activePowerWatts: undecided ? nil : live(entry.node, "active-power"),
                shedPriority: value(entry.node, "shed-priority")?.text)
        }
        return snapshot
    }

    private static func missing(_ snapshot: PanelSnapshot, deviceState: HomieDeviceState?, hasUpstreamLugs: Bool, hasCore: Bool)
        -> String?
    {
        guard snapshot.mainsActivePowerWatts == nil || snapshot.breakerRatingAmps == nil else { return nil }
        guard deviceState == .ready else {
            return deviceState.map { "the panel's $state is \($0.rawValue), not ready" } ?? "the panel has published no usable $state yet"
        }
        if !hasUpstreamLugs { return "no node of the panel is recognised as its upstream lugs (mains)" }
        if snapshot.mainsActivePowerWatts == nil { return "no fresh, plausible mains active-power from the panel" }
        return hasCore ? "no plausible breaker-rating from the panel's core" : "no node of the panel is recognised as its core"
    }

    // MARK: Circuit power unit

    private func declaresKilowatts(_ node: String) -> Bool {
        description?.nodes[node]?.properties["active-power"]?.unit == "kW"
    }

    /// Reads declared-kW circuit power the way that agrees with the mains: the circuits carry the home's loads (and
    /// its solar or battery), so their total is of the mains' order, never a thousand times it or a thousandth.
    /// Decided once both are known (mains of at least 200 W, a circuit drawing), on the geometric midpoint of the
    /// two readings (a ratio of 1/√1000), and then kept.
    private mutating func decideCircuitPowerUnit() {
        guard circuitPowerIsWatts == nil else { return }
        let roles = nodeRoles()
        guard let upstream = roles.first(where: { $0.role == .upstreamLugs })?.node,
            let raw = values[upstream]?["active-power"], let raw, case .success(let mainsValue) = HomieNumber.parse(raw, integer: false)
        else { return }
        let mainsUnit = description?.nodes[upstream]?.properties["active-power"]?.unit ?? "W"
        guard let factor = HomieUnit.factor(mainsUnit, for: .power) else { return }
        let mains = abs(mainsValue * factor)
        var circuits = 0.0
        for entry in roles where entry.role == .circuit && declaresKilowatts(entry.node) {
            if let raw = values[entry.node]?["active-power"], let raw, case .success(let value) = HomieNumber.parse(raw, integer: false) {
                circuits += abs(value)
            }
        }
        guard mains >= 200, circuits > 0 else { return }
        circuitPowerIsWatts = circuits > mains / 1000.0.squareRoot()
    }

    // MARK: Roles

    /// The role of `node`: its described type first, its id when it has none.
    public func role(of node: String) -> SpanNodeRole {
        if let type = description?.nodes[node]?.type {
            let direction = values[node]?["direction"].flatMap { $0 }
            let role = SpanNodeRole.forType(type, direction: direction)
            return role == .lugs ? fallbackLugsRole(node) : role
        }
        return SpanNodeRole.forID(node)
    }

    private func fallbackLugsRole(_ node: String) -> SpanNodeRole {
        let byID = SpanNodeRole.forID(node)
        return byID == .upstreamLugs || byID == .downstreamLugs ? byID : .lugs
    }

    /// Every known node with its role, in id order so snapshots are deterministic.
    private func nodeRoles() -> [(node: String, role: SpanNodeRole)] {
        let ids = Set(values.keys).union(description.map { Array($0.nodes.keys) } ?? [])
        return ids.sorted().map { ($0, role(of: $0)) }
    }
}
