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
