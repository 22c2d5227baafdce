import Foundation
import HTTPTypes
import HearthCore
import HearthProtocol
import Hummingbird
import NIOCore
import NIOHTTPTypes
import Synchronization

/// `n` > 1: engines such as llama.cpp's server answer one choice a request, so the gateway fans the request out, one
/// choice a node request, placed, retried and moved like any request, and joins the answers: the choices' `index`
/// 0..<n, one id, the prompt counted once and the completions summed. Each choice is billed in a usage row of its own
/// (its request id is the request's with `-1`, `-2`, ... for the choices after the first).
extension InferenceRelay {
    func fanOut(
        _ parsed: CompletionRequest, taskClass: TaskClass, engineBody: ByteBuffer, request: Request, policy: TenantPolicy,
        ticket: UsageTicket, release: LeaseRelease, requestBytes: Int, clientChannel: any Channel, started: ContinuousClock.Instant
    ) async throws -> Response {
        let count = parsed.choices
        var tickets = [ticket]
        for index in 1..<count {
            let choice = UsageTicket(
                requestID: "\(ticket.requestID)-\(index)", tenant: policy.tenant, started: started, ledger: ledger, metrics: metrics,
                conduct: registry.conduct, targets: configuration.classTargets, spend: spend, keyID: policy.keyID,
                now: configuration.wallClock)
            choice.describe(
                model: parsed.model, taskClass: taskClass.rawValue, estimatedPromptTokens: parsed.estimatedPromptTokens,
                requestBytes: requestBytes, maxOutputTokens: parsed.maxTokens, streamed: parsed.stream)
            choice.onFinish { usage, ranOnNode in release.choiceFinished(usage: usage, ranOnNode: ranOnNode) }
            // A drain waits for every choice's answer, not only the first's.
            if let admitted = admission.enter(clientChannel) { choice.onAnswerEnd { [admission] in admission.leave(admitted) } }
            tickets.append(choice)
        }
        // The first choice's ticket is the request's: its failure is recorded where the request's is. The others'
        // are recorded here, the same way.
        do {
            return try await fanOut(
                parsed, taskClass: taskClass, engineBody: engineBody, request: request, policy: policy, tickets: tickets,
                clientChannel: clientChannel, started: started)
        } catch {
            let (outcome, status) = Self.recorded(error)
            for choice in tickets.dropFirst() { choice.finish(outcome: outcome, status: status) }
            throw error
        }
    }

    private func fanOut(
        _ parsed: CompletionRequest, taskClass: TaskClass, engineBody: ByteBuffer, request: Request, policy: TenantPolicy,
        tickets: [UsageTicket], clientChannel: any Channel, started: ContinuousClock.Instant
    ) async throws -> Response {
        let count = tickets.count
        let answerID = (parsed.endpoint == .chatCompletions ? "chatcmpl-" : "cmpl-") + tickets[0].requestID
        let usage = ChoiceUsage(count: count)
        let contexts = try tickets.enumerated().map { index, ticket in
            try makeContext(
                parsed, taskClass: taskClass, engineBody: try Self.choiceBody(engineBody, choice: index), request: request,
                policy: policy, ticket: ticket,
                filter: parsed.stream ? ChoiceStreamFilter(choice: index, answerID: answerID, usage: usage) : nil)
        }
        let watches = contexts.map { context in disconnects.watch(clientChannel) { context.clientLeft() } }
        let firsts: [Attempt]
        do {
            firsts = try await openAll(contexts)
        } catch {
            for watch in watches { disconnects.unwatch(watch) }
            throw error
        }
        var headers = responseHeaders(firsts[0].head.contentType, placed: firsts, taskClass: taskClass, ticket: tickets[0], policy: policy)
        for (ticket, first) in zip(tickets, firsts) { ticket.placed(bestEffort: first.bestEffort) }

        if parsed.stream {
            headers[.cacheControl] = "no-cache"
            for first in firsts { first.reservation.handOff() }
            headers[.hearthOverhead] = contexts[0].overheadMilliseconds(since: started)
            let status = firsts.first { $0.head.status >= 300 }?.head.status ?? firsts[0].head.status
            return Response(
                status: .init(code: status), headers: headers,
                body: ResponseBody { [self, disconnects] writer in
                    defer { for watch in watches { disconnects.unwatch(watch) } }
                    // The choices' events reach the client as they come, each whole; the response ends after the last.
                    await withTaskGroup(of: Void.self) { group in
                        for (first, context) in zip(firsts, contexts) {
                            group.addTask {
                                var choiceWriter: any ResponseBodyWriter = ChoiceWriter(channel: clientChannel)
                                try? await self.relayStream(
                                    first, prefetched: nil, context: context, client: clientChannel, to: &choiceWriter)
                            }
                        }
                    }
                    var tail = ByteBuffer()
                    if parsed.includeUsage, let chunk = usage.chunk(id: answerID, model: parsed.model, endpoint: parsed.endpoint) {
                        tail.writeBytes(Array("data: ".utf8) + chunk + Array("\n\n".utf8))
                    }
                    tail.writeString("data: [DONE]\n\n")
                    try await writer.write(tail)
                    try await writer.finish(nil)
                })
        }
        defer { for watch in watches { disconnects.unwatch(watch) } }
        let answers = try await withThrowingTaskGroup(of: (Int, ByteBuffer, Int, NodeID).self) { group in
            for (index, (first, context)) in zip(firsts, contexts).enumerated() {
                group.addTask {
                    let (answer, status, node) = try await self.relayAnswer(first, context: context)
                    return (index, answer, status, node)
                }
            }
            var answers = [(ByteBuffer, Int, NodeID)?](repeating: nil, count: count)
            for try await (index, answer, status, node) in group { answers[index] = (answer, status, node) }
            return answers.compactMap { $0 }
        }
        headers[.hearthNode] = answers.map(\.2.rawValue).joined(separator: ",")
        headers[.hearthOverhead] = contexts[0].overheadMilliseconds(since: started)
        // An engine's refusal (a 4xx of its own) is the answer: every choice asked the same.
        if let refused = answers.first(where: { $0.1 >= 300 }) {
            return Response(status: .init(code: refused.1), headers: headers, body: .init(byteBuffer: refused.0))
        }
        let joined = try Self.joinAnswers(answers.map(\.0), id: answerID, nodes: answers.map(\.2))
        return Response(status: .ok, headers: headers, body: .init(byteBuffer: ByteBuffer(bytes: joined)))
    }

