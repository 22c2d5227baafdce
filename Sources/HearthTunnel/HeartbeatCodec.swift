public import HearthProtocol
public import NIOCore

/// Fixed binary layouts for a heartbeat and its echo, instead of JSON: every node sends one a second, so a gateway
/// with a fleet decodes and echoes thousands a second, and a JSON coder per beat was most of an idle gateway's work.
/// Same conventions as ``StreamMessageCodec``: big endian, numbers as `Float64` bits, a string as `length: UInt16` ·
/// UTF-8, and anything malformed (short, long, unknown flags, a non-finite number) is `malformedFrame`.
///
/// - `heartbeat`: `flags: UInt8` (1 engine healthy, 2 link follows, 4 power follows, 8 energy follows, 16 echo
///   wanted: the gateway answers only these with a `heartbeatAck`, HearthCore's `LinkProbePacer`; 32 streams for
///   other gateways follow; 64 energy intervals carry the battery's share) · sequence `UInt64` · active streams `Int64` · [streams for other gateways `Int64`] ·
///   [link] · [power] · [energy].
///   - link: `flags: UInt8` (1 RTT follows, 2 jitter follows, 4 bandwidth follows, 8 degraded) · loss · [RTT ms] ·
///     [jitter ms] · [bandwidth bytes/s].
///   - power: mode · `flags: UInt8` (1 budget follows, 2 home load follows, 4 home budget follows, 8 battery follows,
///     16 grid import follows) · draw · cap · cap fraction · full · floor · [budget] · [home load] · [home budget]
///     · [battery state of charge · battery watts] · [grid import] (watts; state of charge 0–1).
///   - energy: count `UInt16` · per interval start `Int64` · end `Int64` · watt-hours · [watt-hours from the battery,
///     when flag 64 is set: a node with a battery] (how many a beat may hold is the validator's limit; the frame's own
///     size bounds what a count can claim).
/// - `heartbeatAck`: the sequence echoed, `UInt64`.
///
/// The layout says nothing of plausibility: a parsed heartbeat is still checked by the gateway's validator.
public enum HeartbeatCodec {
    public static func heartbeat(_ beat: NodeHeartbeat, wantsEcho: Bool = true) -> TunnelFrame {
        var flags: UInt8 = beat.engineHealthy ? 1 : 0
        if wantsEcho { flags |= 16 }
        if beat.link != nil { flags |= 2 }
        if beat.power != nil { flags |= 4 }
        if beat.otherGatewayStreams != nil { flags |= 32 }
        // The count is a `UInt16`; how many a beat may hold is the gateway's validator's call, not the layout's.
        let energy = beat.energy.map { Array($0.prefix(Int(UInt16.max))) }
        if energy != nil { flags |= 8 }
        // A battery's share of each interval, when the node has one: 8 more bytes an interval.
        let batteryShares = energy?.contains { $0.batteryWattHours != nil } ?? false
        if batteryShares { flags |= 64 }
        var payload = ByteBuffer()
        payload.reserveCapacity(64 + (beat.power == nil ? 0 : 72) + 24 * (energy?.count ?? 0))
        payload.writeInteger(flags)
        payload.writeInteger(beat.sequence)
        payload.writeInteger(Int64(beat.activeStreams))
        if let others = beat.otherGatewayStreams { payload.writeInteger(Int64(others)) }
        if let link = beat.link {
            var linkFlags: UInt8 = link.degraded ? 8 : 0
            if link.rttMilliseconds != nil { linkFlags |= 1 }
            if link.jitterMilliseconds != nil { linkFlags |= 2 }
            if link.bandwidthBytesPerSecond != nil { linkFlags |= 4 }
            payload.writeInteger(linkFlags)
            payload.writeNumber(link.loss)
            for value in [link.rttMilliseconds, link.jitterMilliseconds, link.bandwidthBytesPerSecond] {
                if let value { payload.writeNumber(value) }
            }
        }
        if let power = beat.power {
            payload.writeField(power.mode)
            var powerFlags: UInt8 = 0
            if power.budgetWatts != nil { powerFlags |= 1 }
            if power.homeLoadWatts != nil { powerFlags |= 2 }
            if power.homeBudgetWatts != nil { powerFlags |= 4 }
            let battery = power.batteryStateOfCharge.flatMap { soc in power.batteryWatts.map { (soc, $0) } }
            if battery != nil { powerFlags |= 8 }
            if power.gridImportWatts != nil { powerFlags |= 16 }
            payload.writeInteger(powerFlags)
            for value in [power.drawWatts, power.capWatts, power.capFraction, power.fullWatts, power.floorWatts] {
                payload.writeNumber(value)
            }
            for value in [power.budgetWatts, power.homeLoadWatts, power.homeBudgetWatts] {
                if let value { payload.writeNumber(value) }
            }
            if let (soc, watts) = battery {
                payload.writeNumber(soc)
                payload.writeNumber(watts)
            }
            if let grid = power.gridImportWatts { payload.writeNumber(grid) }
        }
        if let energy {
            payload.writeInteger(UInt16(energy.count))
            for interval in energy {
                payload.writeInteger(interval.start)
                payload.writeInteger(interval.end)
                payload.writeNumber(interval.wattHours)
                if batteryShares { payload.writeNumber(interval.batteryWattHours ?? 0) }
            }
        }
        return TunnelFrame(kind: .heartbeat, payload: payload)
    }

