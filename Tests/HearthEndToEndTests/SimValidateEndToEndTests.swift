import Foundation
import Testing

@testable import HearthNode

#if canImport(FoundationNetworking)
    import FoundationNetworking
#endif
#if canImport(Glibc)
    import Glibc
#endif

/// `hearth sim validate` against the real llama-server: a smoke-sized run at three load levels must report every
/// workload at every level, every request matched, and finite errors, and its `--record` file, `--replay`ed with the
/// engine gone, must give the same figures. Skipped where the engine is not installed.
@Suite(.serialized) struct SimValidateEndToEndTests {
    static let cache = ProcessInfo.processInfo.environment["HEARTH_CACHE"] ?? (NSHomeDirectory() + "/.cache/hearth")
    static let binary = cache + "/bin/llama-server"
    static let model = cache + "/models/SmolLM2-135M-Instruct.Q4_1.gguf"
    static var engineInstalled: Bool {
        FileManager.default.isExecutableFile(atPath: binary) && FileManager.default.fileExists(atPath: model)
    }

    /// The `hearth` executable `swift build --build-tests` put beside the test bundle.
    static var hearth: String? {
        let beside = URL(fileURLWithPath: CommandLine.arguments[0]).deletingLastPathComponent().appendingPathComponent("hearth").path
        let candidates = [beside, FileManager.default.currentDirectoryPath + "/.build/debug/hearth"]
        return candidates.first { FileManager.default.isExecutableFile(atPath: $0) }
    }

    struct Failure: Error, CustomStringConvertible {
        var description: String
    }

    @Test(.enabled(if: engineInstalled, "llama-server or the model is not installed (scripts/install-engine.sh)"))
    func smokeRunReportsEveryRowWithFiniteErrors() async throws {
        let hearth = try #require(Self.hearth, "the hearth executable is not built beside the tests")
        // A port the kernel just handed out, closed again for llama-server to take.
        let port = try FreePort.find()
        let engine = Process()
        engine.executableURL = URL(fileURLWithPath: Self.binary)
        engine.arguments = [
            "-m", Self.model, "--host", "127.0.0.1", "--port", String(port), "-t", "1", "-np", "2", "-c", "4096",
            "--no-webui", "--alias", "smollm2", "--log-disable", "--cache-ram", "0",
        ]
        engine.standardOutput = FileHandle.nullDevice
        engine.standardError = FileHandle.nullDevice
        try engine.run()
        // SIGKILL, and no waitUntilExit (its run loop spins a core; llama-server may linger on SIGTERM).
        defer { kill(engine.processIdentifier, SIGKILL) }
        let url = "http://127.0.0.1:\(port)"
        try await Self.waitForHealth(url)

        let recording = FileManager.default.temporaryDirectory.appendingPathComponent("validate-\(port).json").path
        defer { try? FileManager.default.removeItem(atPath: recording) }
        let output = try await Self.run(
            hearth,
            [
                "sim", "validate", "--engine-url", url, "--smoke", "--concurrency", "1,2,4", "--calibration-rounds", "1", "--json",
                "--record", recording,
            ])
        let report = try #require(try JSONSerialization.jsonObject(with: output) as? [String: Any])
        // The recording, simulated again without the engine, gives the same report.
        kill(engine.processIdentifier, SIGKILL)
        let replayed = try await Self.run(hearth, ["sim", "validate", "--replay", recording, "--json"])
        let again = try #require(try JSONSerialization.jsonObject(with: replayed) as? [String: Any])
        #expect(
            NSDictionary(dictionary: again["overall"] as? [String: Any] ?? [:])
                == NSDictionary(dictionary: report["overall"] as? [String: Any] ?? [:]))
        #expect((again["rows"] as? [Any])?.count == (report["rows"] as? [Any])?.count)
        let rows = try #require(report["rows"] as? [[String: Any]])
        let cells = rows.map { "\($0["workload"] ?? "?")@\($0["concurrency"] ?? "?")" }
        #expect(
            Set(cells) == Set(["chat-reuse", "document-prefill", "code-decode"].flatMap { w in [1, 2, 4].map { "\(w)@\($0)" } }))
        for row in rows + [try #require(report["overall"] as? [String: Any])] {
            let requests = try #require(row["requests"] as? Int)
            #expect(requests > 0)
            #expect(row["matched"] as? Int == requests)
            for metric in ["ttft", "tpot", "e2e"] {
                let values = try #require(row[metric] as? [String: Any], "\(metric) missing in \(row["workload"] ?? "?")")
                for key in ["mape_percent", "real_p50_s", "sim_p50_s", "real_p99_s", "sim_p99_s"] {
                    let value = try #require(values[key] as? Double)
                    #expect(value.isFinite && value >= 0, "\(metric).\(key) = \(value)")
                }
            }
        }
    }

    /// Polls the engine's health endpoint: llama-server gives no other sign that its model is loaded.
    static func waitForHealth(_ url: String) async throws {
        guard let health = URL(string: url + "/health") else { throw Failure(description: "bad URL \(url)") }
        let deadline = ContinuousClock.now + .seconds(60)
        while ContinuousClock.now < deadline {
            if let (_, response) = try? await URLSession.shared.data(from: health),
                (response as? HTTPURLResponse)?.statusCode == 200
            {
                return
            }
            try await Task.sleep(for: .milliseconds(200))
        }
        throw Failure(description: "llama-server at \(url) not healthy within 60 s")
    }

    /// Runs `path` with `arguments` and returns its standard output; throws when it exits non-zero.
    static func run(_ path: String, _ arguments: [String]) async throws -> Data {
        let process = Process()
        process.executableURL = URL(fileURLWithPath: path)
        process.arguments = arguments
        // Files, not pipes: nothing to drain while it runs.
        let directory = FileManager.default.temporaryDirectory.appendingPathComponent("sim-validate-\(UInt64.random(in: 0...UInt64.max))")
        try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: directory) }
        let outPath = directory.appendingPathComponent("out").path
        let errPath = directory.appendingPathComponent("err").path
        FileManager.default.createFile(atPath: outPath, contents: nil)
        FileManager.default.createFile(atPath: errPath, contents: nil)
        process.standardOutput = FileHandle(forWritingAtPath: outPath)
        process.standardError = FileHandle(forWritingAtPath: errPath)
        let exited = AsyncStream<Int32>.makeStream()
        process.terminationHandler = { exited.continuation.yield($0.terminationStatus) }
        try process.run()
        var status: Int32 = -1
        for await code in exited.stream {
            status = code
            break
        }
        let data = FileManager.default.contents(atPath: outPath) ?? Data()
        let log = FileManager.default.contents(atPath: errPath) ?? Data()
        guard status == 0 else {
            throw Failure(description: "hearth exited \(status): \(String(decoding: log.suffix(2000), as: UTF8.self))")
        }
        return data
    }
}
