import Foundation
import HearthCore
import Hummingbird
import NIOCore
import NIOFoundationCompat

/// `GET /admin/measurements`, `POST /admin/measurements/{digest}/approve|retire` (body `{"label": "..."}`): the
/// software releases nodes may run, managed per release (``GatewayIdentity/decideMeasurement(_:digest:label:actor:)``).
extension AdminRoutes {
    struct MeasurementView: Encodable {
        var digest: String
        var allowed: Bool
        var source: String
        var label: String?
        var decided_at: String?
        var nodes: [String]
    }

    static func addMeasurements(to router: Router<GatewayRequestContext>, identity: GatewayIdentity?) {
        router.get("/admin/measurements") { request, _ -> Response in
            _ = try await authorize(request, identity: identity)
            return try json(try await views(identity))
        }
        router.post("/admin/measurements/:digest/:action") { request, context -> Response in
            let actor = try await authorize(request, identity: identity)
            guard let identity else {
                throw OpenAIError(
                    status: .notFound, message: "This gateway has no node identities.", type: "invalid_request_error", code: "not_found")
            }
            let decision: MeasurementApprovals.Decision
            switch context.parameters.get("action") {
            case "approve": decision = .approved
            case "retire": decision = .retired
            default:
                throw OpenAIError(
                    status: .notFound, message: "Actions are approve and retire.", type: "invalid_request_error", code: "unknown_action")
            }
            var request = request
            let body = try await request.collectBody(upTo: 16 << 10)
            let label = ((try? JSONSerialization.jsonObject(with: Data(buffer: body))) as? [String: Any])?["label"] as? String ?? ""
            do {
                try await identity.decideMeasurement(decision, digest: context.parameters.get("digest") ?? "", label: label, actor: actor)
            } catch let failure as GatewayIdentity.Failure {
                throw OpenAIError.invalidRequest(failure.description, param: "digest", code: "invalid_measurement")
            }
            return try json(try await views(identity))
        }
    }

    private static func views(_ identity: GatewayIdentity?) async throws -> [MeasurementView] {
        let formatter = ISO8601DateFormatter()
        return try await identity?.measurements().map {
            MeasurementView(
                digest: $0.digest, allowed: $0.allowed, source: $0.source, label: $0.label,
                decided_at: $0.decidedAt.map { formatter.string(from: $0) }, nodes: $0.nodes.map(\.rawValue))
        } ?? []
    }
}