    public static func decodeHeartbeat(_ frame: TunnelFrame) throws -> NodeHeartbeat {
        var payload = frame.payload
        let flags = try payload.readFlags(known: 0b111_1111, frame: "heartbeat")
        if flags & 64 != 0, flags & 8 == 0 { throw StreamMessageCodec.malformed("heartbeat has battery shares but no energy") }
        guard let sequence = payload.readInteger(as: UInt64.self), let active = payload.readInteger(as: Int64.self) else {
            throw StreamMessageCodec.malformed("heartbeat is shorter than its sequence and stream count")
        }
        var beat = NodeHeartbeat(
            sequence: sequence, activeStreams: Int(truncatingIfNeeded: active), engineHealthy: flags & 1 != 0)
        if flags & 32 != 0 {
            guard let others = payload.readInteger(as: Int64.self) else {
                throw StreamMessageCodec.malformed("heartbeat ends before its count of streams for other gateways")
            }
            beat.otherGatewayStreams = Int(truncatingIfNeeded: others)
        }
        if flags & 2 != 0 {
            let linkFlags = try payload.readFlags(known: 0b1111, frame: "heartbeat link")
            let loss = try payload.readNumber("heartbeat link loss")
            let rtt = linkFlags & 1 != 0 ? try payload.readNumber("heartbeat link RTT") : nil
            let jitter = linkFlags & 2 != 0 ? try payload.readNumber("heartbeat link jitter") : nil
            let bandwidth = linkFlags & 4 != 0 ? try payload.readNumber("heartbeat link bandwidth") : nil
            beat.link = LinkReport(
                rttMilliseconds: rtt, jitterMilliseconds: jitter, loss: loss, bandwidthBytesPerSecond: bandwidth,
                degraded: linkFlags & 8 != 0)
        }
        if flags & 4 != 0 {
            let mode = try payload.readField("heartbeat power mode")
            let powerFlags = try payload.readFlags(known: 0b11111, frame: "heartbeat power")
            let draw = try payload.readNumber("heartbeat power draw")
            let cap = try payload.readNumber("heartbeat power cap")
            let capFraction = try payload.readNumber("heartbeat power cap fraction")
            let full = try payload.readNumber("heartbeat power full draw")
            let floor = try payload.readNumber("heartbeat power floor")
            let budget = powerFlags & 1 != 0 ? try payload.readNumber("heartbeat power budget") : nil
            let homeLoad = powerFlags & 2 != 0 ? try payload.readNumber("heartbeat home load") : nil
            let homeBudget = powerFlags & 4 != 0 ? try payload.readNumber("heartbeat home budget") : nil
            let soc = powerFlags & 8 != 0 ? try payload.readNumber("heartbeat battery state of charge") : nil
            let batteryWatts = powerFlags & 8 != 0 ? try payload.readNumber("heartbeat battery watts") : nil
            let gridImport = powerFlags & 16 != 0 ? try payload.readNumber("heartbeat grid import") : nil
            beat.power = NodePowerReport(
                mode: mode, budgetWatts: budget, drawWatts: draw, capWatts: cap, capFraction: capFraction, homeLoadWatts: homeLoad,
                homeBudgetWatts: homeBudget, fullWatts: full, floorWatts: floor, batteryStateOfCharge: soc, batteryWatts: batteryWatts,
                gridImportWatts: gridImport)
        }
        if flags & 8 != 0 {
            guard let count = payload.readInteger(as: UInt16.self) else {
                throw StreamMessageCodec.malformed("heartbeat energy has no count")
            }
            // Checked against the bytes there before anything is reserved: a count cannot make the decoder allocate.
            let withBattery = flags & 64 != 0
            guard payload.readableBytes >= Int(count) * (withBattery ? 32 : 24) else {
                throw StreamMessageCodec.malformed("heartbeat energy claims \(count) intervals")
            }
            var intervals: [EnergyInterval] = []
            intervals.reserveCapacity(Int(count))
            for _ in 0..<count {
                guard let start = payload.readInteger(as: Int64.self), let end = payload.readInteger(as: Int64.self) else {
                    throw StreamMessageCodec.malformed("heartbeat energy runs past the frame")
                }
                let wattHours = try payload.readNumber("heartbeat energy")
                let battery = withBattery ? try payload.readNumber("heartbeat energy from the battery") : nil
                intervals.append(EnergyInterval(start: start, end: end, wattHours: wattHours, batteryWattHours: battery))
            }
            beat.energy = intervals
        }
        try payload.expectEnd("heartbeat")
        return beat
    }

    /// Whether the node asks for this heartbeat's echo (read from a frame ``decodeHeartbeat(_:)`` accepted).
    public static func wantsEcho(_ frame: TunnelFrame) -> Bool {
        (frame.payload.getInteger(at: frame.payload.readerIndex, as: UInt8.self) ?? 0) & 16 != 0
    }

    public static func ack(_ sequence: UInt64) -> TunnelFrame {
        var payload = ByteBuffer()
        payload.writeInteger(sequence)
        return TunnelFrame(kind: .heartbeatAck, payload: payload)
    }

    public static func decodeAck(_ frame: TunnelFrame) throws -> UInt64 {
        guard frame.payload.readableBytes == 8, let sequence = frame.payload.getInteger(at: frame.payload.readerIndex, as: UInt64.self)
        else { throw StreamMessageCodec.malformed("heartbeat ack must carry exactly 8 bytes") }
        return sequence
    }
}

extension ByteBuffer {
    fileprivate mutating func writeNumber(_ value: Double) {
        writeInteger(value.bitPattern)
    }

    /// A finite `Float64`: NaN and infinities, which JSON could not carry either, are malformed.
    fileprivate mutating func readNumber(_ name: String) throws -> Double {
        guard let bits = readInteger(as: UInt64.self) else { throw StreamMessageCodec.malformed("\(name) runs past the frame") }
        let value = Double(bitPattern: bits)
        guard value.isFinite else { throw StreamMessageCodec.malformed("\(name) is not a finite number") }
        return value
    }
}
