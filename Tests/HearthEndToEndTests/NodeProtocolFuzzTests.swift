import Foundation
import HearthCore
import HearthGateway
import HearthProtocol
import HearthTunnel
import NIOCore
import Testing

/// Seeded property-based fuzz of the node tunnel (reproducible: a failing case names its index and seed;
/// `HEARTH_FUZZ_SEED` and `HEARTH_NODE_FUZZ_CASES` override). A hand-driven node sends valid frames of every kind on
/// any stream id, mutated frames (flipped bytes, truncated, huge or too-short lengths, unknown kinds), JSON with
/// wrong types and random bytes, before and after its hello. Properties: every case ends, within a bound, with
/// the gateway still answering on that tunnel or with the tunnel closed (no hang, no crash); no frame the node
/// gets carries another tenant's data; an honest node keeps its in-flight request whole and serves after.
@Suite struct NodeProtocolFuzzTests {
    typealias Generator = GatewayFuzzTests.Generator

    static let canary = "CANARY-OTHER-TENANT-91b2"
    static let injected = "FUZZ-INJECT"
    /// A stream no case uses: data on it must come back as a cancel while the tunnel lives.
    static let probeStream: UInt32 = 0xFFFF_FFF0

    static func encode(_ frame: TunnelFrame) -> ByteBuffer {
        var out = ByteBuffer()
        try! TunnelFrameEncoder().encode(data: frame, out: &out)
        return out
    }

