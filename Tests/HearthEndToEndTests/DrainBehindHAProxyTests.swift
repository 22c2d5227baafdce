import AsyncHTTPClient
import Foundation
import HearthCore
import HearthGateway
import Logging
import NIOCore
import Synchronization
import Testing

@testable import HearthNode

/// Two gateways on one PostgreSQL store behind HAProxy, configured as `deploy/haproxy/haproxy.cfg` ships: one is told
/// to stop while it serves a stream. The stream finishes, and no request sent meanwhile through HAProxy fails.
@Suite struct DrainBehindHAProxyTests {
    @Test(.timeLimit(.minutes(2)))
    func aReplicaThatDrainsBehindHAProxyFinishesItsStreamAndLosesNoRequest() async throws {
        let engines = [TestEngine.firstWordThenGate(), TestEngine.firstWordThenGate()]
        try await TestPostgres.with { address in
            try await PostgresFleetStore.withStore(address, logger: Logger(label: "hearth.test.store")) { store in
                try await withTestFleet(nodes: [TestNodeSpec(id: "a1", engine: engines[0])], store: store, nodesOutliveTheGateway: true) {
                    a in
                    try await withTestFleet(nodes: [TestNodeSpec(id: "b1", engine: engines[1])], store: store, nodesOutliveTheGateway: true)
                    { b in
                        try await TestHAProxy.with(servers: [a.addresses.httpPort, b.addresses.httpPort]) { proxy in
                            try await Self.drainOne(of: [a, b], behind: proxy, engines: engines)
                        }
                    }
                }
            }
        }
    }

    static func drainOne(of fleets: [TestFleet], behind proxy: TestHAProxy, engines: [TestEngine]) async throws {
        // A fleet's key works on both replicas: they share the store.
        var through = fleets[0]
        through.addresses.httpPort = proxy.port
        // Both replicas up in HAProxy's eyes (its checks need two passes): requests reach both.
        var seen: Set<String> = []
        for _ in 0..<200 where seen.count < 2 {
            if let node = try? await through.post(json: chatBody(model: "test-model")).headers["x-hearth-node"] { seen.insert(node) }
            if seen.count < 2 { try await Task.sleep(for: .milliseconds(50)) }
        }
        try #require(seen == ["a1", "b1"], "HAProxy sent requests to \(seen.sorted()) only")
        let client = through
        let answer = try await client.streamAndInterrupt(json: chatBody(model: "test-model", stream: true), after: "first") { node in
            let serving = node == "a1" ? 0 : 1
            await fleets[serving].shutDown()
            await fleets[serving].gateway.admission.drainBegan()
            for index in 0..<20 {
                let response = try await client.post(json: chatBody(model: "test-model"))
                #expect(response.status == 200, "request \(index) during the drain: \(response.status) \(response.body)")
                #expect(response.headers["x-hearth-node"] == (serving == 0 ? "b1" : "a1"))
            }
            for engine in engines { engine.gate.open() }
        }
        #expect(answer.status == 200)
        #expect(answer.streamedText == "first second")
        #expect(answer.events.filter { $0 == "[DONE]" }.count == 1)
    }
}

/// HAProxy (Debian's) running `deploy/haproxy/haproxy.cfg` with its listener and servers pointed at this test's
/// loopback ports; stopped afterwards.
struct TestHAProxy {
    let port: Int

    static func with<Result>(servers: [Int], _ body: (TestHAProxy) async throws -> Result) async throws -> Result {
        let binary = ["/usr/sbin/haproxy", "/usr/bin/haproxy"].first { FileManager.default.isExecutableFile(atPath: $0) }
        let haproxy = try #require(binary, "HAProxy is not installed (apt-get install haproxy; scripts/bootstrap.sh does)")
        let shipped = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
            .deletingLastPathComponent().appendingPathComponent("deploy/haproxy/haproxy.cfg")
        var configuration = try String(contentsOf: shipped, encoding: .utf8)
        let port = try FreePort.find()
        configuration = configuration.replacingOccurrences(of: "bind :8080", with: "bind 127.0.0.1:\(port)")
        let lines = configuration.split(separator: "\n", omittingEmptySubsequences: false).filter {
            !$0.trimmingCharacters(in: .whitespaces).hasPrefix("server ")
        }
        configuration =
            lines.joined(separator: "\n") + "\n"
            + servers.enumerated().map { "    server gateway-\($0.offset + 1) 127.0.0.1:\($0.element) check\n" }.joined()
        let directory = FileManager.default.temporaryDirectory.appendingPathComponent("hearth-haproxy-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: directory) }
        let file = directory.appendingPathComponent("haproxy.cfg")
        try configuration.write(to: file, atomically: true, encoding: .utf8)

        let process = Process()
        process.executableURL = URL(fileURLWithPath: haproxy)
        process.arguments = ["-db", "-f", file.path]
        let log = try FileHandle(
            forWritingTo: {
                let path = directory.appendingPathComponent("haproxy.log")
                FileManager.default.createFile(atPath: path.path, contents: nil)
                return path
            }())
        process.standardOutput = log
        process.standardError = log
        let (ended, sink) = AsyncStream<Void>.makeStream()
        process.terminationHandler = { _ in sink.finish() }
        try process.run()
        defer { try? log.close() }
        do {
            try await waitUntilServing(port: port, process: process, log: directory.appendingPathComponent("haproxy.log"))
            let result = try await body(TestHAProxy(port: port))
            process.terminate()
            for await _ in ended {}
            return result
        } catch {
            process.terminate()
            for await _ in ended {}
            throw error
        }
    }

    /// HAProxy prints nothing once it listens and its health checks pass, so this asks a replica's `/readyz` through it,
    /// for at most 15 s, and gives up at once if HAProxy has exited.
    private static func waitUntilServing(port: Int, process: Process, log: URL) async throws {
        let deadline = ContinuousClock.now + .seconds(15)
        while ContinuousClock.now < deadline {
            guard process.isRunning else {
                let printed = (try? String(contentsOf: log, encoding: .utf8)) ?? ""
                throw TestPostgres.Failure(description: "HAProxy exited: \(printed)")
            }
            if let response = try? await HTTPClient.shared.execute(
                HTTPClientRequest(url: "http://127.0.0.1:\(port)/readyz"), timeout: .milliseconds(500)),
                response.status == .ok
            {
                return
            }
            // A bounded wait for another process's start, which announces nothing: the only poll in these tests.
            try await Task.sleep(for: .milliseconds(50))
        }
        throw TestPostgres.Failure(description: "HAProxy did not serve /readyz within 10 s")
    }
}
