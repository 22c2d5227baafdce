import Foundation
import HearthProtocol
import NIOCore
import Testing

@testable import HearthNode

/// The node's byte-level edits for tenant isolation: cached-token details cut out of answers, and the gateway's
/// cache control written into engine requests over whatever the client sent.
@Suite struct AnswerMeterRedactionTests {
    func object(_ buffer: ByteBuffer) throws -> [String: Any] {
        try #require(try JSONSerialization.jsonObject(with: Data(buffer: buffer)) as? [String: Any])
    }

    @Test(arguments: [
        (#"{"a":1,"prompt_tokens_details":{"cached_tokens":3,"x":[1,{"y":"}"}]},"b":2}"#, #"{"a":1,"b":2}"#),
        (#"{"prompt_tokens_details" : null , "b":2}"#, #"{"b":2}"#),
        (#"{"b":2,"timings":{"cache_n":5}}"#, #"{"b":2}"#),
        (#"{"usage":{"prompt_tokens_details":{"cached_tokens":1}}}"#, #"{"usage":{}}"#),
        // Text that mentions the keys is content, and stays.
        (#"{"content":"say \"prompt_tokens_details\": {} and timings"}"#, #"{"content":"say \"prompt_tokens_details\": {} and timings"}"#),
        (#"{"prompt_tokens_details":"#, #"{"prompt_tokens_details":"#),
    ])
    func cacheDetailsAreCutOutByteLevel(input: String, expected: String) {
        #expect(String(buffer: AnswerMeter.redacted(ByteBuffer(string: input))) == expected)
    }

    @Test func nonStreamedAnswersAreHeldAndRedacted() throws {
        var meter = AnswerMeter(streaming: false, forwardUsageChunk: false)
        let answer = #"{"choices":[],"usage":{"prompt_tokens":4,"completion_tokens":2,"prompt_tokens_details":{"cached_tokens":3}}}"#
        let first = meter.take(ByteBuffer(string: String(answer.prefix(20))))
        let second = meter.take(ByteBuffer(string: String(answer.dropFirst(20))))
        #expect(first?.readableBytes == 0 && second?.readableBytes == 0)
        let finished = meter.finish()
        let out = try #require(finished)
        #expect(String(buffer: out) == #"{"choices":[],"usage":{"prompt_tokens":4,"completion_tokens":2}}"#)
        #expect(meter.usage?.promptTokens == 4)
    }

    @Test func theSaltOverwritesTheClientsAndTheFastPathSkipsParsing() throws {
        let salt = String(repeating: "ab", count: 32)
        let plain = ByteBuffer(string: #"{"model":"m","messages":[] }"#)
        let patched = AnswerMeter.applyingCacheControl(.salt, to: plain, salt: salt)
        #expect(String(buffer: patched) == #"{"model":"m","messages":[] ,"cache_salt":"\#(salt)"}"#)
        let forged = ByteBuffer(string: #"{"cache_salt":"theirs","model":"m"}"#)
        let replaced = try object(AnswerMeter.applyingCacheControl(.salt, to: forged, salt: salt))
        #expect(replaced["cache_salt"] as? String == salt)
        #expect(!String(buffer: AnswerMeter.applyingCacheControl(.salt, to: forged, salt: salt)).contains("theirs"))
        // A malformed salt (the gateway never sends one) becomes a fresh random salt: no shared partition.
        let random = try object(AnswerMeter.applyingCacheControl(.salt, to: plain, salt: "\",\"x\":\""))
        #expect((random["cache_salt"] as? String)?.count == 64)
        #expect(random["x"] == nil)
        let llama = try object(
            AnswerMeter.applyingCacheControl(.disablePromptCache, to: ByteBuffer(string: #"{"cache_prompt":true}"#), salt: nil))
        #expect(llama["cache_prompt"] as? Bool == false)
        #expect(AnswerMeter.applyingCacheControl(nil, to: plain, salt: salt) == plain)
        #expect(AnswerMeter.applyingCacheControl(.engineDefault, to: plain, salt: salt) == plain)
    }

    @Test func streamOpenStaysWireCompatible() throws {
        let old = #"{"path":"/v1/chat/completions","stream":true,"client_wants_usage_chunk":false,"request_id":"r"}"#
        let decoded = try JSONDecoder().decode(StreamOpen.self, from: Data(old.utf8))
        #expect(decoded.cacheControlMode == nil && decoded.cacheSalt == nil)
        let unknown = #"{"path":"/","stream":false,"client_wants_usage_chunk":false,"request_id":"r","cache_control":"newer"}"#
        #expect(try JSONDecoder().decode(StreamOpen.self, from: Data(unknown.utf8)).cacheControlMode == .disablePromptCache)
        let encoded = String(
            decoding: try JSONEncoder().encode(StreamOpen(path: "/", stream: false, clientWantsUsageChunk: false, requestID: "r")),
            as: UTF8.self)
        #expect(!encoded.contains("cache"))
    }
}
