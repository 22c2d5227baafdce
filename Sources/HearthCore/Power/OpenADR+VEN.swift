internal import Foundation

/// The OpenADR 3.1 resources a VEN uses besides programs and events: its own registration under `/vens`, the token
/// endpoint's discovery (`/auth/server`), webhook subscriptions and the notifications a VTN sends them.
extension OpenADR {
    /// `authServerInfo` (`GET /auth/server`): where tokens come from.
    public struct AuthServerInfo: Sendable, Hashable, Codable {
        public var tokenURL: String
    }

    /// `ven` as the VTN returns it (the fields Hearth uses). Its `targets` are what the VTN's business logic granted.
    public struct Ven: Sendable, Hashable, Codable {
        public var id: String?
        public var venName: String
        public var targets: Targets?

        public init(id: String? = nil, venName: String, targets: Targets? = nil) {
            self.id = id
            self.venName = venName
            self.targets = targets
        }
    }

    /// `venVenRequest`: a VEN registering itself. It carries no targets: in 3.1 only business logic grants those.
    public struct VenRequest: Sendable, Hashable, Codable {
        public var objectType = "VEN_VEN_REQUEST"
        public var venName: String

        public init(venName: String) { self.venName = venName }
    }

    /// `objectOperation`: what a subscription is told about, and where.
    public struct ObjectOperation: Sendable, Hashable, Codable {
        public var objects: [String]
        public var operations: [String]
        public var callbackUrl: String
        public var bearerToken: String?

        public init(objects: [String], operations: [String], callbackUrl: String, bearerToken: String?) {
            self.objects = objects
            self.operations = operations
            self.callbackUrl = callbackUrl
            self.bearerToken = bearerToken
        }
    }

    /// `subscription` (webhook notifications of programs and events).
    public struct Subscription: Sendable, Hashable, Codable {
        public var id: String?
        public var objectType: String?
        public var clientName: String
        public var programID: String?
        public var objectOperations: [ObjectOperation]

        public init(clientName: String, programID: String? = nil, objectOperations: [ObjectOperation]) {
            self.objectType = "SUBSCRIPTION"
            self.clientName = clientName
            self.programID = programID
            self.objectOperations = objectOperations
        }
    }

    /// `notification`: what a VTN posts to a subscription's callback. Hearth reads only what changed (the VEN then
    /// reads the resources again, so a notification can only make it look sooner, never change what it applies).
    /// The specification spells it `objectType`; the VTN reference implementation sends `object_type`: both are read.
    public struct Notification: Sendable, Hashable, Decodable {
        public var objectType: String
        public var operation: String

        private enum Keys: String, CodingKey { case objectType, object_type, operation }

        public init(from decoder: any Decoder) throws {
            let c = try decoder.container(keyedBy: Keys.self)
            objectType = try c.decodeIfPresent(String.self, forKey: .objectType) ?? c.decode(String.self, forKey: .object_type)
            operation = try c.decode(String.self, forKey: .operation)
        }
    }
}

/// Which reports a VEN posts for the events it follows, and when: a pure state machine the client drives each poll.
///
/// - What: the readings each event's `reportDescriptors` ask for that Hearth can measure (`DEMAND`: what a node draws,
///   in the descriptor's units, kW by default); an event that asks for nothing gets `DEMAND`. Readings Hearth cannot
///   take are left out, and an event that asks only for those gets no report.
/// - For whom: only nodes the event targets (and that a descriptor's own targets name, where it has some).
/// - When: once when the event is in force for some of its nodes (those nodes only, never one before its randomised
///   start), and once just after it ended for all of them (within ``endGrace`` seconds; later, nothing is sent).
public struct OpenADRReportPlanner: Sendable {
    /// One node as a report sees it.
    public struct NodeReading: Sendable, Hashable {
        public var node: String
        /// What events may target: its home, transformer and groups.
        public var groups: Set<String>
        public var kilowatts: Double

        public init(node: String, groups: Set<String>, kilowatts: Double) {
            self.node = node
            self.groups = groups
            self.kilowatts = kilowatts
        }
    }

    private struct Phase: Hashable {
        var event: String
        var ended: Bool
    }

    /// Seconds after an event's end in which its closing report still goes out.
    public var endGrace: Double
    private var sent: Set<Phase> = []

