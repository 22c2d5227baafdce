import Foundation
import HearthCore
import NIOCore
import Synchronization

/// One `POST /v1/responses` request served as a chat completion: its chat body for the engine, and its answer (the
/// buffered object, or the streamed events) turned back into the Responses API's shape.
final class ResponsesTranslation: Sendable {
    let request: ResponsesRequest
    let object: ResponsesObject
    private let stream: Mutex<ResponsesStreamTranslator>

    /// `requestID`: the gateway's id for the request; the response's id is made from it.
    init(body: ByteBuffer, requestID: String, createdAt: Date = Date()) throws(OpenAIError) {
        do {
            request = try ResponsesRequest(body: Array(body.readableBytesView))
        } catch {
            throw OpenAIError.invalidRequest(error.message, param: error.param, code: error.code)
        }
        let key = requestID.replacingOccurrences(of: "hearth-", with: "").replacingOccurrences(of: "-", with: "")
        object = ResponsesObject(key: key, createdAt: Int(createdAt.timeIntervalSince1970), echo: request.echo)
        stream = Mutex(ResponsesStreamTranslator(object: object))
    }

    var chatBody: ByteBuffer { ByteBuffer(bytes: request.chatBody) }

    /// A buffered chat completion as a response object; a node whose 2xx answer is no chat completion failed.
    func answer(fromChat answer: ByteBuffer, node: NodeID) throws(OpenAIError) -> ByteBuffer {
        do {
            return ByteBuffer(bytes: try object.answer(fromChatCompletion: Array(answer.readableBytesView)))
        } catch {
            throw OpenAIError.nodeFailed("Node \(node) answered with something other than a chat completion.")
        }
    }

    /// The Responses events for the next bytes of the chat stream; `ending`: the stream ends with them.
    func events(fromChat bytes: ByteBuffer, ending: Bool) -> ByteBuffer {
        stream.withLock { translator in
            var out = translator.translate(bytes.readableBytesView)
            if ending { out += translator.finish() }
            return ByteBuffer(bytes: out)
        }
    }
}
