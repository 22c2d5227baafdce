import Foundation
import HearthCore
import HearthGateway
import HearthLogging
import Logging
import Synchronization
import Testing

/// `--log-format json` (issue 16): one JSON object a line, and the relay's lines carry the request's id, its tenant
/// and the node concerned, so an operator can follow one request through a failover.
@Suite struct StructuredLogTests {
    /// Collects a handler's lines.
    final class Lines: Sendable {
        private let lines = Mutex<[String]>([])
        func append(_ line: String) { lines.withLock { $0.append(line) } }
        var all: [String] { lines.withLock { $0 } }
        var objects: [[String: Any]] {
            lines.withLock { $0 }.map { line in
                #expect(line.hasSuffix("}\n") && line.filter { $0 == "\n" }.count == 1, "not one line: \(line)")
                let object = (try? JSONSerialization.jsonObject(with: Data(line.utf8))) as? [String: Any]
                #expect(object != nil, "not JSON: \(line)")
                return object ?? [:]
            }
        }
    }

    static func logger(_ lines: Lines, level: Logger.Level = .trace) -> Logger {
        Logger(label: "hearth.test") { label in
            var handler = JSONLogHandler(
                label: label, metadataProvider: .init { ["provided": "yes"] }, output: { lines.append($0) })
            handler.logLevel = level
            return handler
        }
    }

    @Test func eachEventIsOneJSONObjectWithItsMetadataAsFields() throws {
        let lines = Lines()
        var logger = Self.logger(lines)
        logger[metadataKey: "node"] = "n1"
        logger.notice(
            "a \"quoted\" line\nwith a break\u{1}",
            metadata: [
                "count": "\(3)", "list": ["a", "b"], "nested": ["k": "v"],
                // Would replace a fixed field: kept under another name.
                "message": "from metadata",
            ])
        logger.debug("second")
        let objects = lines.objects
        #expect(objects.count == 2)
        let first = try #require(objects.first)
        #expect(first["message"] as? String == "a \"quoted\" line\nwith a break\u{1}")
        #expect(first["metadata_message"] as? String == "from metadata")
        #expect(first["level"] as? String == "notice")
        #expect(first["label"] as? String == "hearth.test")
        #expect(first["node"] as? String == "n1")
        #expect(first["count"] as? String == "3")
        #expect(first["list"] as? [String] == ["a", "b"])
        #expect(first["nested"] as? [String: String] == ["k": "v"])
        #expect(first["provided"] as? String == "yes")
        let timestamp = try #require(first["timestamp"] as? String)
        #expect(try Date(timestamp, strategy: .iso8601.year().month().day().time(includingFractionalSeconds: true)) <= Date())
        #expect(objects.last?["level"] as? String == "debug")
    }

    @Test func theRelaysLinesCarryTheRequestTenantAndNode() async throws {
        let lines = Lines()
        let stall = StallOnce()
        let engines = (0..<2).map { _ in TestEngine(behaviour: ContinuingAnswer.behaviour(stallAfter: 3, stall: stall)) }
        try await withTestFleet(
            nodes: engines.enumerated().map { TestNodeSpec(id: "node-\($0.offset)", engine: $0.element) },
            configure: { $0.stallLimits = StallDetector.Limits(interTokenSeconds: [.chat: 0.5]) },
            gatewayLogger: Self.logger(lines, level: .notice)
        ) { fleet in
            let answer = try await fleet.post(
                json: chatBody(model: "test-model", stream: true, maxTokens: 64, extra: ["metadata": ["task": "chat"]]))
            #expect(answer.streamedText == ContinuingAnswer.text)
            let requestID = try #require(answer.headers["x-request-id"])
            let moved = try #require(lines.objects.first { $0["message"] as? String == "request moved to another node" })
            #expect(moved["request_id"] as? String == requestID)
            #expect(moved["tenant"] as? String == "tenant-a")
            #expect((moved["node"] as? String)?.hasPrefix("node-") == true)
            #expect(moved["node"] as? String != answer.headers["x-hearth-node"])
            #expect(moved["attempt"] as? String == "2")
        }
    }

    @Test func theGatewayCommandWritesJSONLinesWithLogFormatJSON() async throws {
        let hearth = try ChildProcesses.built("hearth")
        let directory = FileManager.default.temporaryDirectory.appendingPathComponent("hearth-logs-\(UUID().uuidString)")
        defer { try? FileManager.default.removeItem(at: directory) }
        let gateway = try await WatchedProcess.spawn(
            hearth,
            [
                "gateway", "--data-dir", directory.path, "--port", "0", "--tunnel-port", "0", "--log-format", "json",
                "--log-level", "info",
            ], sigtermBlocked: false)
        let watchdog = ChildProcesses.killAfter(.seconds(60), gateway.pid)
        defer { watchdog.cancel() }
        // Its banner (standard output, line-buffered into a pipe) says it serves; told to stop, it drains. Every line
        // of its standard error up to the drain is a JSON log line.
        #expect(await gateway.line { $0.hasPrefix("Gateway at ") } != nil)
        kill(gateway.pid, SIGTERM)
        let malformed = Mutex<[String]>([])
        let draining = await gateway.line(fromErrors: true) { line in
            let object = (try? JSONSerialization.jsonObject(with: Data(line.utf8))) as? [String: Any]
            if !(object?["level"] is String && object?["message"] is String) { malformed.withLock { $0.append(line) } }
            return object?["message"] as? String == "draining"
        }
        #expect(draining != nil)
        #expect(malformed.withLock { $0 }.isEmpty, "not JSON log lines: \(malformed.withLock { $0 })")
        let end = await gateway.termination()
        #expect(end.reason == .exit && end.status == 0)

        let refused = try await WatchedProcess.spawn(hearth, ["gateway", "--log-format", "yaml"], sigtermBlocked: false)
        #expect(await refused.line(fromErrors: true) { $0.contains("--log-format must be text or json") } != nil)
        #expect(await refused.termination().status != 0)
    }
}
