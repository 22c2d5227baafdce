import AsyncHTTPClient
import Foundation
import HearthCore
import HearthGateway
import NIOCore
import NIOHTTP1
import Testing

/// Malformed input against a real gateway's client API: a seeded generator (reproducible: the failing case's
/// index and seed are in the message) of broken JSON, wrong types, huge numbers, unicode, deep nesting, odd
/// headers and paths. Every answer must be an OpenAI-style error with a 4xx/5xx status (or a real completion),
/// within a deadline, and never carry another tenant's data.
@Suite struct GatewayFuzzTests {
    /// SplitMix64: small, seeded, the same sequence on every platform.
    struct Generator: RandomNumberGenerator {
        var state: UInt64
        mutating func next() -> UInt64 {
            state &+= 0x9E37_79B9_7F4A_7C15
            var z = state
            z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
            z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
            return z ^ (z >> 31)
        }
    }

    static let canary = "CANARY-OTHER-TENANT-7f3a"

    struct Case {
        var method: HTTPMethod
        var path: String
        var headers: [(String, String)]
        var body: Data?
        var authorized: Bool
    }

    static let strings: [String] = [
        "", " ", "\u{0}", "é", "日本語", "🔥🔥", "\u{202E}rtl", "\\", "\"", "null", "-0", "1e309", "NaN", String(repeating: "a", count: 5000),
        "../../etc/passwd", "%00", "\u{FEFF}bom",
    ]
    static let numbers: [String] = [
        "0", "-1", "1e400", "-1e400", "99999999999999999999999999999", "1.5", "2147483648", "9223372036854775808", "-0.0", "1e-400",
    ]

    static func value(_ rng: inout Generator, depth: Int = 0) -> String {
        switch Int.random(in: 0..<9, using: &rng) {
        case 0: return numbers.randomElement(using: &rng)!
        case 1: return jsonString(strings.randomElement(using: &rng)!)
        case 2: return ["true", "false", "null"].randomElement(using: &rng)!
        case 3 where depth < 4:
            return "[" + (0..<Int.random(in: 0..<4, using: &rng)).map { _ in value(&rng, depth: depth + 1) }.joined(separator: ",") + "]"
        case 4 where depth < 4:
            return "{"
                + (0..<Int.random(in: 0..<4, using: &rng)).map { _ in
                    jsonString(strings.randomElement(using: &rng)!) + ":" + value(&rng, depth: depth + 1)
                }.joined(separator: ",") + "}"
        case 5:
            let n = [10, 600, 5000, 100_000].randomElement(using: &rng)!
            return String(repeating: "[", count: n) + String(repeating: "]", count: Bool.random(using: &rng) ? n : n / 2)
        default: return jsonString(strings.randomElement(using: &rng)!)
        }
    }

    static func jsonString(_ text: String) -> String {
        String(
            decoding: (try? JSONSerialization.data(withJSONObject: [text], options: [.fragmentsAllowed])) ?? Data("[\"\"]".utf8),
            as: UTF8.self
        )
        .dropFirst().dropLast().description
    }

