import Foundation
import HTTPTypes
import Hummingbird
import NIOCore

/// `GET /v1/usage?from=&to=`: a tenant's own usage, read with its own key, from the same rows the ledger writes (so
/// the figures are the bill's). `from` and `to` are RFC 3339 date-times, dates (`2026-12-01`, UTC midnight) or Unix
/// seconds; `to` defaults to now and `from` to 30 days before it; the range may span at most 366 days.
enum UsageRoute {
    static let path = "/v1/usage"
    static let longestRangeSeconds = 366.0 * 86_400

    static func add(
        to router: Router<GatewayRequestContext>, authenticator: APIKeyAuthenticator, store: any FleetStore, spend: TenantSpend
    ) {
        router.get(RouterPath(path)) { request, _ -> Response in
            let policy = try await authenticator.policy(authorization: request.headers[.authorization])
            let query = request.uri.queryParameters
            let to = try query["to"].map { try Self.instant(String($0), param: "to") } ?? spend.now()
            let from = try query["from"].map { try Self.instant(String($0), param: "from") } ?? to.addingTimeInterval(-30 * 86_400)
            guard from < to else { throw OpenAIError.invalidRequest("'from' must be before 'to'.", param: "from", code: "invalid_value") }
            guard to.timeIntervalSince(from) <= longestRangeSeconds else {
                throw OpenAIError.invalidRequest("The range may span at most 366 days.", param: "from", code: "invalid_value")
            }
            let totals = try await store.usageTotals(tenant: policy.tenant, from: from, to: to)
            var document = document(tenant: policy.tenant, from: from, to: to, totals: totals)
            if let standing = try await spend.standing(policy) {
                document["budget"] = [
                    "period": standing.budget.period.rawValue, "limit_usd": Dollars.value(standing.budget.limitMicros),
                    "spent_usd": Dollars.value(standing.spentMicros),
                    "remaining_usd": Dollars.value(max(0, standing.budget.limitMicros - standing.spentMicros)),
                    "resets_at": ISO8601DateFormatter().string(from: standing.resetsAt),
                ]
            }
            let body = try JSONSerialization.data(withJSONObject: document, options: [.sortedKeys])
            return Response(status: .ok, headers: [.contentType: "application/json"], body: .init(byteBuffer: ByteBuffer(bytes: body)))
        }
    }

    /// The tenant's totals, by outcome, by model and by key; costs in dollars at the prices in force when each row was
    /// written.
    static func document(tenant: String, from: Date, to: Date, totals: [UsageTotal]) -> [String: Any] {
        let formatter = ISO8601DateFormatter()
        var outcomes: [String: Int] = [:]
        var models: [String: [String: Any]] = [:]
        var modelCosts: [String: Int64] = [:]
        var keys: [String: (requests: Int, prompt: Int, completion: Int, cost: Int64)] = [:]
        for total in totals {
            modelCosts[total.model, default: 0] &+= total.costMicros
            let key = total.apiKeyID ?? "unknown"
            var byKey = keys[key] ?? (0, 0, 0, 0)
            byKey.requests += total.requests
            byKey.prompt += total.promptTokens
            byKey.completion += total.completionTokens
            byKey.cost &+= total.costMicros
            keys[key] = byKey
            outcomes[total.outcome.rawValue, default: 0] += total.requests
            var model =
                models[total.model] ?? [
                    "model": total.model, "requests": 0, "prompt_tokens": 0, "completion_tokens": 0, "cached_prompt_tokens": 0,
                    "outcomes": [String: Int](),
                ]
            model["requests"] = (model["requests"] as? Int ?? 0) + total.requests
            model["prompt_tokens"] = (model["prompt_tokens"] as? Int ?? 0) + total.promptTokens
            model["completion_tokens"] = (model["completion_tokens"] as? Int ?? 0) + total.completionTokens
            model["cached_prompt_tokens"] = (model["cached_prompt_tokens"] as? Int ?? 0) + total.cachedPromptTokens
            var byOutcome = model["outcomes"] as? [String: Int] ?? [:]
            byOutcome[total.outcome.rawValue, default: 0] += total.requests
            model["outcomes"] = byOutcome
            models[total.model] = model
        }
        return [
            "object": "usage", "tenant": tenant, "from": formatter.string(from: from), "to": formatter.string(from: to),
            "requests": totals.reduce(0) { $0 + $1.requests }, "prompt_tokens": totals.reduce(0) { $0 + $1.promptTokens },
            "completion_tokens": totals.reduce(0) { $0 + $1.completionTokens },
            "cached_prompt_tokens": totals.reduce(0) { $0 + $1.cachedPromptTokens }, "outcomes": outcomes,
            "models": models.keys.sorted().map { model in
                var entry = models[model] ?? [:]
                entry["cost_usd"] = Dollars.value(modelCosts[model] ?? 0)
                return entry
            },
            "cost_usd": Dollars.value(totals.reduce(Int64(0)) { $0 &+ $1.costMicros }),
            "keys": keys.keys.sorted().map { key in
                let byKey = keys[key] ?? (0, 0, 0, 0)
                return [
                    "key_id": key, "requests": byKey.requests, "prompt_tokens": byKey.prompt, "completion_tokens": byKey.completion,
                    "cost_usd": Dollars.value(byKey.cost),
                ] as [String: Any]
            },
        ]
    }

    /// An RFC 3339 date-time, a date (UTC midnight) or Unix seconds.
    static func instant(_ text: String, param: String) throws -> Date {
        if let seconds = Double(text), seconds.isFinite, seconds >= 0, seconds < 1e11 { return Date(timeIntervalSince1970: seconds) }
        let full = ISO8601DateFormatter()
        full.formatOptions = [.withInternetDateTime, .withFractionalSeconds]
        let plain = ISO8601DateFormatter()
        let day = ISO8601DateFormatter()
        day.formatOptions = [.withFullDate]
        if text.count <= 40, let date = plain.date(from: text) ?? full.date(from: text) ?? day.date(from: text) { return date }
        throw OpenAIError.invalidRequest(
            "'\(param)' must be an RFC 3339 date-time, a date (YYYY-MM-DD) or Unix seconds.", param: param, code: "invalid_value")
    }
}
