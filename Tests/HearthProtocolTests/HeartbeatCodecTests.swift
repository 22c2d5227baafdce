import HearthProtocol
import HearthTunnel
import NIOCore
import Testing

/// The binary heartbeat and its echo: every field survives the trip, and no payload a node can send makes the
/// gateway's decoder trap, loop, allocate without bound or accept a frame it did not fully understand.
@Suite struct HeartbeatCodecTests {
    static let power = NodePowerReport(
        mode: "capped", budgetWatts: 9_000, drawWatts: 8_750.5, capWatts: 7_200, capFraction: 0.75, homeLoadWatts: 3_100,
        homeBudgetWatts: 12_000, fullWatts: 12_500, floorWatts: 1_400)

    static let beats: [NodeHeartbeat] = [
        NodeHeartbeat(sequence: 1, activeStreams: 0, engineHealthy: true),
        NodeHeartbeat(sequence: .max, activeStreams: -1_000, engineHealthy: false),
        NodeHeartbeat(
            sequence: 42, activeStreams: 3, engineHealthy: true, power: power,
            energy: [
                EnergyInterval(start: 1_700_000_000, end: 1_700_000_060, wattHours: 140.25),
                EnergyInterval(start: -5, end: .max, wattHours: 0),
            ],
            link: LinkReport(rttMilliseconds: 23.5, jitterMilliseconds: 1.25, loss: 0.1, bandwidthBytesPerSecond: 1.2e7, degraded: true)),
        NodeHeartbeat(
            sequence: 7, activeStreams: 1, engineHealthy: true,
            power: NodePowerReport(
                mode: "", budgetWatts: nil, drawWatts: 0, capWatts: 0, capFraction: 1, homeLoadWatts: nil, homeBudgetWatts: nil,
                fullWatts: 0, floorWatts: 0),
            energy: [], link: LinkReport(rttMilliseconds: nil, jitterMilliseconds: nil, loss: 0, degraded: false)),
        // A node with a battery: each interval says how much of it the battery gave.
        NodeHeartbeat(
            sequence: 8, activeStreams: 0, engineHealthy: true,
            energy: [
                EnergyInterval(start: 1_700_000_000, end: 1_700_000_060, wattHours: 200, batteryWattHours: 150.5),
                EnergyInterval(start: 1_700_000_060, end: 1_700_000_120, wattHours: 190, batteryWattHours: 0),
            ]),
        // A node on two gateways: the streams it runs for the other one ride beside its own.
        NodeHeartbeat(
            sequence: 8, activeStreams: 2, engineHealthy: true,
            link: LinkReport(rttMilliseconds: 4, jitterMilliseconds: nil, loss: 0, degraded: false), otherGatewayStreams: 5),
        NodeHeartbeat(sequence: 9, activeStreams: 0, engineHealthy: true, otherGatewayStreams: -7),
        // A node with its battery: state of charge, the battery's flow (here charging) and the grid import.
        NodeHeartbeat(
            sequence: 10, activeStreams: 4, engineHealthy: true,
            power: NodePowerReport(
                mode: "normal", budgetWatts: 19_200, drawWatts: 12_100, capWatts: 9_600, capFraction: 1, homeLoadWatts: 3_000,
                homeBudgetWatts: 19_200, fullWatts: 12_100, floorWatts: 7_300, batteryStateOfCharge: 0.42, batteryWatts: -5_000,
                gridImportWatts: 17_100)),
    ]

    static func isMalformed(_ error: any Error) -> Bool { (error as? TunnelErrorMessage)?.code == .malformedFrame }

    @Test func everyFieldSurvivesTheTrip() throws {
        for beat in Self.beats {
            let frame = HeartbeatCodec.heartbeat(beat)
            #expect(frame.kind == .heartbeat && frame.stream == 0)
            #expect(try HeartbeatCodec.decodeHeartbeat(frame) == beat)
        }
        // Whether the node asks for an echo rides in the flags; the beat itself is the same either way.
        let quiet = HeartbeatCodec.heartbeat(Self.beats[2], wantsEcho: false)
        #expect(!HeartbeatCodec.wantsEcho(quiet) && HeartbeatCodec.wantsEcho(HeartbeatCodec.heartbeat(Self.beats[2])))
        #expect(try HeartbeatCodec.decodeHeartbeat(quiet) == Self.beats[2])
        for sequence: UInt64 in [0, 1, .max] {
            let ack = HeartbeatCodec.ack(sequence)
            #expect(ack.kind == .heartbeatAck)
            #expect(try HeartbeatCodec.decodeAck(ack) == sequence)
        }
    }

