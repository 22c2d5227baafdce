import HearthCore

/// Plays validation requests against a real engine with a fixed number of concurrent clients (a closed loop).
///
/// Each client takes the next conversation and sends its requests one after another, so a conversation's later
/// turns follow its earlier ones as a real user's would; `concurrency` clients run side by side.
///
/// Clients start `startStaggerSeconds` apart. Requests sent at the same instant to an idle llama-server reach its loop
/// in an order no client can see: the first is prefilled alone and the rest wait for the next step together, so which
/// prompt waits would be chance, and the simulator (given equal send times) could only guess it. Staggered starts make
/// the order the one the client chose, for the engine and the simulator alike.
public struct ValidationReplayer: Sendable {
    public var concurrency: Int
    public var startStaggerSeconds: Double

    public init(concurrency: Int, startStaggerSeconds: Double = 0.025) {
        self.concurrency = max(1, concurrency)
        self.startStaggerSeconds = startStaggerSeconds.isFinite ? max(0, startStaggerSeconds) : 0
    }

    /// The conversations of `requests` in first-appearance order, each in request order.
    public static func conversations(_ requests: [ValidationRequest]) -> [[ValidationRequest]] {
        var order: [Int] = []
        var byConversation: [Int: [ValidationRequest]] = [:]
        for request in requests {
            if byConversation[request.conversation] == nil { order.append(request.conversation) }
            byConversation[request.conversation, default: []].append(request)
        }
        return order.compactMap { byConversation[$0] }
    }

    /// Runs every request; a request that fails is left out of the result (the comparison counts it missing) and
    /// reported to `onFailure`.
    public func run(
        _ requests: [ValidationRequest], client: any ValidationEngineClient,
        onFailure: @escaping @Sendable (ValidationRequest, any Error) -> Void = { _, _ in }
    ) async -> [ValidationObservation] {
        let queue = ConversationQueue(Self.conversations(requests))
        let start = ContinuousClock.now
        return await withTaskGroup(of: [ValidationObservation].self) { group in
            for worker in 0..<concurrency {
                let startDelay = Duration.seconds(startStaggerSeconds * Double(worker))
                group.addTask {
                    if startDelay > .zero { try? await Task.sleep(until: start + startDelay) }
                    var observed: [ValidationObservation] = []
                    var previousEnd: Double?
                    while let conversation = await queue.next() {
                        for request in conversation {
                            let sentAt = (ContinuousClock.now - start).seconds
                            do {
                                var observation = try await client.send(request, sentAt: sentAt)
                                observation.client = worker
                                observation.gap = previousEnd.map { max(0, sentAt - $0) }
                                previousEnd = observation.sentAt + observation.e2e
                                observed.append(observation)
                            } catch {
                                onFailure(request, error)
                            }
                        }
                    }
                    return observed
                }
            }
            var all: [ValidationObservation] = []
            for await observed in group { all += observed }
            return all.sorted { $0.sentAt < $1.sentAt }
        }
    }
}

actor ConversationQueue {
    private var conversations: [[ValidationRequest]]
    private var cursor = 0

    init(_ conversations: [[ValidationRequest]]) {
        self.conversations = conversations
    }

    func next() -> [ValidationRequest]? {
        guard cursor < conversations.count else { return nil }
        defer { cursor += 1 }
        return conversations[cursor]
    }
}
