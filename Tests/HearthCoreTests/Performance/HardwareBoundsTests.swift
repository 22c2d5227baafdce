import HearthCore
import Testing

/// A node's profile and slots stay within what its declared hardware can do, however it measured or lied.
@Suite struct HardwareBoundsTests {
    @Test func theDeclaredHardwareBoundsSpeedSlotsAndDraw() {
        let cpu = HardwareBounds(gpuNames: [], cpuCores: 2)
        let l4 = HardwareBounds(gpuNames: ["NVIDIA L4"], cpuCores: 8)
        let h100s = HardwareBounds(gpuNames: ["NVIDIA H100 80GB HBM3", "NVIDIA H100 80GB HBM3"], cpuCores: 64)
        #expect(cpu.maximumPrefillTokensPerSecond < l4.maximumPrefillTokensPerSecond)
        #expect(l4.maximumPrefillTokensPerSecond < h100s.maximumPrefillTokensPerSecond)
        #expect(cpu.minimumDecodeStepSeconds > h100s.minimumDecodeStepSeconds)
        #expect(cpu.maximumSlots == 32 && l4.maximumSlots == 256 && h100s.maximumSlots == 512)
        #expect(l4.maximumDrawWatts == 472 && h100s.maximumDrawWatts == 1_800 && cpu.maximumDrawWatts == nil)
        // An L40S is not an L4; an unknown GPU counts as the fastest known one.
        #expect(HardwareBounds.spec(named: "NVIDIA L40S").denseTFLOPS == GPUSpec.h100SXM.denseTFLOPS)
        #expect(HardwareBounds.spec(named: "NVIDIA RTX PRO 6000 Blackwell") == .rtxPro6000Blackwell)
    }

    @Test func aClaimBeyondTheHardwareIsHeldToIt() {
        let bounds = HardwareBounds(gpuNames: [], cpuCores: 2)
        let claimed = NodeProfile(
            model: "m", prefillTokensPerSecond: 900_000, prefillOverheadSeconds: -1, decodeBaseSeconds: 1e-7,
            decodePerSequenceSeconds: -0.5, maxBatch: 4_096, linkRTTSeconds: -1)
        let held = claimed.clamped(to: bounds)
        #expect(held.prefillTokensPerSecond == bounds.maximumPrefillTokensPerSecond)
        #expect(held.decodeStepSeconds(batch: 1) >= bounds.minimumDecodeStepSeconds)
        #expect(held.prefillOverheadSeconds == 0 && held.decodePerSequenceSeconds == 0 && held.linkRTTSeconds == 0)
        #expect(held.maxBatch == bounds.maximumSlots)
        // An honest, slower profile is left as it is.
        let honest = NodeProfile(
            model: "m", prefillTokensPerSecond: 800, prefillOverheadSeconds: 0.01, decodeBaseSeconds: 0.02,
            decodePerSequenceSeconds: 0.001, maxBatch: 4, linkRTTSeconds: 0.005)
        #expect(honest.clamped(to: bounds) == honest)
        // A refit from the node's own figures may only slow a profile down.
        let slower = held.noFaster(than: honest)
        #expect(slower.prefillTokensPerSecond == 800 && slower.decodeBaseSeconds == 0.02 && slower.prefillOverheadSeconds == 0.01)
    }

    @Test func aRefitComesFromTheGatewaysClockNotTheNodesClaim() throws {
        // The node says its first token came after 1 ms; the gateway saw the first byte after 400 ms (10 ms of link).
        let timing = AnswerTiming(
            promptTokens: 200, claimedCompletionTokens: 10_000, relayedContentEvents: 21, batch: 1, totalSeconds: 1.4,
            firstByteSeconds: 0.4, claimedFirstTokenSeconds: 0.001, linkRTTSeconds: 0.01)
        let sample = try #require(timing.sample)
        #expect(!timing.isClaimed)
        #expect(abs(sample.prefillSeconds - 0.39) < 1e-9)
        // 20 gaps after the first event, a second in all: 50 ms each, not 1 s over 10,000 claimed tokens.
        #expect(abs(sample.decodeStepSeconds - 0.05) < 1e-9)
        // A node admitting to more than the gateway saw is believed up to what the gateway saw.
        var slow = timing
        slow.claimedFirstTokenSeconds = 5
        #expect(slow.sample?.prefillSeconds == 0.4)
        // Without the gateway's first byte, the node's figures make a sample marked as claimed.
        var buffered = timing
        buffered.firstByteSeconds = nil
        buffered.relayedContentEvents = nil
        #expect(buffered.isClaimed && buffered.sample?.prefillSeconds == 0.001)
    }
}
