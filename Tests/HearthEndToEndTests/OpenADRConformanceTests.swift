import AsyncHTTPClient
import Foundation
import HearthCore
import HearthGateway
import HearthProtocol
import Testing

/// Hearth's VEN against a VTN whose programs and events an independent OpenADR 3 library builds (`openadr3` from
/// PyPI): registration, token discovery, paging, targeting, site import limits, reports and notifications.
@Suite(.serialized) struct OpenADRConformanceTests {
    static let venName = "hearth-test-ven"

    /// node-0 stands on transformer t1, which the utility names `TRANSFORMER:T-1`; node-1 on t2. Both homes draw 3 kW.
    static func sites(_ configuration: inout GatewayConfiguration) {
        configuration.power = try! PowerSiteConfiguration.decode(
            Data(
                #"""
                {"transformers": [{"id": "t1", "kva": 50, "targets": ["TRANSFORMER:T-1"]}, {"id": "t2", "kva": 50}],
                 "nodes": {"node-0": {"home": "home-0", "transformer": "t1"}, "node-1": {"home": "home-1", "transformer": "t2"}}}
                """#.utf8))
        configuration.power.period = .milliseconds(100)
    }

    /// The sites, and a VEN of `venName` on `vtn` polling every `poll` (and subscribed at `callback`, when given).
    static func configure(
        _ configuration: inout GatewayConfiguration, vtn: OpenADRVTN, poll: Duration, callback: String? = nil
    ) {
        sites(&configuration)
        var adr = OpenADRConfiguration(baseURL: vtn.baseURL, clientID: vtn.clientID, clientSecret: vtn.clientSecret)
        adr.venName = venName
        adr.pollInterval = poll
        adr.callbackURL = callback
        configuration.openADR = adr
    }

    static func nodes() -> ([PoweredNode], [TestNodeSpec]) {
        let powered = (0..<2).map { _ in PoweredNode.make(homeLoadWatts: 3_000) }
        let specs = (0..<2).map { i in
            TestNodeSpec(
                id: "node-\(i)",
                engine: TestEngine { request, _, emit in
                    for chunk in TestEngine.sse(words: ["ok"], request: request) { try await emit(chunk) }
                },
                power: powered[i].controller)
        }
        return (powered, specs)
    }

    @Test func theVENRegistersReadsEveryPageAndAppliesEventsToTheNodesTheyTarget() async throws {
        let vtn = try OpenADRVTN(client: .shared)
        defer { vtn.stop() }
        // Past the first page: 55 old events, two the VEN cannot read, then the two under test.
        // The stand-in states times in whole seconds (rounded down), a moment after this.
        let shedStart = Date(timeIntervalSince1970: (Date().timeIntervalSince1970 + 3).rounded(.down))
        try await vtn.setEvents([
            "filler": 55,
            "raw": [
                [
                    "id": "bad-value", "objectType": "EVENT", "programID": "program-1",
                    "intervalPeriod": ["start": "2030-01-01T00:00:00Z", "duration": "PT1H"],
                    "intervals": [["id": 0, "payloads": [["type": "SIMPLE", "values": ["three"]]]]],
                ],
                ["id": "no-program", "objectType": "EVENT", "intervals": []],
            ],
            "events": [
                // A shed of transformer T-1 only, with the readings the utility wants reported.
                [
                    "id": "shed-t1", "targets": ["TRANSFORMER:T-1"], "start_in": 3, "duration": 4, "type": "SIMPLE", "value": 2,
                    "report": [["payloadType": "DEMAND", "readingType": "DIRECT_READ", "units": "KW"]],
                ],
                // A site import limit of 9 kW for every site of this VEN: 3 kW of home leave each node 6 kW.
                [
                    "id": "limit-all", "targets": ["VEN_NAME:\(Self.venName)"], "start_in": 0, "duration": 60,
                    "type": "IMPORT_CAPACITY_LIMIT", "value": 9, "units": "KW",
                ],
            ],
        ])
        let (powered, specs) = Self.nodes()
        try await withTestFleet(
            nodes: specs,
            configure: { Self.configure(&$0, vtn: vtn, poll: .milliseconds(200)) }
        ) { fleet in
            let limits = fleet.gateway.power.limitsSent()
            let decisions = powered[0].controller.decisions()
            // The site limit reaches node-1 (not on T-1) as what its home leaves of 9 kW.
            for await sent in limits where sent.node == NodeID("node-1") && sent.limit.gridCapWatts != nil {
                #expect(abs(sent.limit.gridCapWatts! - 6_000) <= 50, "\(sent.limit)")
                break
            }
            // The shed of T-1 reaches node-0 at its start, and the node powers down.
            for await sent in limits where sent.node == NodeID("node-0") && sent.limit.gridCapWatts == 0 { break }
            #expect(Date().timeIntervalSince(shedStart) > -0.3, "not before the event's start")
            for await decision in decisions where decision.action == .powerDown { break }
            #expect(powered[1].controller.status.mode != .off, "node-1 is not on the transformer the shed names")

            try await vtn.wait(for: "reports", count: 2)
            let state = try await vtn.state()
            let vens = try #require(state["vens"] as? [[String: Any]])
            #expect(vens.map { $0["venName"] as? String } == [Self.venName], "registered once, by name")
            #expect((state["token_requests"] as? Int ?? 0) >= 1, "the token endpoint /auth/server named was used")
            let pages = try #require(state["pages"] as? [[String: String]])
            #expect(pages.contains { $0["skip"] == "50" }, "the second page of /events was read")
            #expect((state["refused"] as? [Any])?.isEmpty == true, "\(state["refused"] ?? "")")
            let reports = try #require(state["reports"] as? [[String: Any]])
            let shed = try #require(reports.first { $0["eventID"] as? String == "shed-t1" })
            let received = try #require(shed["received"] as? [String: Any])
            #expect(received["programID"] == nil, "a 3.1 report names its event only")
            let resources = try #require(shed["resources"] as? [[String: Any]])
            #expect(resources.map { $0["resourceName"] as? String } == ["node-0"], "only the node the event targets")
            let limit = try #require(reports.first { $0["eventID"] as? String == "limit-all" })
            #expect(
                Set((limit["resources"] as? [[String: Any]] ?? []).compactMap { $0["resourceName"] as? String }) == ["node-0", "node-1"])
        }
    }

    @Test func aNotificationAppliesAnEventWithoutWaitingForThePoll() async throws {
        let vtn = try OpenADRVTN(client: .shared)
        defer { vtn.stop() }
        let (powered, specs) = Self.nodes()
        try await withTestFleet(
            nodes: specs,
            // A poll a minute: what applies within seconds came by the notification. The callback is the name a VTN
            // would call; the stand-in resolves it to this test's gateway.
            configure: {
                Self.configure(&$0, vtn: vtn, poll: .seconds(60), callback: "https://gateway.hearth.test/openadr/notifications")
            }
        ) { fleet in
            #expect(try await vtn.wait(for: "subscriptions", count: 1) == 1)
            let subscription = try #require((try await vtn.state()["subscriptions"] as? [[String: Any]])?.first)
            #expect(subscription["clientName"] as? String == Self.venName)

            // A forged notification is refused.
            let forged = try await fleet.post(
                "/openadr/notifications", body: Data(#"{"objectType":"EVENT","operation":"POST","object":{}}"#.utf8), apiKey: "guess")
            #expect(forged.status == 401)

            let decisions = powered[0].controller.decisions()
            let published = ContinuousClock.now
            try await vtn.setEvents([
                "notify": true, "notify_base": fleet.baseURL,
                "events": [
                    ["id": "now", "targets": ["VEN_NAME:\(Self.venName)"], "start_in": 0, "duration": 30, "type": "SIMPLE", "value": 2]
                ],
            ])
            let shed = try await Self.first(within: .seconds(15)) {
                for await decision in decisions where decision.action == .powerDown { return true }
                return false
            }
            #expect(shed == true)
            #expect(ContinuousClock.now - published < .seconds(15), "well before the next poll, a minute later")
            try await vtn.wait(for: "notified", count: 1)
            let notified = try #require((try await vtn.state()["notified"] as? [[String: Any]])?.first)
            #expect(notified["status"] as? Int == 200)
        }
    }

    /// `body`'s result, or nil once `limit` passed (a bound on a wait, not a wait).
    static func first<T: Sendable>(within limit: Duration, _ body: @escaping @Sendable () async throws -> T) async throws -> T? {
        try await withThrowingTaskGroup(of: T?.self) { group in
            group.addTask { try await body() }
            group.addTask {
                try await Task.sleep(for: limit)
                return nil
            }
            let first = try await group.next() ?? nil
            group.cancelAll()
            return first
        }
    }
}