    /// A well-formed payload for `kind` (what an honest node would send, where it may send it at all).
    static func validPayload(_ kind: TunnelFrameKind, rng: inout Generator) -> ByteBuffer {
        let encoder = JSONEncoder()
        func json(_ value: some Encodable) -> ByteBuffer { ByteBuffer(data: try! encoder.encode(value)) }
        switch kind {
        case .hello: return json(RawNode.hello(id: "fuzz", model: "fuzz-model"))
        case .heartbeat:
            let link = LinkReport(rttMilliseconds: 12, jitterMilliseconds: 1, loss: 0, degraded: false)
            return HeartbeatCodec.heartbeat(
                NodeHeartbeat(
                    sequence: UInt64.random(in: 0...1_000_000, using: &rng), activeStreams: Int.random(in: 0...4, using: &rng),
                    engineHealthy: Bool.random(using: &rng), power: Bool.random(using: &rng) ? ForgedTelemetryTests.power() : nil,
                    energy: Bool.random(using: &rng) ? [EnergyInterval(start: 1_000, end: 1_060, wattHours: 5)] : nil,
                    link: Bool.random(using: &rng) ? link : nil)
            ).payload
        case .head: return StreamMessageCodec.head(StreamHead(status: 200, contentType: "application/json"), stream: 1).payload
        case .end:
            return StreamMessageCodec.end(StreamEnd(usage: nil, engineTimeToFirstTokenMilliseconds: nil, error: nil), stream: 1).payload
        case .error: return json(TunnelErrorMessage(code: .other, message: "node says no"))
        case .data: return ByteBuffer(string: #"{"choices":[{"text":"\#(injected)"}]}"#)
        case .powerLimit: return json(PowerLimit(transformerBudgetWatts: 1, gridCapWatts: nil))
        default: return ByteBuffer(string: "{}")
        }
    }

    /// The payload's JSON object with one field replaced by a random JSON value (wrong type, huge, nested).
    static func wrongTypes(_ payload: ByteBuffer, rng: inout Generator) -> ByteBuffer {
        guard let object = try? JSONSerialization.jsonObject(with: Data(buffer: payload)) as? [String: Any], !object.isEmpty else {
            return ByteBuffer(string: GatewayFuzzTests.value(&rng))
        }
        let keys = object.keys.sorted()
        let broken = keys.randomElement(using: &rng)!
        let fields = keys.map { key -> String in
            let value =
                key == broken
                ? GatewayFuzzTests.value(&rng)
                : String(
                    decoding: (try? JSONSerialization.data(withJSONObject: object[key]!, options: [.fragmentsAllowed]))
                        ?? Data("null".utf8), as: UTF8.self)
            return GatewayFuzzTests.jsonString(key) + ":" + value
        }
        return ByteBuffer(string: "{" + fields.joined(separator: ",") + "}")
    }

    static func streamID(_ rng: inout Generator) -> UInt32 {
        [0, 1, 2, 3, UInt32.random(in: 0...UInt32.max, using: &rng), UInt32.max].randomElement(using: &rng)!
    }

    /// One case's bytes: a frame (valid, mutated or garbage) as it goes on the wire.
    static func makeCase(_ rng: inout Generator) -> ByteBuffer {
        let kind = TunnelFrameKind.allCases.randomElement(using: &rng)!
        let valid = TunnelFrame(kind: kind, stream: streamID(&rng), payload: validPayload(kind, rng: &rng))
        switch Int.random(in: 0..<8, using: &rng) {
        case 0, 1:
            return encode(valid)
        case 2:
            // Flipped bytes anywhere, the length prefix and kind included.
            var bytes = Array(buffer: encode(valid))
            for _ in 0..<Int.random(in: 1...4, using: &rng) {
                bytes[Int.random(in: 0..<bytes.count, using: &rng)] ^= UInt8.random(in: 1...255, using: &rng)
            }
            return ByteBuffer(bytes: bytes)
        case 3:
            // Truncated: the length prefix promises more than follows.
            let bytes = Array(buffer: encode(valid))
            return ByteBuffer(bytes: bytes.prefix(Int.random(in: 1..<bytes.count, using: &rng)))
        case 4:
            // A length over the limit, or shorter than the header.
            var out = ByteBuffer()
            out.writeInteger(
                Bool.random(using: &rng)
                    ? UInt32.random(in: (1 << 20 + 1)...UInt32.max, using: &rng) : UInt32.random(in: 0..<5, using: &rng))
            out.writeInteger(kind.rawValue)
            out.writeInteger(valid.stream)
            return out
        case 5:
            // An unknown kind.
            var out = encode(valid)
            out.setInteger(UInt8.random(in: 16...255, using: &rng), at: 4)
            return out
        case 6:
            return encode(TunnelFrame(kind: kind, stream: valid.stream, payload: wrongTypes(valid.payload, rng: &rng)))
        default:
            let noise = (0..<Int.random(in: 0..<512, using: &rng)).map { _ in UInt8.random(in: 0...255, using: &rng) }
            return encode(TunnelFrame(kind: kind, stream: valid.stream, payload: ByteBuffer(bytes: noise)))
        }
    }

    /// Whether the gateway, decoding `sent` as it does, will neither refuse it nor see the probe at its end: the case
    /// left a frame incomplete or swallowed the probe into its payload. A real node in that state would go quiet or
    /// hang up; the test hangs up.
    static func needsHangUp(_ sent: ByteBuffer) -> Bool {
        var decoder = TunnelFrameDecoder(maximumFrameBytes: TunnelServerConfiguration().maximumFrameBytes)
        var buffer = sent
        var last: TunnelFrame?
        do {
            while let frame = try decoder.decode(buffer: &buffer) { last = frame }
        } catch {
            return false
        }
        let probeSeen = last.map { $0.kind == .data && $0.stream == probeStream && String(buffer: $0.payload) == "probe" } ?? false
        return buffer.readableBytes > 0 || !probeSeen
    }

    struct Tunnel: Sendable {
        let node: RawNode
        let frames: FrameReader

        /// A fresh connection; registered as node `fuzz` unless `beforeHello`. Nil when no welcome came.
        static func open(port: Int, beforeHello: Bool) async throws -> Tunnel? {
            let node = try await RawNode.connect(port: port)
            let tunnel = Tunnel(node: node, frames: FrameReader(node))
            if beforeHello { return tunnel }
            try await node.send(.json(.hello, RawNode.hello(id: "fuzz", model: "fuzz-model")))
            guard case .frame(let welcome) = await tunnel.frames.next(), welcome.kind == .welcome else { return nil }
            return tunnel
        }
    }

    enum Outcome: String, Sendable {
        case alive
        case closed
        case hung
    }

    /// Sends one case and a probe, then reads until the probe's cancel (the tunnel lives) or the close.
    /// Every frame the node gets must be free of `forbidden` text.
    static func play(_ bytes: ByteBuffer, on tunnel: Tunnel, label: String, forbidden: [String]) async -> Outcome {
        var sent = bytes
        sent.writeImmutableBuffer(encode(TunnelFrame(kind: .data, stream: probeStream, payload: ByteBuffer(string: "probe"))))
        try? await tunnel.node.sendRaw(sent)
        if needsHangUp(sent) { await tunnel.node.closeOutput() }
        while true {
            switch await tunnel.frames.next(within: .seconds(5)) {
            case .timedOut:
                Issue.record("\(label): the gateway neither answered nor closed within 5 s")
                try? await tunnel.node.channel.close()
                return .hung
            case .closed:
                return .closed
            case .frame(let frame):
                let text = String(buffer: frame.payload)
                #expect(!forbidden.contains { text.contains($0) }, "\(label): \(text.prefix(200))")
                if frame.kind == .cancel && frame.stream == probeStream { return .alive }
            }
        }
    }

    @Test func randomAndMutatedNodeFramesNeverCrashHangOrLeak() async throws {
        let seed = UInt64(ProcessInfo.processInfo.environment["HEARTH_FUZZ_SEED"] ?? "") ?? 0x4E4F_4445_4655_5A5A
        let cases = Int(ProcessInfo.processInfo.environment["HEARTH_NODE_FUZZ_CASES"] ?? "") ?? 1000
        let engine = TestEngine { request, gate, emit in
            if request.body.readableBytesView.contains(UInt8(ascii: "!")) { try await gate.wait() }
            for chunk in TestEngine.json(text: "honest answer") { try await emit(chunk) }
        }
        try await withTestFleet(nodes: [TestNodeSpec(id: "honest", engine: engine)], configure: { $0.tunnel.helloTimeout = .seconds(5) }) {
            fleet in
            // Another tenant's request stays in flight on the honest node through the whole barrage.
            let other = try await fleet.gateway.createAPIKey(for: TenantPolicy(tenant: "tenant-b", dataClass: .standard))
            let held = Task { try await fleet.post(json: chatBody(model: "test-model", content: Self.canary + "!"), apiKey: other) }
            await engine.gate.waitUntilWaiting()

            let outcomes = try await Self.barrage(
                seed: seed, cases: cases, port: fleet.addresses.tunnelPort, forbidden: [Self.canary, "tenant-b", other])
            // The honest node's in-flight answer is whole and its own; it serves new requests too.
            engine.gate.open()
            let answer = try await held.value
            #expect(answer.status == 200 && answer.body.contains("honest answer") && !answer.body.contains(Self.injected))
            let after = try await fleet.post(json: chatBody(model: "test-model"))
            #expect(after.status == 200 && after.body.contains("honest answer") && !after.body.contains(Self.injected))
            #expect(fleet.gateway.connectedNodes.contains(NodeID("honest")))
            // Both outcomes happened: the barrage exercised live tunnels and refusals.
            #expect((outcomes[.alive] ?? 0) > 0 && (outcomes[.closed] ?? 0) > 0 && outcomes[.hung] == nil, "\(outcomes)")
        }
    }

    /// `cases` seeded cases, one in five before hello on a fresh connection, the rest on the live registered tunnel.
    static func barrage(seed: UInt64, cases: Int, port: Int, forbidden: [String]) async throws -> [Outcome: Int] {
        var rng = Generator(state: seed)
        var tunnel: Tunnel?
        var outcomes: [Outcome: Int] = [:]
        for index in 0..<cases {
            let beforeHello = Int.random(in: 0..<5, using: &rng) == 0
            let bytes = makeCase(&rng)
            let head = bytes.readableBytesView.prefix(24).map { String($0, radix: 16) }.joined(separator: " ")
            let label = "case \(index) (seed \(seed), \(beforeHello ? "before" : "after") hello, \(bytes.readableBytes) bytes: \(head))"
            if beforeHello || tunnel == nil {
                try? await tunnel?.node.channel.close()
                tunnel = try await Tunnel.open(port: port, beforeHello: beforeHello)
            }
            guard let current = tunnel else {
                Issue.record("\(label): no welcome")
                continue
            }
            let outcome = await play(bytes, on: current, label: label, forbidden: forbidden)
            outcomes[outcome, default: 0] += 1
            if outcome != .alive { tunnel = nil }
        }
        try? await tunnel?.node.channel.close()
        return outcomes
    }
}
