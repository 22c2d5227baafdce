import Foundation
import NIOCore
import Testing

@testable import HearthNode

@Suite("Answer meter: usage from engine streams")
struct AnswerMeterTests {
    func object(_ buffer: ByteBuffer) throws -> [String: Any] {
        try #require(try JSONSerialization.jsonObject(with: Data(String(buffer: buffer).utf8)) as? [String: Any])
    }

    @Test("a streamed request asks the engine for usage, keeping every other field")
    func engineBody() throws {
        let plain = ByteBuffer(string: #"  {"model":"m","messages":[{"role":"user","content":"hi"}],"stream":true}"#)
        let patched = try object(AnswerMeter.engineBody(for: plain, streaming: true, clientAskedForUsage: false))
        #expect((patched["stream_options"] as? [String: Any])?["include_usage"] as? Bool == true)
        #expect(patched["model"] as? String == "m")
        #expect((patched["messages"] as? [Any])?.count == 1)

        let withOptions = ByteBuffer(string: #"{"model":"m","stream":true,"stream_options":{"include_usage":false,"x":1}}"#)
        let merged = try object(AnswerMeter.engineBody(for: withOptions, streaming: true, clientAskedForUsage: false))
        let options = try #require(merged["stream_options"] as? [String: Any])
        #expect(options["include_usage"] as? Bool == true)
        #expect(options["x"] as? Int == 1)

        #expect(AnswerMeter.engineBody(for: plain, streaming: false, clientAskedForUsage: false) == plain)
        #expect(AnswerMeter.engineBody(for: plain, streaming: true, clientAskedForUsage: true) == plain)
    }

    @Test("content events pass, the usage-only event is counted and dropped unless asked for, split at any byte")
    func streamedUsage() throws {
        let stream =
            #"data: {"choices":[{"delta":{"content":"a"}}]}"# + "\n\n"
            + #"data: {"choices":[{"delta":{"content":"b"}}]}"# + "\n\n"
            + #"data: {"choices":[],"usage":{"prompt_tokens":9,"completion_tokens":2}}"# + "\n\n"
            + "data: [DONE]\n\n"
        let bytes = Array(stream.utf8)
        for split in stride(from: 0, through: bytes.count, by: 7) {
            for wanted in [false, true] {
                var meter = AnswerMeter(streaming: true, forwardUsageChunk: wanted)
                var forwarded = ""
                for part in [bytes[..<split], bytes[split...]] {
                    if let out = meter.take(ByteBuffer(bytes: part)) { forwarded += String(buffer: out) }
                }
                if let tail = meter.finish() { forwarded += String(buffer: tail) }
                #expect(meter.usage?.promptTokens == 9 && meter.usage?.completionTokens == 2)
                #expect(meter.contentChunks == 2)
                #expect(forwarded.contains("\"usage\"") == wanted)
                #expect(forwarded.hasSuffix("data: [DONE]\n\n"))
            }
        }
    }

    @Test("a non-streamed answer is held, passes unchanged at the end, and its usage is read there")
    func plainUsage() throws {
        var meter = AnswerMeter(streaming: false, forwardUsageChunk: false)
        let answer = ByteBuffer(string: #"{"choices":[],"usage":{"prompt_tokens":3,"completion_tokens":4}}"#)
        #expect(meter.take(answer) == ByteBuffer())
        #expect(meter.finish() == answer)
        #expect(meter.usage?.completionTokens == 4)

        // Usage is found after text that mentions "usage" and braces, and with nested details.
        var tricky = AnswerMeter(streaming: false, forwardUsageChunk: false)
        let text =
            #"{"choices":[{"message":{"content":"the "usage": {a} of \ words"}}],"#
            + #""usage":{"prompt_tokens":11,"completion_tokens":5,"prompt_tokens_details":{"cached_tokens":0}}}"#
        _ = tricky.take(ByteBuffer(string: text))
        _ = tricky.finish()
        #expect(tricky.usage?.promptTokens == 11 && tricky.usage?.completionTokens == 5)
    }
}