    @Test func anIdleBeatIsSmall() {
        // What an idle node without a panel sends every second: flags, sequence, streams and its link.
        let idle = NodeHeartbeat(
            sequence: 9, activeStreams: 0, engineHealthy: true,
            link: LinkReport(rttMilliseconds: 0.4, jitterMilliseconds: 0.1, loss: 0, degraded: false))
        #expect(HeartbeatCodec.heartbeat(idle).payload.readableBytes == 42)
    }

    @Test func everyTruncationAndEveryExtraByteIsMalformed() throws {
        for beat in Self.beats {
            let full = HeartbeatCodec.heartbeat(beat)
            for length in 0..<full.payload.readableBytes {
                let cut = TunnelFrame(kind: .heartbeat, payload: full.payload.getSlice(at: full.payload.readerIndex, length: length)!)
                #expect { try HeartbeatCodec.decodeHeartbeat(cut) } throws: { Self.isMalformed($0) }
            }
            var longer = full
            longer.payload.writeInteger(UInt8(0))
            #expect { try HeartbeatCodec.decodeHeartbeat(longer) } throws: { Self.isMalformed($0) }
        }
        for bytes in [[], [UInt8](repeating: 0, count: 7), [UInt8](repeating: 0, count: 9)] {
            #expect { try HeartbeatCodec.decodeAck(TunnelFrame(kind: .heartbeatAck, payload: ByteBuffer(bytes: bytes))) } throws: {
                Self.isMalformed($0)
            }
        }
    }

    @Test func unknownFlagsNonFiniteNumbersAndHugeCountsAreMalformed() {
        func frame(_ bytes: [UInt8]) -> TunnelFrame { TunnelFrame(kind: .heartbeat, payload: ByteBuffer(bytes: bytes)) }
        let head = [UInt8](repeating: 0, count: 16)
        #expect { try HeartbeatCodec.decodeHeartbeat(frame([128] + head)) } throws: { Self.isMalformed($0) }
        // Battery shares announced without energy.
        #expect { try HeartbeatCodec.decodeHeartbeat(frame([64] + head)) } throws: { Self.isMalformed($0) }
        // One interval with battery shares needs 32 bytes, not the 24 of one without.
        #expect { try HeartbeatCodec.decodeHeartbeat(frame([72] + head + [0, 1] + [UInt8](repeating: 0, count: 24))) } throws: {
            Self.isMalformed($0)
        }
        // Streams for other gateways announced, but the beat ends first.
        #expect { try HeartbeatCodec.decodeHeartbeat(frame([32] + head)) } throws: { Self.isMalformed($0) }
        // A link with an unknown flag.
        #expect { try HeartbeatCodec.decodeHeartbeat(frame([2] + head + [16] + [UInt8](repeating: 0, count: 8))) } throws: {
            Self.isMalformed($0)
        }
        for bad in [Double.nan, .infinity, -.infinity] {
            var bytes: [UInt8] = [2] + head + [0]
            withUnsafeBytes(of: bad.bitPattern.bigEndian) { bytes += $0 }
            #expect { try HeartbeatCodec.decodeHeartbeat(frame(bytes)) } throws: { Self.isMalformed($0) }
        }
        // 65,535 energy intervals claimed in a few bytes: refused before any is read or reserved.
        #expect { try HeartbeatCodec.decodeHeartbeat(frame([8] + head + [0xFF, 0xFF])) } throws: { Self.isMalformed($0) }
    }

    @Test func thousandsOfIntervalsSurviveForTheValidatorToJudge() throws {
        // The layout carries what the node sent; refusing a flood is the gateway validator's call (ForgedTelemetryTests).
        let energy = (0..<5_000).map { EnergyInterval(start: Int64($0) * 60, end: Int64($0 + 1) * 60, wattHours: 1) }
        let beat = NodeHeartbeat(sequence: 1, activeStreams: 0, engineHealthy: true, energy: energy)
        #expect(try HeartbeatCodec.decodeHeartbeat(HeartbeatCodec.heartbeat(beat)).energy == energy)
    }

    @Test func randomPayloadsNeverTrap() {
        var generator = SplitMix(seed: 0xBEA7)
        for _ in 0..<20_000 {
            let length = Int(generator.next() % 96)
            var bytes = (0..<length).map { _ in UInt8(truncatingIfNeeded: generator.next()) }
            // Keep the flags mostly known, so decoding goes past the first byte.
            if !bytes.isEmpty { bytes[0] &= 0b1111 }
            let payload = ByteBuffer(bytes: bytes)
            _ = try? HeartbeatCodec.decodeHeartbeat(TunnelFrame(kind: .heartbeat, payload: payload))
            _ = try? HeartbeatCodec.decodeAck(TunnelFrame(kind: .heartbeatAck, payload: payload))
        }
    }
}
