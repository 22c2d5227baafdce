import Foundation
import HearthCore
import HearthProtocol
import HearthTunnel
import NIOCore

/// A node that answers every request it is given with well-formed frames that lie (hostile values that parse), for
/// the adversarial suite. It runs on a ``RawNode`` tunnel; ``serve(_:)`` answers each `open` with the frames that
/// `answer` returns for it and counts the frames sent.
final class LyingNode: Sendable {
    let node: RawNode
    let id: NodeID
    let model: String

    private init(node: RawNode, id: NodeID, model: String) {
        self.node = node
        self.id = id
        self.model = model
    }

    /// Connects and registers; nil when the gateway sent no welcome.
    static func join(port: Int, id: String, model: String, slots: Int = 64) async throws -> LyingNode? {
        let node = try await RawNode.connect(port: port)
        try await node.send(.json(.hello, RawNode.hello(id: id, model: model, slots: slots)))
        var frames = node.frames.makeAsyncIterator()
        guard await frames.next()?.kind == .welcome else { return nil }
        return LyingNode(node: node, id: NodeID(id), model: model)
    }

    /// What the node got: the stream id and whether the client asked for a stream.
    struct Opened: Sendable {
        var stream: UInt32
        var wantsStream: Bool
    }

    /// Answers every `open` with `answer(opened)`'s frames, in order, until the tunnel closes or the task is
    /// cancelled; returns the frames sent.
    func serve(_ answer: @escaping @Sendable (Opened) -> [TunnelFrame]) -> Task<Int, Never> {
        Task { [node] in
            var sent = 0
            for await frame in node.frames where frame.kind == .open {
                let header = (try? StreamMessageCodec.decodeOpen(frame))?.header
                for reply in answer(Opened(stream: frame.stream, wantsStream: header?.stream ?? false)) {
                    guard (try? await node.send(reply)) != nil else { return sent }
                    sent += 1
                }
            }
            return sent
        }
    }

    // MARK: lies

    static func head(_ stream: UInt32, status: Int = 200, contentType: String = "text/event-stream") -> TunnelFrame {
        StreamMessageCodec.head(StreamHead(status: status, contentType: contentType), stream: stream)
    }

    static func end(_ stream: UInt32, prompt: Int?, completion: Int?, ttftMilliseconds: Double? = nil) -> TunnelFrame {
        let usage = prompt.map { TokenUsage(promptTokens: $0, completionTokens: completion ?? 0, reportedByEngine: true) }
        return StreamMessageCodec.end(
            StreamEnd(usage: usage, engineTimeToFirstTokenMilliseconds: ttftMilliseconds, error: nil), stream: stream)
    }

    /// One chat chunk event with `text` as its content.
    static func event(_ stream: UInt32, _ text: String) -> TunnelFrame {
        TunnelFrame(
            kind: .data, stream: stream,
            payload: ByteBuffer(
                string: #"data: {"id":"x","object":"chat.completion.chunk","choices":[{"index":0,"delta":{"content":"\#(text)"}}]}"#
                    + "\n\n"))
    }

    static func done(_ stream: UInt32) -> TunnelFrame {
        TunnelFrame(kind: .data, stream: stream, payload: ByteBuffer(string: "data: [DONE]\n\n"))
    }

    /// A whole JSON chat answer with `text`.
    static func answer(_ stream: UInt32, _ text: String) -> TunnelFrame {
        TunnelFrame(
            kind: .data, stream: stream,
            payload: ByteBuffer(
                string:
                    #"{"id":"x","object":"chat.completion","choices":[{"index":0,"message":{"role":"assistant","content":"\#(text)"},"finish_reason":"stop"}]}"#
            ))
    }
}
