public import Hummingbird
public import NIOCore

/// The gateway's request context: Hummingbird's basics plus the client's channel, so a request can
/// notice its client leaving even while no bytes are being written (waiting for a first token).
public struct GatewayRequestContext: RequestContext {
    public var coreContext: CoreRequestContextStorage
    public let channel: any Channel

    public init(source: ApplicationRequestContextSource) {
        coreContext = .init(source: source)
        channel = source.channel
    }
}
