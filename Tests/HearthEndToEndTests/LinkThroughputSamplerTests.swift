import NIOCore
import NIOEmbedded
import Synchronization
import Testing

@testable import HearthNode

/// The node samples its uplink only while the link is the bottleneck: from the socket turning unwritable until it
/// drains, bytes taken per second; short or small episodes give nothing.
@Suite struct LinkThroughputSamplerTests {
    final class Recorder: Sendable {
        let clock = Mutex(NIODeadline.uptimeNanoseconds(1_000_000_000))
        let samples = Mutex<[(bytes: Int, seconds: Double)]>([])

        func advance(_ amount: TimeAmount) { clock.withLock { $0 = $0 + amount } }
    }

    static func channel(_ recorder: Recorder) throws -> EmbeddedChannel {
        let sampler = LinkThroughputSampler(now: { recorder.clock.withLock { $0 } }) { bytes, seconds in
            recorder.samples.withLock { $0.append((bytes, seconds)) }
        }
        return EmbeddedChannel(handler: sampler)
    }

    static func episode(_ channel: EmbeddedChannel, _ recorder: Recorder, bytes: Int, lasting: TimeAmount) throws {
        channel.isWritable = false
        channel.pipeline.fireChannelWritabilityChanged()
        try channel.writeAndFlush(ByteBuffer(repeating: 7, count: bytes)).wait()
        recorder.advance(lasting)
        channel.isWritable = true
        channel.pipeline.fireChannelWritabilityChanged()
        while try channel.readOutbound(as: ByteBuffer.self) != nil {}
    }

    @Test func aBlockedEpisodeIsOneSample() throws {
        let recorder = Recorder()
        let channel = try Self.channel(recorder)
        try Self.episode(channel, recorder, bytes: 200_000, lasting: .seconds(2))
        let samples = recorder.samples.withLock { $0 }
        #expect(samples.count == 1)
        #expect(samples.first?.bytes == 200_000)
        #expect(samples.first?.seconds == 2)
        _ = try channel.finish()
    }

    @Test func tricklesAndBlipsSayNothing() throws {
        let recorder = Recorder()
        let channel = try Self.channel(recorder)
        try Self.episode(channel, recorder, bytes: 200_000, lasting: .milliseconds(10))  // too short to mean the link
        try Self.episode(channel, recorder, bytes: 1_000, lasting: .seconds(1))  // too little
        try channel.writeAndFlush(ByteBuffer(repeating: 7, count: 500_000)).wait()  // never blocked
        #expect(recorder.samples.withLock { $0.isEmpty })
        _ = try channel.finish()
    }
}