    /// Every choice's first attempt, placed at once. One that cannot be placed fails the request: the others are
    /// stopped before anything reached the client.
    private func openAll(_ contexts: [AttemptContext]) async throws -> [Attempt] {
        try await withThrowingTaskGroup(of: (Int, Attempt).self) { group in
            for (index, context) in contexts.enumerated() {
                group.addTask { (index, try await self.open(context.start(), context: context)) }
            }
            var opened = [Attempt?](repeating: nil, count: contexts.count)
            var failure: (any Error)?
            while let result = await group.nextResult() {
                switch result {
                case .success(let (index, attempt)): opened[index] = attempt
                case .failure(let error):
                    if failure == nil { failure = error }
                    group.cancelAll()
                }
            }
            if let failure {
                for attempt in opened.compactMap({ $0 }) { attempt.abandon() }
                throw failure
            }
            return opened.compactMap { $0 }
        }
    }

    /// One choice's engine body: `n` removed, and a `seed` moved on by the choice's index (seeded choices differ, and
    /// the same request gives the same choices again).
    static func choiceBody(_ body: ByteBuffer, choice: Int) throws(OpenAIError) -> ByteBuffer {
        guard var object = (try? JSONSerialization.jsonObject(with: Data(buffer: body))) as? [String: Any] else {
            throw OpenAIError.invalidRequest("The request body must be a JSON object.", code: "invalid_json")
        }
        object["n"] = nil
        if let seed = object["seed"] as? Int { object["seed"] = seed &+ choice }
        guard let data = try? JSONSerialization.data(withJSONObject: object, options: [.sortedKeys, .withoutEscapingSlashes]) else {
            throw OpenAIError.invalidRequest("The request body cannot be split into choices.", code: "invalid_json")
        }
        return ByteBuffer(bytes: data)
    }

    /// Buffered answers joined as one: the first's fields, every answer's choice under its index, usage summed (the
    /// prompt once, as OpenAI counts it for `n`).
    static func joinAnswers(_ answers: [ByteBuffer], id: String, nodes: [NodeID]) throws(OpenAIError) -> [UInt8] {
        var joined: [String: Any] = [:]
        var choices: [Any] = []
        var prompt = 0
        var completion = 0
        for (index, answer) in answers.enumerated() {
            guard let object = (try? JSONSerialization.jsonObject(with: Data(buffer: answer))) as? [String: Any],
                var choice = (object["choices"] as? [Any])?.first as? [String: Any]
            else { throw OpenAIError.nodeFailed("Node \(nodes[index]) answered with something other than a completion.") }
            if index == 0 { joined = object }
            choice["index"] = index
            choices.append(choice)
            let usage = object["usage"] as? [String: Any]
            if index == 0 { prompt = max(0, usage?["prompt_tokens"] as? Int ?? 0) }
            completion = completion.addingReportingOverflow(max(0, usage?["completion_tokens"] as? Int ?? 0)).partialValue
        }
        joined["id"] = id
        joined["choices"] = choices
        joined["usage"] = ["prompt_tokens": prompt, "completion_tokens": completion, "total_tokens": prompt &+ completion]
        guard let data = try? JSONSerialization.data(withJSONObject: joined, options: [.sortedKeys, .withoutEscapingSlashes]) else {
            throw OpenAIError.nodeFailed("The choices' answers could not be joined.")
        }
        return Array(data)
    }
}

/// Releases a request's tenant lease once every one of its choices has finished, with their tokens summed (unknown
/// if any choice's are: the reservation then stands).
final class LeaseRelease: Sendable {
    private let limiter: TenantLimiter
    private let lease: TenantLimits.Lease
    private let state = Mutex<(expected: Int, finished: Int, tokens: Int?)>((1, 0, 0))

