import AsyncHTTPClient
import Foundation
import Testing

@testable import HearthNode

/// Debian's Prometheus scraping one gateway's metrics listener every second, with `deploy/prometheus/hearth-alerts.yml`
/// loaded; stopped afterwards.
struct TestPrometheus {
    let port: Int

    static var repository: URL {
        URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()
            .deletingLastPathComponent()
    }

    static func executable(_ name: String) throws -> String {
        let binary = ["/usr/bin/\(name)", "/usr/local/bin/\(name)"].first { FileManager.default.isExecutableFile(atPath: $0) }
        return try #require(binary, "\(name) is not installed (apt-get install prometheus; scripts/bootstrap.sh does)")
    }

    static func with<Result>(scraping target: String, _ body: (TestPrometheus) async throws -> Result) async throws -> Result {
        let prometheus = try executable("prometheus")
        let port = try FreePort.find()
        let directory = FileManager.default.temporaryDirectory.appendingPathComponent("hearth-prometheus-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: directory) }
        let rules = repository.appendingPathComponent("deploy/prometheus/hearth-alerts.yml").path
        let configuration = """
            global:
              scrape_interval: 1s
              evaluation_interval: 1s
            rule_files: ["\(rules)"]
            scrape_configs:
              - job_name: hearth-gateway
                static_configs:
                  - targets: ["\(target)"]
            """
        let file = directory.appendingPathComponent("prometheus.yml")
        try configuration.write(to: file, atomically: true, encoding: .utf8)
        let logPath = directory.appendingPathComponent("prometheus.log")
        FileManager.default.createFile(atPath: logPath.path, contents: nil)
        let log = try FileHandle(forWritingTo: logPath)
        defer { try? log.close() }

        let process = Process()
        process.executableURL = URL(fileURLWithPath: prometheus)
        process.arguments = [
            "--config.file=\(file.path)", "--storage.tsdb.path=\(directory.appendingPathComponent("data").path)",
            "--web.listen-address=127.0.0.1:\(port)",
        ]
        process.standardOutput = log
        process.standardError = log
        let (ended, sink) = AsyncStream<Void>.makeStream()
        process.terminationHandler = { _ in sink.finish() }
        try process.run()
        let server = TestPrometheus(port: port)
        do {
            let result = try await body(server)
            process.terminate()
            for await _ in ended {}
            return result
        } catch {
            process.terminate()
            for await _ in ended {}
            let printed = (try? String(contentsOf: logPath, encoding: .utf8)) ?? ""
            Issue.record("Prometheus's log:\n\(printed.suffix(4000))")
            throw error
        }
    }

    /// `GET /api/v1/<path>`'s `data`, or nil when Prometheus does not answer (yet) or answers with an error.
    func api(_ path: String, query: [String: String] = [:]) async -> (status: String, data: Any?, error: String?)? {
        var components = URLComponents(string: "http://127.0.0.1:\(port)/api/v1/\(path)")!
        components.queryItems = query.map { URLQueryItem(name: $0.key, value: $0.value) }
        guard let url = components.url?.absoluteString,
            let response = try? await HTTPClient.shared.execute(HTTPClientRequest(url: url), timeout: .seconds(5)),
            let body = try? await response.body.collect(upTo: 16 << 20),
            let object = try? JSONSerialization.jsonObject(with: Data(buffer: body)) as? [String: Any]
        else { return nil }
        return (object["status"] as? String ?? "", object["data"], object["error"] as? String)
    }

    /// The instant query's result vector.
    func query(_ expression: String) async -> (status: String, series: [[String: Any]], error: String?)? {
        guard let answer = await api("query", query: ["query": expression]) else { return nil }
        let series = (answer.data as? [String: Any])?["result"] as? [[String: Any]] ?? []
        return (answer.status, series, answer.error)
    }

    /// Waits until `condition` holds, for at most `limit`: Prometheus scrapes and evaluates on its own clock and
    /// announces neither, so this asks its API again each scrape interval.
    func waitUntil(_ what: String, within limit: Duration = .seconds(30), _ condition: () async -> Bool) async throws {
        let deadline = ContinuousClock.now + limit
        while ContinuousClock.now < deadline {
            if await condition() { return }
            try await Task.sleep(for: .milliseconds(250))
        }
        throw TestPostgres.Failure(description: "Prometheus: \(what) did not happen within \(limit)")
    }
}
