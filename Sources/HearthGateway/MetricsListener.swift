/// Where the operators-only `/metrics` listener binds (`hearth gateway --metrics-port`): an address on a private
/// network, since it asks for no key. Port 0 picks a free one (``GatewayAddresses/metricsPort`` reports it).
public struct MetricsListener: Sendable, Equatable {
    public var host: String
    public var port: Int

    public init(host: String = "127.0.0.1", port: Int) {
        self.host = host
        self.port = port
    }
}
