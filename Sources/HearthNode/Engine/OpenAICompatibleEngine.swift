public import AsyncHTTPClient
import Foundation
public import HearthCore
public import HearthProtocol
public import NIOCore
import NIOFoundationCompat
import NIOHTTP1

/// An engine reached over its OpenAI-compatible HTTP API (llama-server, vLLM, SGLang, Ollama, ...).
public struct OpenAICompatibleEngine: Engine {
    public let kind: String
    public let slots: Int
    public let baseURL: String
    private let client: HTTPClient
    /// Used when the server does not say how long a context it takes.
    private let defaultContextTokens: Int
    /// Set for a plain `http://` engine: its answers are relayed on the tunnel's event loop.
    private let address: EngineHTTPAddress?

    public init(baseURL: String, kind: String = "openai", slots: Int, client: HTTPClient, defaultContextTokens: Int = 4096) {
        self.baseURL = baseURL.hasSuffix("/") ? String(baseURL.dropLast()) : baseURL
        self.kind = kind
        self.slots = slots
        self.client = client
        self.defaultContextTokens = defaultContextTokens
        address = EngineHTTPAddress(baseURL: self.baseURL)
    }

    public func models() async throws -> [ServedModel] {
        let response = try await client.execute(HTTPClientRequest(url: baseURL + "/v1/models"), timeout: .seconds(10))
        let body = try await response.body.collect(upTo: 4 << 20)
        guard response.status == .ok else {
            throw EngineError("GET /v1/models answered \(response.status.code)")
        }
        guard let list = try JSONSerialization.jsonObject(with: Data(buffer: body)) as? [String: Any],
            let data = list["data"] as? [[String: Any]]
        else {
            throw EngineError("GET /v1/models did not return an OpenAI model list")
        }
        return data.compactMap { entry in
            guard let id = entry["id"] as? String else { return nil }
            let meta = entry["meta"] as? [String: Any]
            let context =
                (entry["max_model_len"] as? Int) ?? (entry["context_length"] as? Int) ?? (meta?["n_ctx"] as? Int)
                ?? (meta?["n_ctx_train"] as? Int) ?? defaultContextTokens
            return ServedModel(id: id, contextTokens: context)
        }
    }

    /// Any server behind this URL may ignore `cache_salt` (llama-server does), so it is tried, never assumed.
    public func probeCacheSalt(model: ServedModel) async -> CacheSaltProbeResult? {
        await CacheSaltProbe.run(on: self, model: model)
    }

    public func isHealthy() async -> Bool {
        guard let response = try? await client.execute(HTTPClientRequest(url: baseURL + "/health"), timeout: .seconds(2)) else {
            return false
        }
        _ = try? await response.body.collect(upTo: 1 << 16)
        return response.status == .ok
    }

    public func httpTarget(for request: EngineRequest) -> EngineHTTPTarget? {
        address.map { EngineHTTPTarget(host: $0.host, port: $0.port, path: $0.pathPrefix + request.path, body: request.body) }
    }

    public func run(
        _ request: EngineRequest,
        onHead: (StreamHead) async throws -> Void,
        onData: (ByteBuffer) async throws -> Void
    ) async throws {
        var outbound = HTTPClientRequest(url: baseURL + request.path)
        outbound.method = .POST
        outbound.headers.add(name: "Content-Type", value: "application/json")
        outbound.body = .bytes(request.body)
        let response = try await client.execute(outbound, timeout: .hours(1))
        let contentType = response.headers.first(name: "content-type") ?? (request.stream ? "text/event-stream" : "application/json")
        try await onHead(StreamHead(status: Int(response.status.code), contentType: contentType))
        for try await chunk in response.body {
            try await onData(chunk)
        }
    }
}
