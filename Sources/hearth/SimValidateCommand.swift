import ArgumentParser
import AsyncHTTPClient
import Foundation
import HearthCore
import HearthNode
import HearthSim
import NIOCore
import NIOFoundationCompat

extension SimCommand {
    /// `hearth sim validate`: the simulator held against a real engine.
    struct Validate: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Replay workloads against a real engine and through the simulator, and report the simulator's error.",
            discussion: """
                Calibrates the engine as a node does (or reads --profile), then plays each workload at each load level \
                (a number of concurrent clients, each sending one conversation's requests in turn) against the engine's \
                /v1/completions, streaming, and runs the same requests (sent when the real client sent them, with the \
                token counts the engine reported) through the simulator with one node of that profile. Reports per \
                workload and load level the MAPE of TTFT, TPOT and end-to-end latency and their p50/p99, real vs simulated. \
                Built-in workloads: chat-reuse, document-prefill, code-decode; --trace replays a trace file instead.
                """
        )

        @Option(help: "Base URL of an OpenAI-compatible engine (llama-server) or of a Hearth gateway (not with --replay).")
        var engineURL: String?

        @Option(help: "Write what the engine did (profile, requests, timings) to this file, for --replay.")
        var record: String?

        @Option(help: "Simulate a run that --record wrote again, without an engine (with --profile: another profile).")
        var replay: String?

        @Option(help: "Trace file (Azure CSV, Mooncake JSONL or BurstGPT CSV) to replay instead of the built-in workloads.")
        var trace: String?

        @Option(help: "Requests to take from --trace.")
        var requests: Int = 12

        @Option(help: "Comma-separated built-in workloads.")
        var workloads: String = ValidationWorkload.allCases.map(\.rawValue).joined(separator: ",")

        @Option(help: "Comma-separated load levels: concurrent clients.")
        var concurrency: String = "1,2,4"

        @Option(help: "A profile JSON file (as --write-profile writes, or a bare NodeProfile) instead of calibrating.")
        var profile: String?

        @Flag(help: "Calibrate with the node agent's own calibration (EngineCalibration) instead of the validation's probes.")
        var nodeCalibration = false

        @Option(help: "Rounds of the validation's calibration probes (medians are fitted).")
        var calibrationRounds: Int = 2

        @Flag(
            help: """
                Before each load level, time a few fresh prompts against the calibration and simulate the level with the \
                profile scaled to what they show (the table shows the factors, and the error as calibrated).
                """)
        var speedCheck = false

        @Option(help: "Write the profile used (calibrated or read) to this file.")
        var writeProfile: String?

        @Option(help: "Model to request (default: the engine's first).")
        var model: String?

        @Option(help: "Engine slots (default: llama-server's /props, else 2).")
        var slots: Int?

        @Option(help: "Total context tokens of the engine, all slots (default: llama-server's /props, else 4096 per slot).")
        var contextTokens: Int?

        @Option(help: "API key, when --engine-url is a Hearth gateway.")
        var apiKey: String?

        @Option(help: "Seed of the generated workloads.")
        var seed: UInt64 = 1

        @Flag(help: "Small workloads: a quick check that everything runs, not a measurement.")
        var smoke = false

        @Flag(help: "Print one JSON object on standard output.")
        var json = false

        func run() async throws {
            if let replay {
                guard engineURL == nil, record == nil else { throw ValidationError("--replay takes no --engine-url or --record") }
                return try replayRecording(at: replay)
            }
            guard let engineURL else { throw ValidationError("--engine-url is needed (or --replay FILE)") }
            let base = engineURL.hasSuffix("/") ? String(engineURL.dropLast()) : engineURL
            guard base.hasPrefix("http://") || base.hasPrefix("https://") else {
                throw ValidationError("--engine-url must be an http(s) URL")
            }
            let levels = try concurrency.split(separator: ",").map { field -> Int in
                guard let level = Int(field.trimmingCharacters(in: .whitespaces)), (1...256).contains(level) else {
                    throw ValidationError("--concurrency takes numbers from 1 to 256, not '\(field)'")
                }
                return level
            }
            guard !levels.isEmpty else { throw ValidationError("--concurrency needs at least one level") }
            let chosen = try workloads.split(separator: ",").map { name -> ValidationWorkload in
                guard let workload = ValidationWorkload(rawValue: name.trimmingCharacters(in: .whitespaces)) else {
                    throw ValidationError(
                        "unknown workload '\(name)'; known: \(ValidationWorkload.allCases.map(\.rawValue).joined(separator: ", "))")
                }
                return workload
            }
            try await NodeAssembly.withHTTPClient { client in
                let served = try await servedModel(client: client, base: base)
                let props = await Self.llamaProps(client: client, base: base)
                let slotCount = max(1, slots ?? props?.slots ?? 2)
                let context = max(1, contextTokens ?? props?.contextTokens ?? 4096 * slotCount)
                let engine = EngineValidationClient(baseURL: base, model: served.id, apiKey: apiKey, client: client)
                let (nodeProfile, source) = try await loadProfile(
                    client: client, base: base, model: served, slots: slotCount, contextPerSlot: context / slotCount, engine: engine)
                if let writeProfile { try Self.encoder.encode(nodeProfile).write(to: URL(fileURLWithPath: writeProfile)) }
                let plan = try plannedWorkloads(chosen, contextTokens: context / slotCount)
                let run = ValidationRun(
                    workloads: plan, concurrencies: levels, profile: nodeProfile, contextTokens: context,
                    speedCheck: !speedCheck ? nil : ValidationSpeedCheck(promptTokens: min(192, max(16, context / slotCount / 4))))
                let (rows, overall, measured) = await run.run(client: engine) { step in
                    FileHandle.standardError.write(Data("validate: \(step)\n".utf8))
                }
                if let record {
                    let recording = ValidationRecording(
                        engineURL: base, model: served.id, contextTokens: context, profile: nodeProfile, profileSource: source,
                        levels: measured)
                    try Self.encoder.encode(recording).write(to: URL(fileURLWithPath: record))
                }
                let report = ValidationReport(
                    engineURL: base, model: served.id, profile: nodeProfile, profileSource: source, contextTokens: context, rows: rows,
                    overall: overall)
                print(json ? try ValidationRenderer.json(report) : ValidationRenderer.text(report))
            }
        }

        static var encoder: JSONEncoder {
            let encoder = JSONEncoder()
            encoder.outputFormatting = [.prettyPrinted, .sortedKeys]
            return encoder
        }

        /// `--replay`: the recorded run through the simulator again, with the recorded profile or `--profile`.
        func replayRecording(at path: String) throws {
            guard let data = FileManager.default.contents(atPath: path) else { throw ValidationError("cannot read \(path)") }
            let recording: ValidationRecording
            do {
                recording = try JSONDecoder().decode(ValidationRecording.self, from: data)
            } catch {
                throw ValidationError("\(path) is not a recording of hearth sim validate: \(error)")
            }
            guard recording.version == ValidationRecording.version else {
                throw ValidationError("\(path) is recording version \(recording.version); this hearth reads \(ValidationRecording.version)")
            }
            var profile = recording.profile
            var source = recording.profileSource + ", recorded"
            if let path = self.profile {
                guard let data = FileManager.default.contents(atPath: path) else { throw ValidationError("cannot read \(path)") }
                profile = try Self.readProfile(data)
                profile.node.model = recording.model
                source = "file"
            }
            let run = ValidationRun(workloads: [], concurrencies: [], profile: profile, contextTokens: recording.contextTokens)
            let (rows, overall) = run.compare(recording.levels)
            let report = ValidationReport(
                engineURL: recording.engineURL, model: recording.model, profile: profile, profileSource: source,
                contextTokens: recording.contextTokens, rows: rows, overall: overall)
            print(json ? try ValidationRenderer.json(report) : ValidationRenderer.text(report))
        }

        /// A profile as --write-profile writes it, or a bare NodeProfile.
        static func readProfile(_ data: Data) throws -> ValidationProfile {
            if let full = try? JSONDecoder().decode(ValidationProfile.self, from: data) { return full }
            return ValidationProfile(node: try JSONDecoder().decode(NodeProfile.self, from: data))
        }

        func plannedWorkloads(_ chosen: [ValidationWorkload], contextTokens: Int) throws -> [(name: String, requests: [ValidationRequest])]
        {
            if let trace {
                let loaded = try TraceReader.read(path: trace)
                // Leave room in one slot's context for the answer.
                let requests = ValidationWorkloadGenerator.fromTrace(
                    loaded, limit: max(1, requests), maxPromptTokens: max(1, contextTokens * 3 / 4),
                    maxOutputTokens: max(1, contextTokens / 4))
                return [(name: URL(fileURLWithPath: trace).lastPathComponent, requests: requests)]
            }
            let generator = ValidationWorkloadGenerator(shape: smoke ? .smoke : .standard, seed: seed)
            return chosen.map { (name: $0.rawValue, requests: generator.generate($0)) }
        }

        func servedModel(client: HTTPClient, base: String) async throws -> ServedModel {
            let engine = OpenAICompatibleEngine(baseURL: base, slots: 1, client: client)
            if let model { return ServedModel(id: model, contextTokens: contextTokens ?? 4096) }
            guard let first = try await engine.models().first else { throw ValidationError("\(base) serves no model") }
            return first
        }

        func loadProfile(
            client: HTTPClient, base: String, model: ServedModel, slots: Int, contextPerSlot: Int, engine: EngineValidationClient
        ) async throws -> (ValidationProfile, String) {
            if let profile {
                guard let data = FileManager.default.contents(atPath: profile) else { throw ValidationError("cannot read \(profile)") }
                var read = try Self.readProfile(data)
                read.node.model = model.id
                return (read, "file")
            }
            FileHandle.standardError.write(Data("validate: calibrating \(model.id) at \(base)\n".utf8))
            if nodeCalibration {
                let node = OpenAICompatibleEngine(baseURL: base, slots: slots, client: client)
                guard let calibrated = await node.calibrate(model) else {
                    throw ValidationError("calibration of \(base) failed (no usable prefill or decode sample)")
                }
                return (ValidationProfile(node: calibrated), "node-calibrated")
            }
            let calibration = ValidationCalibration(
                rounds: calibrationRounds, maxPromptTokens: max(16, contextPerSlot / 2), slots: slots)
            guard let calibrated = await calibration.run(model: model.id, client: engine) else {
                throw ValidationError("calibration of \(base) failed (no usable prefill or decode figures)")
            }
            return (calibrated, "probe-calibrated")
        }

        /// llama-server's slot count and total context from `/props`, nil from other servers.
        static func llamaProps(client: HTTPClient, base: String) async -> (slots: Int, contextTokens: Int)? {
            guard let response = try? await client.execute(HTTPClientRequest(url: base + "/props"), timeout: .seconds(10)),
                response.status == .ok, let body = try? await response.body.collect(upTo: 1 << 20),
                let object = try? JSONSerialization.jsonObject(with: Data(buffer: body)) as? [String: Any],
                let slots = object["total_slots"] as? Int, (1...1024).contains(slots)
            else { return nil }
            let settings = object["default_generation_settings"] as? [String: Any]
            let perSlot = (settings?["n_ctx"] as? Int).flatMap { (1...10_000_000).contains($0) ? $0 : nil } ?? 4096
            return (slots, perSlot * slots)
        }
    }
}