    /// A mostly-valid chat body with one field broken, or garbage.
    static func body(_ rng: inout Generator) -> Data {
        let fields: [(String, String)] = [
            ("model", jsonString("test-model")), ("messages", #"[{"role":"user","content":"hi"}]"#), ("max_tokens", "4"),
            ("stream", "false"),
        ]
        switch Int.random(in: 0..<6, using: &rng) {
        case 0:
            // Raw garbage and truncations.
            let valid = #"{"model":"test-model","messages":[{"role":"user","content":"hi"}]}"#
            let cut = Int.random(in: 0...valid.count, using: &rng)
            return Data(
                [
                    String(valid.prefix(cut)), "{", "}", "[]", "\"x\"", "{\"model\":", String(repeating: "{\"a\":", count: 3000),
                    "\u{FFFF}",
                    "{\"model\":\"test-model\",,}", "\0\0\0",
                ].randomElement(using: &rng)!.utf8)
        case 1:
            return Data((0..<Int.random(in: 0..<256, using: &rng)).map { _ in UInt8.random(in: 0...255, using: &rng) })
        default:
            var object = fields
            let broken = Int.random(in: 0..<object.count, using: &rng)
            object[broken].1 = value(&rng)
            if Bool.random(using: &rng) {
                let extra = [
                    "temperature", "top_p", "n", "stream_options", "metadata", "cache_salt", "messages", "prompt", "tools", "input",
                    "instructions", "text", "tool_choice",
                ]
                object.append((extra.randomElement(using: &rng)!, value(&rng)))
            }
            if Int.random(in: 0..<4, using: &rng) == 0 { object.remove(at: Int.random(in: 0..<object.count, using: &rng)) }
            return Data(("{" + object.map { jsonString($0.0) + ":" + $0.1 }.joined(separator: ",") + "}").utf8)
        }
    }

    static func makeCase(_ rng: inout Generator) -> Case {
        let paths = [
            "/v1/chat/completions", "/v1/completions", "/v1/chat/completions", "/v1/models", "/v1/chat/completions/", "/v1/%00",
            "/v1/responses",
            "/v1/chat/completions?x=\u{1F525}".addingPercentEncoding(withAllowedCharacters: .urlQueryAllowed)!, "/v2/anything",
            "/" + String(repeating: "a/", count: 300), "/v1/../v1/models", "/admin",
        ]
        var headers: [(String, String)] = []
        if Int.random(in: 0..<4, using: &rng) == 0 {
            headers.append(
                [
                    ("X-Hearth-Task", "not-a-class"), ("X-Hearth-Task", "chat"), ("Content-Type", "text/plain"), ("Accept", "*/*"),
                    ("X-Forwarded-For", "1.2.3.4"), ("Content-Encoding", "gzip"), ("X-Hearth-Task", String(repeating: "x", count: 4000)),
                ]
                .randomElement(using: &rng)!)
        }
        let method: HTTPMethod = [.POST, .POST, .POST, .GET, .PUT, .DELETE].randomElement(using: &rng)!
        return Case(
            method: method, path: paths.randomElement(using: &rng)!, headers: headers,
            body: method == .GET ? nil : body(&rng), authorized: Int.random(in: 0..<10, using: &rng) != 0)
    }

    @Test func malformedClientRequestsGetOpenAIErrorsAndNeverLeakAnotherTenant() async throws {
        let seed = UInt64(ProcessInfo.processInfo.environment["HEARTH_FUZZ_SEED"] ?? "") ?? 0x4845_4152_5448
        let cases = Int(ProcessInfo.processInfo.environment["HEARTH_FUZZ_CASES"] ?? "") ?? 400
        let engine = TestEngine { request, _, emit in
            for chunk in request.stream ? TestEngine.sse(words: ["a"], request: request) : TestEngine.json(text: "ok") {
                try await emit(chunk)
            }
        }
        try await withTestFleet(nodes: [TestNodeSpec(id: "n", engine: engine)], configure: { $0.maximumBodyBytes = 1 << 20 }) { fleet in
            // Another tenant with data in flight and in the ledger: none of it may appear in tenant-a's errors.
            let other = try await fleet.gateway.createAPIKey(for: TenantPolicy(tenant: "tenant-b", dataClass: .sensitive))
            let warm = try await fleet.post(json: chatBody(model: "test-model", content: Self.canary), apiKey: other)
            #expect(warm.status == 200)
            var rng = Generator(state: seed)
            var statuses: [Int: Int] = [:]
            for index in 0..<cases {
                let fuzz = Self.makeCase(&rng)
                let label = "case \(index) (seed \(seed)): \(fuzz.method) \(fuzz.path.prefix(80))"
                let response = try await sendHTTP(
                    url: fleet.baseURL + fuzz.path, method: fuzz.method, body: fuzz.body, apiKey: fuzz.authorized ? fleet.apiKey : nil,
                    headers: fuzz.headers, client: fleet.client)
                statuses[response.status, default: 0] += 1
                #expect(
                    !response.body.contains(Self.canary) && !response.body.contains("tenant-b") && !response.body.contains(other),
                    "\(label)")
                if (200..<300).contains(response.status) {
                    #expect(response.json != nil || response.body.contains("data: "), "\(label): \(response.body.prefix(200))")
                    continue
                }
                #expect((400..<600).contains(response.status), "\(label): status \(response.status)")
                let error = response.error
                #expect(
                    error?["message"] is String && error?["type"] is String, "\(label): \(response.status) \(response.body.prefix(300))")
            }
            // Still serving, for both tenants.
            #expect(try await fleet.post(json: chatBody(model: "test-model")).status == 200)
            #expect(try await fleet.post(json: chatBody(model: "test-model"), apiKey: other).status == 200)
            #expect(statuses.keys.contains { $0 >= 400 && $0 < 500 })
        }
    }
}
