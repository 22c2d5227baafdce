/// A request trace ready to replay, and where it came from.
public struct Trace: Sendable {
    public enum Format: String, Sendable, Codable {
        case azure
        case mooncake
        case burstGPT = "burstgpt"
        case generated
    }

    /// The path given (also when the trace was generated because the file was absent).
    public var path: String
    public var format: Format
    /// Set when a generator stood in for an absent file: which published statistics it follows.
    public var generatedFrom: String?
    /// Sorted by arrival; arrivals start at 0.
    public var requests: [TraceRequest]

    public init(path: String, format: Format, generatedFrom: String? = nil, requests: [TraceRequest]) {
        self.path = path
        self.format = format
        self.generatedFrom = generatedFrom
        self.requests = requests
    }

    /// Seconds from the first to the last arrival.
    public var duration: Double { (requests.last?.arrival ?? 0) - (requests.first?.arrival ?? 0) }

    /// The trace played `times` times back to back (each copy shifted by the duration plus one mean gap);
    /// prefix hashes and session keys are salted per copy so copies do not share caches.
    public func repeated(_ times: Int) -> Trace {
        guard times > 1, !requests.isEmpty else { return self }
        let gap = requests.count > 1 ? duration / Double(requests.count - 1) : 1
        var all: [TraceRequest] = []
        all.reserveCapacity(requests.count * times)
        for copy in 0..<times {
            let shift = Double(copy) * (duration + gap)
            let salt = UInt64(copy) &* 0x9E37_79B9_7F4A_7C15
            for var request in requests {
                request.arrival += shift
                if copy > 0 {
                    request.prefixHashes = request.prefixHashes.map { $0 ^ salt }
                    request.sessionKey = request.sessionKey.map { $0 ^ salt }
                }
                all.append(request)
            }
        }
        var trace = self
        trace.requests = all
        return trace
    }
}
