import Foundation
import HearthCore
import Testing

@Suite struct GridEventTests {
    static let eventJSON = """
        {"id":"ev-1","objectType":"EVENT","programID":"prog-1","eventName":"evening shed","priority":0,
         "targets":["transformer-3"],
         "payloadDescriptors":[{"objectType":"EVENT_PAYLOAD_DESCRIPTOR","payloadType":"IMPORT_CAPACITY_LIMIT","units":"KW"}],
         "intervalPeriod":{"start":"2026-07-01T17:00:00Z","duration":"PT1H","randomizeStart":"PT5M"},
         "intervals":[{"id":0,"payloads":[{"type":"IMPORT_CAPACITY_LIMIT","values":[2.5]}]},
                      {"id":1,"intervalPeriod":{"start":"2026-07-01T18:30:00Z","duration":"PT30M"},"payloads":[{"type":"SIMPLE","values":[3]}]},
                      {"id":2,"payloads":[{"type":"PRICE","values":[0.17]}]}]}
        """

    @Test func decodesOpenADR31EventIntoGridEvents() throws {
        let event = try JSONDecoder().decode(OpenADR.Event.self, from: Data(Self.eventJSON.utf8))
        let grid = OpenADR.gridEvents(from: event, now: 0)
        #expect(grid.count == 2)
        let start = OpenADR.unixSeconds(rfc3339: "2026-07-01T17:00:00Z", now: 0)!
        #expect(grid[0].signal == .importCapacityLimit(kilowatts: 2.5))
        #expect(grid[0].start == start && grid[0].duration == 3600 && grid[0].randomizeStart == 300)
        #expect(grid[0].targets == ["transformer-3"])
        #expect(grid[1].signal == .simple(level: 3))
        #expect(grid[1].start == start + 5400 && grid[1].duration == 1800)
        // Round trip keeps the 3.1 shapes.
        let encoded = String(decoding: try JSONEncoder().encode(event), as: UTF8.self)
        #expect(encoded.contains("\"targets\":[\"transformer-3\"]"))
    }

    @Test func acceptsOpenADR30ValuesMapTargets() throws {
        let json = #"{"programID":"p","targets":[{"type":"GROUP","values":["feeder-9"]}],"intervals":[]}"#
        let event = try JSONDecoder().decode(OpenADR.Event.self, from: Data(json.utf8))
        #expect(event.targets?.values == ["feeder-9"])
    }

    // MARK: Events as utilities' servers send them (issue 15)

    @Test func eventsAndIntervalsTheSpecificationAllowsAreRead() throws {
        // An event without intervals, an interval period without a start (it inherits the event's), a lower-case
        // RFC 3339 time with an offset, and one malformed event among good ones.
        let list = """
            [{"programID":"p","id":"no-intervals"},
             {"programID":"p","id":"bad","intervals":"not a list"},
             {"programID":"p","id":"inherits","intervalPeriod":{"start":"2026-07-01t17:00:00+02:00","duration":"PT1H"},
              "intervals":[{"id":0,"intervalPeriod":{"duration":"PT30M","randomizeStart":"PT10M"},"payloads":[{"type":"SIMPLE","values":[1]}]},
                           {"id":1,"intervalPeriod":{"duration":"PT30M","randomizeStart":"PT10M"},"payloads":[{"type":"SIMPLE","values":[2]}]}]}]
            """
        let listed = try JSONDecoder().decode([OpenADR.Lossy<OpenADR.Event>].self, from: Data(list.utf8))
        #expect(listed.count == 3)
        #expect(listed.compactMap(\.element).map(\.id) == ["no-intervals", "inherits"])
        #expect(listed[1].problem != nil, "the malformed one is named, the others are read")
        #expect(listed[0].element?.intervals.isEmpty == true)

        let inherits = try #require(listed[2].element)
        let read = OpenADR.readGridEvents(from: inherits, now: 0)
        #expect(read.refused.isEmpty)
        let start = try #require(OpenADR.unixSeconds(rfc3339: "2026-07-01T15:00:00Z", now: 0))
        #expect(read.events.map(\.start) == [start, start + 1_800], "sequential from the event's start, at 17:00 +02:00")
        #expect(read.events.map(\.duration) == [1_800, 1_800])
        // One randomized offset per node for the whole event: the second interval begins where the first ends.
        for node in ["node-1", "node-2", "node-3"] {
            #expect(read.events[0].startOffset(for: node) == read.events[1].startOffset(for: node))
        }
    }

