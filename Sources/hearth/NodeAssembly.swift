import ArgumentParser
import AsyncHTTPClient
import Foundation
import HearthCore
import HearthNode
import HearthProtocol
import Logging
import ServiceLifecycle

/// Which engine a node agent runs requests on.
enum EngineKind: String, ExpressibleByArgument, CaseIterable {
    /// llama.cpp's server with the default small model, started and supervised by the agent.
    case llama
    /// A simulated engine: no model, timings from the performance model (tests and benchmarks).
    case sim
    /// An OpenAI-compatible server that is already running (vLLM, SGLang, Ollama, a fake backend).
    case openai
}

/// Options shared by `hearth up` and `hearth node` for the engines they start.
struct EngineOptions: ParsableArguments {
    @Option(
        help:
            "Engine for each node: llama (default: llama-server + SmolLM2), sim (simulated, no model) or openai (existing servers, see --engine-urls)."
    )
    var engine: EngineKind = .llama

    @Option(help: "With --engine openai: comma-separated base URLs of OpenAI-compatible servers, one node agent per URL.")
    var engineUrls: String?

    @Option(help: "Requests each engine runs at once (llama-server -np).")
    var slots: Int = 4

    @Option(help: "CPU threads per llama-server.")
    var threads: Int = 1

    @Option(help: "Model name clients use (llama and sim engines).")
    var modelName: String = EngineInstallation.defaultModelName

    @Option(help: "With --engine sim: token timings from this GPU's profile (cpu, l4, rtx-pro-6000, h100), or 'instant' for no delay.")
    var simGpu: String = "instant"

    func validate() throws {
        guard (1...256).contains(slots) else { throw ValidationError("--slots must be between 1 and 256") }
        guard (1...64).contains(threads) else { throw ValidationError("--threads must be between 1 and 64") }
        if engine == .openai, urls.isEmpty { throw ValidationError("--engine openai needs --engine-urls U1,U2,...") }
        for url in urls where !(url.hasPrefix("http://") || url.hasPrefix("https://")) {
            throw ValidationError("--engine-urls: '\(url)' is not an http(s) URL")
        }
        if engine == .sim, simGpu != "instant", Self.gpu(named: simGpu) == nil {
            throw ValidationError("--sim-gpu must be one of instant, \(GPUSpec.known.map(\.name).joined(separator: ", "))")
        }
    }

    var urls: [String] {
        (engineUrls ?? "").split(separator: ",").map { $0.trimmingCharacters(in: .whitespaces) }.filter { !$0.isEmpty }
    }

    static func gpu(named name: String) -> GPUSpec? {
        GPUSpec.known.first { $0.name == name }
    }
}

/// Builds a node agent and the engine it owns.
struct NodeAssembly {
    var agent: NodeAgent
    /// The agent and any engine process supervisor, to run in the process's service group.
    var services: [any Service]

    static func make(
        index: Int,
        nodeID: NodeID,
        options: EngineOptions,
        power: PowerOptions = PowerOptions(),
        identity: NodeIdentityConfiguration? = nil,
        powerController: PowerController? = nil,
        gateways: [GatewayEndpoint],
        gatewayConnections: Int = 2,
        locateGateway: (@Sendable () async -> (host: String, port: Int))? = nil,
        client: HTTPClient,
        logger: Logger
    ) throws -> NodeAssembly {
        let engine: any Engine
        var services: [any Service] = []
        switch options.engine {
        case .llama:
            let installation = EngineInstallation()
            try installation.ensureInstalled()
            var configuration = LlamaServerConfiguration(
                binary: installation.binary,
                model: installation.model,
                modelName: options.modelName
            )
            configuration.slots = options.slots
            configuration.threads = options.threads
            // The node's own folder: its next run stops an engine this one leaves behind.
            configuration.processRecordFile = identity.map { $0.credentials.directory + "/engine-processes" }
            let llama = LlamaServerEngine(configuration: configuration, client: client, logger: logger)
            services.append(llama)
            engine = llama
        case .sim:
            let timing = EngineOptions.gpu(named: options.simGpu).map { gpu in
                SimulatedEngineModel(profile: NodeProfile(gpu: gpu, model: .llama31_8B, linkRTTSeconds: 0))
            }
            engine = SimulatedEngine(modelName: options.modelName, slots: options.slots, timing: timing, clock: ContinuousClock())
        case .openai:
            let urls = options.urls
            engine = OpenAICompatibleEngine(baseURL: urls[index % urls.count], slots: options.slots, client: client)
        }
        var agentConfiguration = NodeAgentConfiguration(
            nodeID: nodeID,
            gateways: gateways,
            hardware: HardwareSummary(
                cpuCores: ProcessInfo.processInfo.activeProcessorCount,
                memoryBytes: ProcessInfo.processInfo.physicalMemory,
                gpus: []
            )
        )
        agentConfiguration.gatewayConnections = gatewayConnections
        agentConfiguration.identity = identity
        if identity != nil { agentConfiguration.tamperSensor = LinuxTamperSensor() }
        let agent = NodeAgent(
            configuration: agentConfiguration,
            engine: engine,
            logger: logger,
            power: powerController ?? power.makeController(seed: UInt64(index + 1), logger: logger),
            locateGateway: locateGateway
        )
        services.append(agent)
        return NodeAssembly(agent: agent, services: services)
    }

    /// Runs `body` with an HTTP client sized for many concurrent engine requests (the default pool allows 8 per
    /// host), and shuts the client down however `body` ends: a client released unshut traps in debug builds.
    static func withHTTPClient<Result>(_ body: (HTTPClient) async throws -> Result) async throws -> Result {
        var configuration = HTTPClient.Configuration()
        configuration.connectionPool.concurrentHTTP1ConnectionsPerHostSoftLimit = 512
        configuration.connectionPool.idleTimeout = .seconds(60)
        // Engines run beside the agent: a refused or silent connect means the engine is down, not slow.
        configuration.timeout.connect = .seconds(1)
        return try await HTTPClient.withShutdown(configuration: configuration, body)
    }
}
