import Foundation
import HearthCore
import HearthGateway
import HearthNode
import Logging
import NIOCore
import ServiceLifecycle
import Synchronization
import Testing

/// Issue 14: a node keeps tunnels to several gateway replicas at once, serves every one of them, reports its whole
/// load on each, and when one goes away it serves on the others and dials a replacement.
@Suite struct NodeOnSeveralGatewaysTests {
    /// Runs `agent` for the body's length.
    static func running<Result: Sendable>(_ agent: NodeAgent, _ body: () async throws -> Result) async throws -> Result {
        let group = ServiceGroup(configuration: .init(services: [.init(service: agent)], logger: Logger(label: "hearth.test.node")))
        return try await withThrowingTaskGroup(of: Void.self) { tasks in
            tasks.addTask { try await group.run() }
            defer { tasks.cancelAll() }
            let result: Result
            do { result = try await body() } catch {
                await group.triggerGracefulShutdown()
                throw error
            }
            await group.triggerGracefulShutdown()
            try await tasks.waitForAll()
            return result
        }
    }

    /// The replicas a test's node may dial, as name resolution would give them: a test adds one.
    final class Replicas: Sendable {
        let endpoints: Mutex<[GatewayEndpoint]>
        init(_ fleets: [TestFleet]) { endpoints = Mutex(fleets.map(NodeOnSeveralGatewaysTests.endpoint)) }
        func add(_ fleet: TestFleet) { endpoints.withLock { $0.append(NodeOnSeveralGatewaysTests.endpoint(fleet)) } }
    }

    /// - Parameter identity: the node's enrolled identity (mutual TLS), or nil for plain tunnels.
    static func agent(id: String, engine: any Engine, gateways: Replicas, identity: NodeIdentityConfiguration? = nil) -> NodeAgent {
        var configuration = NodeAgentConfiguration(
            nodeID: NodeID(id), gateways: [], hardware: .init(cpuCores: 1, memoryBytes: 1 << 30, gpus: []))
        configuration.identity = identity
        configuration.gatewayConnections = 2
        configuration.initialReconnectDelay = .milliseconds(20)
        configuration.maximumReconnectDelay = .milliseconds(100)
        var logger = Logger(label: "hearth.test.node")
        logger.logLevel = .critical
        return NodeAgent(configuration: configuration, engine: engine, logger: logger) { gateways.endpoints.withLock { $0 } }
    }

    static func endpoint(_ fleet: TestFleet) -> GatewayEndpoint {
        GatewayEndpoint(host: fleet.addresses.host, port: fleet.addresses.tunnelPort)
    }

    @Test func aNameStandsForEveryAddressItResolvesToAndKeepsItsNameForTLS() async {
        let resolved = await GatewayEndpoint.resolve([
            GatewayEndpoint(host: "localhost", port: 7070), GatewayEndpoint(host: "192.0.2.7", port: 7071),
        ])
        let local = resolved.filter { $0.port == 7070 }
        #expect(local.contains(GatewayEndpoint(host: "127.0.0.1", port: 7070, serverName: "localhost")))
        #expect(local.allSatisfy { $0.serverName == "localhost" && $0.host != "localhost" })
        #expect(resolved.last == GatewayEndpoint(host: "192.0.2.7", port: 7071), "an address is dialled as it is")
    }

    @Test(.timeLimit(.minutes(1)))
    func aNodeServesTwoGatewaysAndEachSeesItsWholeLoad() async throws {
        let engine = TestEngine.firstWordThenGate()
        let node = NodeID("home-1")
        try await withTestFleet(nodes: [], waitForNodes: false) { first in
            try await withTestFleet(nodes: [], waitForNodes: false) { second in
                let gateways = Replicas([first, second])
                let agent = Self.agent(id: node.rawValue, engine: engine, gateways: gateways)
                try await Self.running(agent) {
                    await first.gateway.waitForNodes(1)
                    await second.gateway.waitForNodes(1)
                    #expect(agent.connectionCount == 2)

                    // Both replicas place work on the node.
                    for fleet in [first, second] {
                        let answer = try await fleet.post(json: chatBody(model: "test-model"))
                        #expect(answer.status == 200)
                        #expect(answer.headers["x-hearth-node"] == node.rawValue)
                    }

                    // A stream through the first replica: the second one learns of it from the node's heartbeats.
                    let beats = second.gateway.registry.heartbeats()
                    let answer = try await first.streamAndInterrupt(json: chatBody(model: "test-model", stream: true), after: "first") {
                        _ in
                        for await (from, beat) in beats where from == node && beat.otherGatewayStreams == 1 { break }
                        #expect(second.gateway.registry.scheduler.runningSequences(on: node) == 1)
                        #expect(first.gateway.registry.scheduler.runningSequences(on: node) == 1)
                        engine.gate.open()
                    }
                    #expect(answer.status == 200)
                    #expect(answer.streamedText == "first second")
                    // The stream over, the node says so on the other tunnel too (a stream's iteration ends with its
                    // iterator: a fresh subscription).
                    for await (from, beat) in second.gateway.registry.heartbeats() where from == node && beat.otherGatewayStreams == nil {
                        break
                    }
                    #expect(second.gateway.registry.scheduler.runningSequences(on: node) == 0)
                }
            }
        }
    }

    @Test(.timeLimit(.minutes(1)))
    func whenAGatewayGoesTheNodeServesOnTheOtherAndDialsAReplacement() async throws {
        let engine = TestEngine.firstWordThenGate()
        engine.gate.open()
        let node = NodeID("home-2")
        try await withTestFleet(nodes: [], waitForNodes: false) { leaving in
            try await withTestFleet(nodes: [], waitForNodes: false) { staying in
                try await withTestFleet(nodes: [], waitForNodes: false) { spare in
                    let gateways = Replicas([leaving, staying])
                    let agent = Self.agent(id: node.rawValue, engine: engine, gateways: gateways)
                    try await Self.running(agent) {
                        await leaving.gateway.waitForNodes(1)
                        await staying.gateway.waitForNodes(1)
                        // A third replica appears (as a name resolving to one more address would); the node already
                        // has its two tunnels, so it does not dial it yet.
                        gateways.add(spare)
                        #expect(spare.gateway.connectedNodes.isEmpty)

                        let dialled = spare.gateway.registry.events()
                        await leaving.shutDown()
                        // Meanwhile the node serves through the replica that stays, without a reconnect there.
                        for _ in 0..<5 {
                            let answer = try await staying.post(json: chatBody(model: "test-model", stream: true))
                            #expect(answer.status == 200)
                            #expect(answer.streamedText == "first second")
                        }
                        // The tunnel that served the leaving replica dials the spare one, not the one that just left.
                        for await event in dialled {
                            if case .registered(let id) = event, id == node { break }
                        }
                        #expect(agent.connectionCount == 3)
                        #expect(staying.gateway.connectedNodes == [node])
                        let answer = try await spare.post(json: chatBody(model: "test-model"))
                        #expect(answer.status == 200)
                        #expect(answer.headers["x-hearth-node"] == node.rawValue)
                    }
                }
            }
        }
    }
}
