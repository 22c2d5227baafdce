import NIOCore

/// Rewrites what the client gets of a streamed answer: whole events, in the stream's order, after failover splicing
/// (a Responses API request's events, one choice of several). Without one, the client gets the node's events as they
/// are.
protocol ClientStreamFilter: Sendable {
    /// The client's bytes for these bytes of the stream; `ending`: the stream ends with them.
    func client(_ bytes: ByteBuffer, ending: Bool) -> ByteBuffer
    /// Whether the stream's end is the response's end (not for one choice of several: the response ends after all).
    var endsResponse: Bool { get }
}

extension ResponsesTranslation: ClientStreamFilter {
    func client(_ bytes: ByteBuffer, ending: Bool) -> ByteBuffer { events(fromChat: bytes, ending: ending) }
    var endsResponse: Bool { true }
}
