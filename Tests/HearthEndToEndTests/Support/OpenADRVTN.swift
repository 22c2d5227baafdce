import AsyncHTTPClient
import Foundation
import Testing

/// The OpenADR 3.1 VTN stand-in of `Clients/openadr_vtn.py`, whose events are built by the `openadr3` PyPI library
/// (scripts/test.sh installs it). Started per test; ends when the test closes its stdin.
final class OpenADRVTN: Sendable {
    let port: Int
    let clientID = "hearth-ven"
    let clientSecret = "s3cret"
    private let process: Process
    private let input: Pipe
    private let client: HTTPClient

    var baseURL: String { "http://127.0.0.1:\(port)" }

    static var script: String {
        URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
            .appendingPathComponent("Clients/openadr_vtn.py").path
    }

    init(client: HTTPClient) throws {
        let python = OpenAIClientTests.python
        try #require(
            FileManager.default.isExecutableFile(atPath: python), "no Python at \(python): run scripts/test.sh (make test)")
        let process = Process()
        process.executableURL = URL(fileURLWithPath: python)
        process.arguments = [Self.script]
        let input = Pipe()
        let output = Pipe()
        process.standardInput = input
        process.standardOutput = output
        try process.run()
        // The stand-in prints its port once it listens (or dies, printing nothing: the openadr3 package is missing).
        var line = Data()
        while !line.contains(UInt8(ascii: "\n")) {
            let chunk = output.fileHandleForReading.availableData
            if chunk.isEmpty { break }
            line.append(chunk)
        }
        let text = String(decoding: line, as: UTF8.self)
        guard text.hasPrefix("PORT "), let port = Int(text.dropFirst(5).trimmingCharacters(in: .whitespacesAndNewlines)) else {
            process.terminate()
            throw StandInFailed(output: text)
        }
        self.port = port
        self.process = process
        self.input = input
        self.client = client
    }

    struct StandInFailed: Error, CustomStringConvertible {
        var output: String
        var description: String { "the VTN stand-in did not start (is the openadr3 package installed?): \(output)" }
    }

    func stop() {
        try? input.fileHandleForWriting.close()
        process.waitUntilExit()
    }

    /// Replaces the VTN's events: `events` are specs the library turns into events, `raw` objects go out as given.
    func setEvents(_ body: [String: Any]) async throws {
        let response = try await sendHTTP(
            url: baseURL + "/_test/events", method: .POST, body: try JSONSerialization.data(withJSONObject: body), apiKey: nil,
            headers: [], client: client)
        try #require(response.status == 200, "\(response.body)")
    }

    /// What the VEN did so far.
    func state() async throws -> [String: Any] {
        let response = try await sendHTTP(url: baseURL + "/_test/state", method: .GET, body: nil, apiKey: nil, headers: [], client: client)
        return try #require(response.json)
    }

    /// Returns once the stand-in keeps `count` of `what` (reports, vens, subscriptions, notified), or after 20 s.
    @discardableResult
    func wait(for what: String, count: Int) async throws -> Int {
        let response = try await sendHTTP(
            url: baseURL + "/_test/wait?what=\(what)&count=\(count)&timeout=20", method: .GET, body: nil, apiKey: nil, headers: [],
            client: client)
        return response.json?["count"] as? Int ?? 0
    }
}
