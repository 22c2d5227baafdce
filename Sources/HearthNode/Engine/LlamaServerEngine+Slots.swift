import Foundation
import NIOCore
import NIOFoundationCompat

/// How the node gives llama-server per-partition caches (``SlotPartitions``): the salt the node wrote into the
/// body decides the slot, and the body is pinned to it.
extension LlamaServerEngine {
    /// The body pinned to the assigned slot, with `cache_prompt: false` unless the slot holds the same partition.
    static func pinned(_ body: ByteBuffer, to assignment: SlotPartitions.Assignment) -> ByteBuffer {
        let pinned = AnswerMeter.setting("id_slot", to: assignment.slot, encoded: String(assignment.slot), in: body)
        return assignment.reuse ? pinned : AnswerMeter.setting("cache_prompt", to: false, encoded: "false", in: pinned)
    }

    /// The top-level `cache_salt` the node wrote into the body (``AnswerMeter/applyingCacheControl(_:to:salt:)``), or
    /// nil. The node writes it last, unescaped; a body with the key more than once (inside a tool's schema, say) is
    /// parsed instead of searched.
    static func cacheSalt(in body: ByteBuffer) -> String? {
        let view = body.readableBytesView
        let key = Array(#""cache_salt":""#.utf8)
        var found: [Int] = []
        var from = view.startIndex
        while found.count < 2, let index = AnswerMeter.find(key, in: view[from...]) {
            found.append(index)
            from = index + key.count
        }
        let salt: String?
        if found.count == 1, let start = found.first.map({ $0 + key.count }),
            let end = view[start...].firstIndex(of: UInt8(ascii: "\""))
        {
            salt = String(decoding: view[start..<end], as: UTF8.self)
        } else {
            salt = (try? JSONSerialization.jsonObject(with: Data(buffer: body)) as? [String: Any])?["cache_salt"] as? String
        }
        guard let salt, !salt.isEmpty, salt.utf8.count <= 128 else { return nil }
        return salt
    }
}
