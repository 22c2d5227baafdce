package import HearthProtocol

extension GatewayConfiguration {
    /// Whether the node's engine gets the tenant's cache salt: it showed at join that it honours salts, or the
    /// operator vouched for its kind.
    package func engineHonoursCacheSalt(_ hello: NodeHello) -> Bool {
        hello.engineHonoursCacheSalt || saltingEngineKinds.contains(hello.engineKind)
    }
}
