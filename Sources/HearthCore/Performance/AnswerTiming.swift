/// What one relayed answer says about its node's speed, for refitting the node's profile: a ``CalibrationSample``
/// taken from the gateway's own clock wherever the gateway can see the answer, never from the node's word alone.
///
/// A hostile node reports whatever makes it look fast (a first token after 1 ms, a thousand tokens in a second);
/// the gateway sees when the first byte of a streamed answer arrived, when the answer ended and how many content
/// events it relayed. Prefill is the gateway's time to first byte less the link round trip (the node's engine figure
/// only where it is slower: a node may admit to being slow); decode is the rest of the answer over the events
/// relayed. Without the gateway's own first byte (a buffered answer) the sample is built from the node's figures and
/// marked ``isClaimed``: the scheduler lets such samples slow a profile down, never speed it up.
public struct AnswerTiming: Sendable, Hashable {
    public var promptTokens: Int
    /// The node's completion count (nil: none); the gateway's ``relayedContentEvents`` win when known.
    public var claimedCompletionTokens: Int?
    /// Content events the gateway relayed itself (nil: it did not count, a buffered answer).
    public var relayedContentEvents: Int?
    /// Sequences on the node when the request was placed.
    public var batch: Int
    /// From placement to the end of the answer, the gateway's clock.
    public var totalSeconds: Double
    /// From placement to the first byte of the answer, the gateway's clock (nil: not seen, a buffered answer).
    public var firstByteSeconds: Double?
    /// The node's own time to first token (its engine's), if it sent one.
    public var claimedFirstTokenSeconds: Double?
    /// The round trip the scheduler predicts with for the node.
    public var linkRTTSeconds: Double

    public init(
        promptTokens: Int, claimedCompletionTokens: Int?, relayedContentEvents: Int?, batch: Int, totalSeconds: Double,
        firstByteSeconds: Double?, claimedFirstTokenSeconds: Double?, linkRTTSeconds: Double
    ) {
        self.promptTokens = promptTokens
        self.claimedCompletionTokens = claimedCompletionTokens
        self.relayedContentEvents = relayedContentEvents
        self.batch = batch
        self.totalSeconds = totalSeconds
        self.firstByteSeconds = firstByteSeconds
        self.claimedFirstTokenSeconds = claimedFirstTokenSeconds
        self.linkRTTSeconds = linkRTTSeconds
    }

    /// Whether the sample rests on the node's figures rather than the gateway's clock.
    public var isClaimed: Bool { firstByteSeconds == nil }

    /// The sample, or nil when the answer was too short to tell (fewer than two tokens) or its figures are not
    /// finite and positive.
    public var sample: CalibrationSample? {
        let tokens = relayedContentEvents ?? claimedCompletionTokens ?? 0
        let claimed = claimedFirstTokenSeconds.flatMap { $0.isFinite && $0 > 0 ? $0 : nil }
        guard promptTokens > 0, tokens > 1, totalSeconds.isFinite, totalSeconds > 0 else { return nil }
        let prefill: Double
        let decodeFrom: Double
        if let firstByte = firstByteSeconds {
            guard firstByte.isFinite, firstByte > 0, firstByte <= totalSeconds else { return nil }
            let rtt = linkRTTSeconds.isFinite ? max(0, linkRTTSeconds) : 0
            // The link's round trip is not prefill; if the reported round trip swallows the whole wait, keep the
            // wait: too slow a prefill is safe, too fast is what a liar wants.
            let measured = firstByte - rtt > 0 ? firstByte - rtt : firstByte
            prefill = max(measured, min(claimed ?? 0, firstByte))
            decodeFrom = firstByte
        } else {
            guard let claimed, claimed < totalSeconds else { return nil }
            prefill = claimed
            decodeFrom = claimed
        }
        let decode = (totalSeconds - decodeFrom) / Double(tokens - 1)
        guard prefill > 0, decode > 0 else { return nil }
        return CalibrationSample(promptTokens: promptTokens, prefillSeconds: prefill, batchSize: max(1, batch), decodeStepSeconds: decode)
    }
}
