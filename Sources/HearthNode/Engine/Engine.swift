public import HearthCore
public import HearthProtocol
public import NIOCore

/// An inference server the node agent runs requests on: llama.cpp's server, vLLM, SGLang, Ollama or
/// any OpenAI-compatible server by URL, or a simulated engine for tests of scale.
public protocol Engine: Sendable {
    /// `llama`, `openai`, `sim`: reported to the gateway.
    var kind: String { get }
    /// Requests the engine runs at once.
    var slots: Int { get }
    /// The models it serves. Throws while the engine is not up.
    func models() async throws -> [ServedModel]
    /// Whether the engine answers its health check now.
    func isHealthy() async -> Bool
    /// Runs one OpenAI-style request: reports the response head, then each body chunk, in order.
    /// Returns when the engine finished the answer. Cancelling the calling task stops the engine's work.
    func run(
        _ request: EngineRequest,
        onHead: (StreamHead) async throws -> Void,
        onData: (ByteBuffer) async throws -> Void
    ) async throws
    /// What this engine can do for `model`. The default runs a few short requests
    /// (``EngineCalibration``); engines that know their own timings answer directly.
    func calibrate(_ model: ServedModel) async -> NodeProfile?
    /// Whether the engine keeps `cache_salt` partitions apart, as shown by trying it (``CacheSaltProbe``), or
    /// nil when not tested. The gateway sends tenants' salts only to engines that answered `honoured`.
    func probeCacheSalt(model: ServedModel) async -> CacheSaltProbeResult?
    /// Where to send `request` over plain HTTP/1.1, so that the node relays the answer on the tunnel's event loop
    /// without a task per request (``EngineHTTPTarget``); nil to run it through ``run(_:onHead:onData:)``.
    func httpTarget(for request: EngineRequest) -> EngineHTTPTarget?
}

extension Engine {
    public func calibrate(_ model: ServedModel) async -> NodeProfile? {
        await EngineCalibration.profile(for: self, model: model)
    }

    /// Untested by default: such an engine gets no prompt-cache sharing at all.
    public func probeCacheSalt(model: ServedModel) async -> CacheSaltProbeResult? { nil }

    /// Engines that are not plain HTTP servers (the simulated one) run every request through `run`.
    public func httpTarget(for request: EngineRequest) -> EngineHTTPTarget? { nil }
}

/// One request for an engine, as the gateway sent it.
public struct EngineRequest: Sendable {
    /// `/v1/chat/completions` or `/v1/completions`.
    public var path: String
    public var body: ByteBuffer
    public var stream: Bool

    public init(path: String, body: ByteBuffer, stream: Bool) {
        self.path = path
        self.body = body
        self.stream = stream
    }
}

/// An engine failure, with what the node should tell the gateway.
public struct EngineError: Error, CustomStringConvertible {
    public var message: String
    public init(_ message: String) { self.message = message }
    public var description: String { message }
}