    init(limiter: TenantLimiter, lease: TenantLimits.Lease) {
        self.limiter = limiter
        self.lease = lease
    }

    /// The request has `count` choices (before any of them can finish).
    func expect(_ count: Int) { state.withLock { $0.expected = count } }

    func choiceFinished(usage: TokenUsage?, ranOnNode: Bool) {
        let tokens = usage.map { $0.promptTokens &+ $0.completionTokens } ?? (ranOnNode ? nil : 0)
        let release = state.withLock { state -> (Bool, Int?) in
            state.finished += 1
            state.tokens = state.tokens.flatMap { sum in tokens.map { sum &+ $0 } }
            return (state.finished == state.expected, state.tokens)
        }
        if release.0 { limiter.finish(lease, actualTokens: release.1) }
    }
}

/// Each choice's usage, as its stream's usage chunk gave it; joined into the one chunk the client asked for.
final class ChoiceUsage: Sendable {
    private let counts: Mutex<[(prompt: Int, completion: Int)?]>

    init(count: Int) { counts = Mutex(Array(repeating: nil, count: count)) }

    func record(choice: Int, usage: [String: Any]) {
        let prompt = max(0, usage["prompt_tokens"] as? Int ?? 0)
        let completion = max(0, usage["completion_tokens"] as? Int ?? 0)
        counts.withLock { if $0.indices.contains(choice) { $0[choice] = (prompt, completion) } }
    }

    /// The joined usage chunk; nil when no choice reported usage.
    func chunk(id: String, model: String, endpoint: CompletionRequest.Endpoint) -> [UInt8]? {
        let known = counts.withLock { $0 }
        guard let first = known.compactMap({ $0 }).first else { return nil }
        let completion = known.compactMap { $0?.completion }.reduce(0, &+)
        let chunk: [String: Any] = [
            "id": id, "object": endpoint == .chatCompletions ? "chat.completion.chunk" : "text_completion", "model": model,
            "choices": [Any](),
            "usage": ["prompt_tokens": first.prompt, "completion_tokens": completion, "total_tokens": first.prompt &+ completion],
        ]
        return (try? JSONSerialization.data(withJSONObject: chunk, options: [.sortedKeys, .withoutEscapingSlashes])).map(Array.init)
    }
}

/// One choice's stream as the client gets it among the others: each event's choice `index` set to the choice's, the
/// answer's one id, the usage chunk and `[DONE]` held back for the joined end. An error event goes as it is.
final class ChoiceStreamFilter: ClientStreamFilter {
    let choice: Int
    let answerID: String
    let usage: ChoiceUsage
    private let pending = Mutex<[UInt8]>([])

    init(choice: Int, answerID: String, usage: ChoiceUsage) {
        self.choice = choice
        self.answerID = answerID
        self.usage = usage
    }

    var endsResponse: Bool { false }

    func client(_ bytes: ByteBuffer, ending: Bool) -> ByteBuffer {
        let events = pending.withLock { pending -> [String] in
            pending.append(contentsOf: bytes.readableBytesView)
            if ending, !pending.isEmpty { pending.append(contentsOf: Array("\n\n".utf8)) }
            var events: [String] = []
            while let (data, length) = ResponsesStreamTranslator.firstEvent(in: pending) {
                events.append(data)
                pending.removeFirst(length)
            }
            // The relay hands over whole events, each within the event limit: more is no event.
            if pending.count > ResponsesStreamTranslator.maximumPendingBytes { pending = [] }
            return events
        }
        var out = ByteBuffer()
        for data in events { out.writeBytes(rewrite(data)) }
        return out
    }

    private func rewrite(_ data: String) -> [UInt8] {
        guard data != "[DONE]", !data.isEmpty else { return [] }
        guard var object = (try? JSONSerialization.jsonObject(with: Data(data.utf8))) as? [String: Any] else { return [] }
        if object["error"] != nil { return Array("data: \(data)\n\n".utf8) }
        if let counts = object["usage"] as? [String: Any] {
            usage.record(choice: choice, usage: counts)
            object["usage"] = nil
        }
        guard let choices = object["choices"] as? [Any], !choices.isEmpty else { return [] }
        object["choices"] = choices.map { element -> Any in
            guard var entry = element as? [String: Any] else { return element }
            entry["index"] = choice
            return entry
        }
        object["id"] = answerID
        guard let json = try? JSONSerialization.data(withJSONObject: object, options: [.sortedKeys, .withoutEscapingSlashes]) else {
            return []
        }
        return Array("data: ".utf8) + Array(json) + Array("\n\n".utf8)
    }
}

/// A choice's writer: its bytes go to the client's connection as the relay's own do; the response's end is the
/// request's to write, after every choice.
struct ChoiceWriter: ResponseBodyWriter {
    let channel: any Channel

    mutating func write(_ buffer: ByteBuffer) async throws {
        guard buffer.readableBytes > 0 else { return }
        try await channel.writeAndFlush(HTTPResponsePart.body(buffer))
    }

    consuming func finish(_ trailingHeaders: HTTPFields?) async throws {}
}