    public init(endGrace: Double = 60) {
        self.endGrace = endGrace
    }

    /// The reports due at `now`. `gridEvents` are those read from `events` (matched by ``GridEvent/offsetKey``).
    public mutating func reports(
        for events: [OpenADR.Event], gridEvents: [GridEvent], nodes: [NodeReading], now: Double, clientName: String
    ) -> [OpenADR.Report] {
        let listed = Set(events.compactMap(\.id))
        sent = sent.filter { listed.contains($0.event) }
        var reports: [OpenADR.Report] = []
        for event in events {
            guard let id = event.id else { continue }
            let intervals = gridEvents.filter { ($0.offsetKey ?? $0.id) == id }
            guard !intervals.isEmpty else { continue }
            let targeted = nodes.filter { node in intervals.contains { $0.targets(node: node.node, groups: node.groups) } }
            guard !targeted.isEmpty else { continue }
            let start = Phase(event: id, ended: false)
            let end = Phase(event: id, ended: true)
            if !sent.contains(start) {
                let inForce = targeted.filter { node in intervals.contains { $0.isActive(for: node.node, at: now) } }
                if !inForce.isEmpty {
                    sent.insert(start)
                    if let report = Self.report(event, id: id, nodes: inForce, now: now, clientName: clientName) { reports.append(report) }
                }
            }
            let lastEnd =
                targeted.map { node in
                    intervals.map { $0.window(for: node.node).end }.max() ?? .infinity
                }.max() ?? .infinity
            if !sent.contains(end), lastEnd.isFinite, now >= lastEnd {
                sent.insert(end)
                // Reported once it was in force; never for an event that ended before the VEN saw it.
                if sent.contains(start), now < lastEnd + endGrace,
                    let report = Self.report(event, id: id, nodes: targeted, now: now, clientName: clientName)
                {
                    reports.append(report)
                }
            }
        }
        return reports
    }

    /// Readings Hearth can take, by payload type.
    public static let measurable: Set<String> = ["DEMAND"]

    private static func report(_ event: OpenADR.Event, id: String, nodes: [NodeReading], now: Double, clientName: String)
        -> OpenADR.Report?
    {
        let asked = event.reportDescriptors ?? []
        let descriptors =
            asked.isEmpty ? [OpenADR.ReportDescriptor(payloadType: "DEMAND", readingType: "DIRECT_READ", units: "KW")] : asked
        let usable = descriptors.filter { measurable.contains($0.payloadType) && Self.scale(units: $0.units) != nil }
        guard !usable.isEmpty else { return nil }
        let period = OpenADR.IntervalPeriod(start: Self.rfc3339(now), duration: "PT0S")
        var resources: [OpenADR.ReportResource] = []
        for node in nodes {
            let payloads = usable.compactMap { descriptor -> OpenADR.ValuesMap? in
                if let narrowed = descriptor.targets?.values, !narrowed.isEmpty,
                    !narrowed.contains(where: { $0 == node.node || node.groups.contains($0) })
                {
                    return nil
                }
                return OpenADR.ValuesMap(
                    type: descriptor.payloadType, values: [.number(node.kilowatts * Self.scale(units: descriptor.units)!)])
            }
            guard !payloads.isEmpty else { continue }
            resources.append(
                OpenADR.ReportResource(
                    resourceName: node.node, intervalPeriod: period, intervals: [OpenADR.Interval(id: 0, payloads: payloads)]))
        }
        guard !resources.isEmpty else { return nil }
        return OpenADR.Report(
            eventID: id, clientName: clientName, reportName: "hearth-\(id)",
            payloadDescriptors: usable.map {
                OpenADR.PayloadDescriptor(
                    objectType: "REPORT_PAYLOAD_DESCRIPTOR", payloadType: $0.payloadType, readingType: $0.readingType ?? "DIRECT_READ",
                    units: $0.units ?? "KW")
            },
            resources: resources)
    }

    /// kW to the descriptor's units; nil for units Hearth cannot give.
    private static func scale(units: String?) -> Double? {
        switch units?.uppercased() ?? "KW" {
        case "KW": 1
        case "W": 1_000
        default: nil
        }
    }

    private static func rfc3339(_ seconds: Double) -> String {
        ISO8601DateFormatter().string(from: Date(timeIntervalSince1970: seconds.rounded(.down)))
    }
}