    @Test func timesValuesAndUnitsThatCannotBeReadAreRefusedNeverGuessed() throws {
        #expect(OpenADR.unixSeconds(rfc3339: "2026-07-01", now: 0) == nil, "a bare date is not midnight")
        #expect(OpenADR.unixSeconds(rfc3339: "2026-07-01T17:00:00", now: 0) == nil, "no offset: not RFC 3339")
        #expect(
            OpenADR.unixSeconds(rfc3339: "2026-07-01T17:00:00.250z", now: 0)
                == OpenADR.unixSeconds(rfc3339: "2026-07-01T17:00:00.250Z", now: 0))
        func event(_ payloads: String, units: String? = nil, start: String = "2026-07-01T17:00:00Z") throws -> OpenADR.Event {
            let descriptors = units.map { #","payloadDescriptors":[{"payloadType":"IMPORT_CAPACITY_LIMIT","units":"\#($0)"}]"# } ?? ""
            let json =
                #"{"programID":"p","id":"e"\#(descriptors),"intervalPeriod":{"start":"\#(start)","duration":"PT1H"},"intervals":[{"id":0,"payloads":\#(payloads)}]}"#
            return try JSONDecoder().decode(OpenADR.Event.self, from: Data(json.utf8))
        }
        let text = OpenADR.readGridEvents(from: try event(#"[{"type":"SIMPLE","values":["high"]}]"#), now: 0)
        #expect(text.events.isEmpty && text.refused.count == 1, "a level that is not a number is no level")
        let noValue = OpenADR.readGridEvents(from: try event(#"[{"type":"IMPORT_CAPACITY_LIMIT","values":[]}]"#), now: 0)
        #expect(noValue.events.isEmpty && noValue.refused.count == 1, "a missing limit is not 0 kW")
        let amps = OpenADR.readGridEvents(from: try event(#"[{"type":"IMPORT_CAPACITY_LIMIT","values":[20]}]"#, units: "A"), now: 0)
        #expect(amps.events.first?.signal == .importCapacityLimit(kilowatts: 4.8), "20 A is 4.8 kW at 240 V, not 20 kW")
        let watts = OpenADR.readGridEvents(from: try event(#"[{"type":"IMPORT_CAPACITY_LIMIT","values":[2500]}]"#, units: "W"), now: 0)
        #expect(watts.events.first?.signal == .importCapacityLimit(kilowatts: 2.5))
        let odd = OpenADR.readGridEvents(from: try event(#"[{"type":"IMPORT_CAPACITY_LIMIT","values":[3]}]"#, units: "HP"), now: 0)
        #expect(odd.events.isEmpty && odd.refused.count == 1)
        let midnight = OpenADR.readGridEvents(from: try event(#"[{"type":"SIMPLE","values":[1]}]"#, start: "2026-07-01"), now: 0)
        #expect(midnight.events.isEmpty && midnight.refused.count == 1)
    }

    @Test func randomizedStartsAreSpreadEvenForIdsThatDifferInTheirLastCharacter() {
        let event = GridEvent(id: "e#0", signal: .simple(level: 1), start: 0, duration: 3_600, randomizeStart: 600, offsetKey: "e")
        let offsets = (0..<10).map { event.startOffset(for: "node-\($0)") }.sorted()
        #expect(offsets.last! - offsets.first! > 300, "spread over the window: \(offsets)")
        #expect(offsets.allSatisfy { (0...600).contains($0) })
    }

    @Test func durations() {
        #expect(OpenADR.seconds(iso8601Duration: "PT1H") == 3600)
        #expect(OpenADR.seconds(iso8601Duration: "PT5M30S") == 330)
        #expect(OpenADR.seconds(iso8601Duration: "P1DT2H") == 93_600)
        #expect(OpenADR.seconds(iso8601Duration: "P9999Y") == .infinity)
        #expect(OpenADR.seconds(iso8601Duration: "1H") == nil)
        #expect(OpenADR.seconds(iso8601Duration: "PT") == nil)
        #expect(OpenADR.unixSeconds(rfc3339: "0001-01-01T00:00:00Z", now: 42) == 42)
    }

    @Test func shedEventCapsTargetedNodesByItsDeadlineAndRestoresAfter() {
        let event = GridEvent(
            id: "shed", signal: .simple(level: 2), start: 1_000, duration: 600, randomizeStart: 120, targets: ["transformer-1"])
        let dr = DemandResponse()
        let nodes = (0..<50).map { DemandResponse.Node(id: "node-\($0)", groups: ["transformer-\($0 % 2)"], fullWatts: 6_000) }
        // Governors for every node, warmed up, then driven once a second through the event.
        var governors = [PowerGovernor](
            repeating: PowerGovernor(
                configuration: PowerGovernor.Configuration(hostWatts: 1_200, gpuMaxWatts: 4_800, gpuMinWatts: 1_440, idleWatts: 600)),
            count: nodes.count)
        var offsets = Set<Double>()
        for t in stride(from: 900.0, through: 1_800, by: 1) {
            let caps = dr.caps(events: [event], nodes: nodes, at: t)
            for i in nodes.indices {
                _ = governors[i].handle(.gridCap(watts: caps[i]), now: t)
                _ = governors[i].handle(.panelReading(PanelReading(homeLoadWatts: 2_000, breakerRatingAmps: 200, at: t)), now: t)
                if i % 2 == 1, t >= event.deadline, t < event.start + event.duration {
                    #expect(governors[i].allowedDrawWatts == 0, "node \(i) at \(t)")
                }
                if i % 2 == 0, t >= 940 { #expect(governors[i].mode == .normal) }
            }
        }
        for i in nodes.indices where i % 2 == 1 {
            offsets.insert(event.startOffset(for: nodes[i].id))
            #expect(governors[i].mode == .normal, "restored after the event")
        }
        #expect(offsets.count > 10)  // starts are spread, deterministically
        #expect(offsets.allSatisfy { $0 >= 0 && $0 <= 120 })
    }

    @Test func importCapacityLimitAndLeastCapWins() {
        let a = GridEvent(id: "a", signal: .importCapacityLimit(kilowatts: 3), start: 0, duration: 100)
        let b = GridEvent(id: "b", signal: .simple(level: 1), start: 0, duration: 100, targets: ["n"])
        let c = GridEvent(id: "c", signal: .simple(level: 7), start: 200, duration: 100)
        let dr = DemandResponse()
        let node = DemandResponse.Node(id: "n", fullWatts: 4_000)
        #expect(dr.caps(events: [a, b], nodes: [node], at: 50) == [2_000])
        #expect(dr.caps(events: [a, b], nodes: [node], at: 150) == [nil])
        #expect(dr.caps(events: [c], nodes: [node], at: 250) == [0])  // unknown level: fail safe
    }

    @Test func anImportCapacityLimitCountsTheHomeBesideTheNode() {
        let limit = GridEvent(id: "a", signal: .importCapacityLimit(kilowatts: 6), start: 0, duration: 100)
        let dr = DemandResponse()
        let home = { (load: Double) in DemandResponse.Node(id: "n", fullWatts: 12_500, homeLoadWatts: load) }
        #expect(dr.caps(events: [limit], nodes: [home(1_500)], at: 10) == [4_500], "the site imports at most 6 kW")
        #expect(dr.caps(events: [limit], nodes: [home(7_000)], at: 10) == [0], "a home over the limit leaves the node nothing")
        #expect(dr.caps(events: [limit], nodes: [home(.nan)], at: 10) == [0], "an unreadable home load is not room")
    }
}

@Suite struct OpenADRTargetingTests {
    private func event(targets: [String]?, duration: String? = nil, period: String? = "PT1H") -> OpenADR.Event {
        OpenADR.Event(
            id: "e", programID: "p", targets: targets.map(OpenADR.Targets.init),
            intervalPeriod: .init(start: "2026-12-07T18:00:00Z", duration: period), duration: duration,
            intervals: [.init(id: 0, payloads: [.init(type: "SIMPLE", values: [.number(2)])])])
    }

    @Test func anEventNamingTheVENAppliesToEveryNodeAndOneNamingAGroupOnlyToIt() {
        let ven: Set<String> = ["hearth-gateway", "VEN_NAME:hearth-gateway"]
        let toVEN = OpenADR.gridEvents(from: event(targets: ["VEN_NAME:hearth-gateway"]), now: 0, venTargets: ven)
        #expect(toVEN.first?.targets == [])
        #expect(toVEN.first?.targets(node: "any", groups: []) == true)
        let toTransformer = OpenADR.gridEvents(from: event(targets: ["t1"]), now: 0, venTargets: ven)
        #expect(toTransformer.first?.targets(node: "n", groups: ["t1"]) == true)
        #expect(toTransformer.first?.targets(node: "n", groups: ["t2"]) == false)
        #expect(OpenADR.gridEvents(from: event(targets: nil), now: 0, venTargets: ven).first?.targets == [], "untargeted: all nodes")
    }

    @Test func theEventsOwnDurationCountsWhenNoPeriodGivesOne() {
        let read = OpenADR.gridEvents(from: event(targets: nil, duration: "PT3H", period: nil), now: 0)
        #expect(read.first?.duration == 10_800)
        #expect(OpenADR.gridEvents(from: event(targets: nil, duration: "PT3H", period: "PT1H"), now: 0).first?.duration == 3_600)
    }
}

@Suite struct OpenADRReportPlannerTests {
    private let start = 1_000.0

    private func event(descriptors: [OpenADR.ReportDescriptor]? = nil, randomize: String = "PT0S") -> OpenADR.Event {
        OpenADR.Event(
            id: "e1", programID: "p", targets: .init(["t1"]), reportDescriptors: descriptors,
            intervalPeriod: .init(start: "1970-01-01T00:16:40Z", duration: "PT10M", randomizeStart: randomize),
            intervals: [.init(id: 0, payloads: [.init(type: "SIMPLE", values: [.number(1)])])])
    }

    private let nodes = [
        OpenADRReportPlanner.NodeReading(node: "a", groups: ["t1"], kilowatts: 4),
        OpenADRReportPlanner.NodeReading(node: "b", groups: ["t1"], kilowatts: 6),
        OpenADRReportPlanner.NodeReading(node: "c", groups: ["t2"], kilowatts: 9),
    ]

    @Test func reportsOnlyTargetedNodesOnceInForceAndOnceJustAfter() throws {
        let e = event()
        let grid = OpenADR.gridEvents(from: e, now: 0)
        var planner = OpenADRReportPlanner(endGrace: 60)
        #expect(planner.reports(for: [e], gridEvents: grid, nodes: nodes, now: start - 1, clientName: "v").isEmpty, "not before it starts")
        let first = planner.reports(for: [e], gridEvents: grid, nodes: nodes, now: start + 1, clientName: "v")
        let report = try #require(first.first)
        #expect(first.count == 1)
        #expect(report.programID == nil, "3.1 reports name the event, not the program")
        #expect(report.resources.map(\.resourceName) == ["a", "b"], "not c: the event does not target it")
        #expect(report.resources[1].intervals[0].payloads[0] == .init(type: "DEMAND", values: [.number(6)]))
        #expect(planner.reports(for: [e], gridEvents: grid, nodes: nodes, now: start + 30, clientName: "v").isEmpty, "once")
        let closing = planner.reports(for: [e], gridEvents: grid, nodes: nodes, now: start + 601, clientName: "v")
        #expect(closing.map { $0.resources.count } == [2])
        #expect(planner.reports(for: [e], gridEvents: grid, nodes: nodes, now: start + 700, clientName: "v").isEmpty)
    }

    @Test func aNodeIsNeverReportedBeforeItsRandomisedStart() throws {
        let e = event(randomize: "PT5M")
        let grid = OpenADR.gridEvents(from: e, now: 0)
        let offsets = ["a", "b"].map { grid[0].startOffset(for: $0) }
        let (early, late) = offsets[0] < offsets[1] ? ("a", "b") : ("b", "a")
        var planner = OpenADRReportPlanner()
        let at = start + min(offsets[0], offsets[1]) + 0.001
        let report = try #require(planner.reports(for: [e], gridEvents: grid, nodes: nodes, now: at, clientName: "v").first)
        #expect(report.resources.map(\.resourceName) == [early])
        #expect(!report.resources.map(\.resourceName).contains(late))
    }

    @Test func followsTheDescriptorsUnitsAndSkipsReadingsHearthCannotTake() throws {
        let inWatts = event(descriptors: [.init(payloadType: "DEMAND", readingType: "DIRECT_READ", units: "W")])
        var planner = OpenADRReportPlanner()
        let report = try #require(
            planner.reports(
                for: [inWatts], gridEvents: OpenADR.gridEvents(from: inWatts, now: 0), nodes: nodes, now: start + 1, clientName: "v"
            )
            .first)
        #expect(report.resources[0].intervals[0].payloads[0].values == [.number(4_000)])
        #expect(report.payloadDescriptors?.first?.units == "W")
        let unknown = event(descriptors: [.init(payloadType: "STORAGE_CHARGE_LEVEL")])
        var other = OpenADRReportPlanner()
        #expect(
            other.reports(
                for: [unknown], gridEvents: OpenADR.gridEvents(from: unknown, now: 0), nodes: nodes, now: start + 1, clientName: "v"
            )
            .isEmpty)
    }

    @Test func anEventThatEndedBeforeTheVENSawItIsNotReported() {
        let e = event()
        var planner = OpenADRReportPlanner()
        #expect(
            planner.reports(for: [e], gridEvents: OpenADR.gridEvents(from: e, now: 0), nodes: nodes, now: start + 620, clientName: "v")
                .isEmpty)
    }
}

@Suite struct PowerCapSchedulingTests {
    @Test func filterExcludesDrainingAndCapSlowsPrediction() {
        let filter = PowerCapFilter()
        let snapshots = PowerGovernor.Mode.allCases.map { mode in
            NodeSnapshot(
                id: NodeID(mode.rawValue), models: [ServedModel(id: "m", contextTokens: 8192)],
                profiles: [NodeProfile(gpu: .l4, model: .llama31_8B)], labels: [PowerCapFilter.labelKey: mode.rawValue])
        }
        var fleet = FleetState(nodes: snapshots)
        let request = SchedulingRequest(
            model: ModelSpec.llama31_8B.id, taskClass: .chat, promptTokens: 100, maxOutputTokens: 10, arrival: 0)
        let admitted = (0..<fleet.count).filter { filter.admits(request, nodeAt: $0, in: fleet) }.map { fleet.ids[$0].rawValue }
        #expect(Set(admitted) == ["normal", "capped"])
        // A node capped to half its GPU power prefills at 0.55 of full speed.
        let before = fleet.snapshot(at: 0).profiles[0].prefillSeconds(tokens: 4096)
        fleet.applyPowerStatus(PowerGovernor.Status(mode: .capped, budgetWatts: 3_000, capWatts: 36, capFraction: 0.5), at: 0)
        let after = fleet.snapshot(at: 0).profiles[0].prefillSeconds(tokens: 4096)
        #expect(after > before * 1.7)
        #expect(GPUPowerCurve.decodeSpeed(capFraction: 0.5) == 1)
        #expect(abs(GPUPowerCurve.prefillSpeed(capFraction: 600.0 / 700) - 0.871) < 0.01)
    }
}

@Suite struct OpenADRNotificationTests {
    @Test func readsTheSpecificationsSpellingAndTheReferenceImplementations() throws {
        let camel = try JSONDecoder().decode(
            OpenADR.Notification.self, from: Data(#"{"objectType":"EVENT","operation":"POST","object":{}}"#.utf8))
        let snake = try JSONDecoder().decode(
            OpenADR.Notification.self, from: Data(#"{"object_type":"EVENT","operation":"PUT","object":{}}"#.utf8))
        #expect(camel.objectType == "EVENT" && snake.objectType == "EVENT" && snake.operation == "PUT")
        #expect(throws: (any Error).self) { try JSONDecoder().decode(OpenADR.Notification.self, from: Data(#"{"operation":"POST"}"#.utf8)) }
    }
}

@Suite struct GridEventWindowTests {
    @Test func aNodesWindowIsTheEventMovedByItsOffsetAndOverlapsAreHalfOpen() {
        let event = GridEvent(id: "e", signal: .simple(level: 2), start: 1_000, duration: 600, randomizeStart: 300)
        let window = event.window(for: "n")
        #expect(window.begin == 1_000 + event.startOffset(for: "n") && window.end == window.begin + 600)
        #expect(event.isActive(for: "n", from: window.begin - 60, to: window.begin + 1))
        #expect(!event.isActive(for: "n", from: window.begin - 60, to: window.begin))
        #expect(!event.isActive(for: "n", from: window.end, to: window.end + 60))
        #expect(event.isActive(for: "n", at: window.begin) && !event.isActive(for: "n", at: window.end))
    }
}
