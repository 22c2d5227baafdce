import Foundation
import HTTPTypes
import HearthCore
import HearthProtocol
import Hummingbird
import NIOCore
import Synchronization

/// Asking the scheduler for a node, and the values placement reads from a request's headers.
extension InferenceRelay {
    /// Asks the scheduler for a node; holds the request while the scheduler says it can still meet its
    /// target later (`queue`), and maps a refusal to 404, 429 or 503.
    /// `mayQueue` false: only a node that takes it now (a hedge never waits).
    func place(
        _ request: SchedulingRequest, security: RequestSecurity, excluding: Set<NodeID>, mayQueue: Bool = true
    ) async throws -> (Reservation, String, predictedTTFT: Double, bestEffort: Bool) {
        let taskClass = request.taskClass
        if registry.nodeIDs.isEmpty {
            throw OpenAIError.noCapacity("No node is connected to this gateway.", retryAfterSeconds: 5, overloaded: false)
        }
        if !registry.servedModels().contains(where: { $0.id == request.model }) {
            // Not served by an admitting node: unknown to the fleet (404), or all its nodes are draining (503).
            throw !registry.serves(request.model)
                ? OpenAIError.modelNotFound(request.model)
                : OpenAIError.noCapacity("Every node serving \(request.model) is draining.", retryAfterSeconds: 5, overloaded: false)
        }
        // A retry may wait for a slot until this point (see GatewayConfiguration.retryQueueSeconds).
        let retryDeadline = excluding.isEmpty ? -Double.infinity : scheduler.now + configuration.retryQueueSeconds
        while true {
            let capacity = registry.capacityChanges()
            let (decision, claim) = scheduler.decide(request, security: security, excluding: excluding)
            metrics.decision(policy: scheduler.policy.rawValue, outcome: decision.outcomeLabel)
            switch decision {
            case .place(let placement):
                guard let session = registry.acquire(placement.node) else {
                    scheduler.finished(
                        placement.node, promptTokens: request.promptTokens, model: request.model, observed: nil, claim: claim)
                    continue  // it left between the decision and now: decide again
                }
                let reservation = Reservation(
                    session: session,
                    model: request.model,
                    promptTokens: request.promptTokens,
                    batch: scheduler.runningSequences(on: placement.node),
                    registry: registry,
                    scheduler: scheduler,
                    claim: claim
                )
                return (
                    reservation, Self.headerSafe(placement.reason.description), placement.prediction.ttftSeconds,
                    placement.reason.isBestEffort
                )
            case .queue(let until, let reason):
                // Wait for a node to free capacity (or join), but never past the point where the target is lost;
                // a retry waits up to its own deadline (its work is already owed; it adds no load while waiting).
                let wait = max(until, retryDeadline) - scheduler.now
                if mayQueue, wait > 0 {
                    if await capacity.wait(seconds: Self.finiteSeconds(wait)) { continue }
                    // A best-effort request whose target was lost while it waited is decided again: it is placed best
                    // effort where a slot is free, or waits for one within its bounded queue, rather than refused
                    // for a target it has already given up on.
                    if request.sloPolicy == .bestEffort, case .waitingForCapacity = reason { continue }
                }
                if case .noEligibleNode = reason {
                    // Held back by batch isolation: never say whose work holds the nodes.
                    throw OpenAIError.noCapacity(
                        "Every node that can serve this \(security.dataClass.rawValue) request is running another tenant's isolated work.",
                        retryAfterSeconds: 1, overloaded: true)
                }
                throw OpenAIError.noCapacity(
                    "No node can meet the \(taskClass.rawValue) target now: \(reason.description)",
                    retryAfterSeconds: 1,
                    overloaded: true
                )
            case .refuse(let retryAfter, let reason):
                if case .noNodeServesModel = reason { throw OpenAIError.modelNotFound(request.model) }
                if case .noEligibleNode = reason, retryAfter == nil,
                    !scheduler.hasNode(
                        for: security.dataClass, model: request.model, cleanWindowSeconds: security.cleanWindowSeconds)
                {
                    // No connected node meets the data class at all (tamper window, attestation, trust): say so.
                    throw OpenAIError.dataClassUnavailable(security.dataClass)
                }
                throw OpenAIError.noCapacity(
                    "No node can take this \(taskClass.rawValue) request: \(reason.description)",
                    retryAfterSeconds: retryAfter.map { max(1, Int(Self.finiteSeconds($0).rounded(.up))) } ?? 5,
                    overloaded: retryAfter != nil
                )
            }
        }
    }

    /// The client's `X-Hearth-SLO-Policy` (`strict` or `best-effort`), or else `fallback`: the request's
    /// `metadata.slo_policy`, the tenant's policy, the gateway's default, in that order.
    static func sloPolicy(header: String?, default fallback: SLOPolicy) throws -> SLOPolicy {
        guard let header else { return fallback }
        guard let policy = SLOPolicy(rawValue: header.lowercased()) else {
            throw OpenAIError.invalidRequest(
                "X-Hearth-SLO-Policy must be one of \(SLOPolicy.names).",
                param: "X-Hearth-SLO-Policy", code: "invalid_value")
        }
        return policy
    }

    /// Seconds from a prediction (built on node-declared profiles: never trusted to be finite or sane) within
    /// 0...3600, so that no conversion to an integer can trap.
    static func finiteSeconds(_ seconds: Double) -> Double { seconds.isNaN ? 0 : min(max(seconds, 0), 3600) }

    /// Header values must be visible ASCII.
    static func headerSafe(_ text: String) -> String {
        String(text.unicodeScalars.map { $0.isASCII && $0.value >= 0x20 && $0.value < 0x7F ? Character($0) : "?" })
    }
}
