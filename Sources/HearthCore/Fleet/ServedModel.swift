/// A model that a node's engine serves, as the node reports it when it registers.
public struct ServedModel: Hashable, Sendable, Codable {
    /// The name clients use in the `model` field.
    public var id: String
    /// The largest prompt plus output the engine accepts, in tokens.
    public var contextTokens: Int

    public init(id: String, contextTokens: Int) {
        self.id = id
        self.contextTokens = contextTokens
    }
}
