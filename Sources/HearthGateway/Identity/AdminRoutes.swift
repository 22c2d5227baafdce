import Foundation
import HTTPTypes
import HearthCore
import HearthProtocol
import Hummingbird
import NIOCore
import NIOFoundationCompat

/// The operators' API (`/admin/...`, bearer operator key) and the nodes' enrollment endpoint.
enum AdminRoutes {
    static func add(to router: Router<GatewayRequestContext>, identity: GatewayIdentity?, registry: NodeRegistry) {
        router.post("/v1/nodes/enroll") { request, _ -> Response in
            guard let identity else {
                throw OpenAIError(
                    status: .notFound, message: "This gateway does not enroll nodes.", type: "invalid_request_error", code: "not_found")
            }
            var request = request
            let body = try await request.collectBody(upTo: 64 << 10)
            let enrollment: EnrollmentRequest
            do { enrollment = try JSONDecoder().decode(EnrollmentRequest.self, from: Data(buffer: body)) } catch {
                throw OpenAIError.invalidRequest(
                    "The enrollment request is not valid JSON of the expected shape.", param: nil, code: "invalid_json")
            }
            do {
                return try json(try await identity.enroll(enrollment))
            } catch let failure as GatewayIdentity.Failure {
                throw OpenAIError(status: .forbidden, message: failure.description, type: "permission_error", code: "enrollment_refused")
            } catch {
                throw OpenAIError(status: .badRequest, message: "\(error)", type: "invalid_request_error", code: "enrollment_refused")
            }
        }

        router.get("/admin/nodes") { request, _ -> Response in
            let actor = try await authorize(request, identity: identity)
            _ = actor
            return try json(nodeList(identity: identity, registry: registry))
        }
        router.get("/admin/nodes/:id") { request, context -> Response in
            _ = try await authorize(request, identity: identity)
            let id = context.parameters.get("id") ?? ""
            guard let node = nodeList(identity: identity, registry: registry).first(where: { $0.id == id }) else {
                throw OpenAIError(status: .notFound, message: "No node \(id).", type: "invalid_request_error", code: "node_not_found")
            }
            return try json(node)
        }
        router.post("/admin/nodes/:id/:action") { request, context -> Response in
            let actor = try await authorize(request, identity: identity)
            guard let identity else {
                throw OpenAIError(
                    status: .notFound, message: "This gateway has no node identities.", type: "invalid_request_error", code: "not_found")
            }
            let id = NodeID(context.parameters.get("id") ?? "")
            guard let action = GatewayIdentity.OperatorAction(rawValue: context.parameters.get("action") ?? "") else {
                throw OpenAIError(
                    status: .notFound, message: "Actions are revoke, quarantine and release.", type: "invalid_request_error",
                    code: "unknown_action")
            }
            var request = request
            let body = try await request.collectBody(upTo: 16 << 10)
            let reason = ((try? JSONSerialization.jsonObject(with: Data(buffer: body))) as? [String: Any])?["reason"] as? String ?? ""
            do {
                try await identity.operatorAction(action, node: id, reason: reason, actor: actor)
            } catch let failure as GatewayIdentity.Failure {
                throw OpenAIError(status: .notFound, message: failure.description, type: "invalid_request_error", code: "node_not_found")
            }
            return try json(nodeList(identity: identity, registry: registry).first { $0.id == id.rawValue })
        }
        router.post("/admin/enrollment-tokens") { request, _ -> Response in
            let actor = try await authorize(request, identity: identity)
            guard let identity else {
                throw OpenAIError(
                    status: .notFound, message: "This gateway does not enroll nodes.", type: "invalid_request_error", code: "not_found")
            }
            var request = request
            let body = try await request.collectBody(upTo: 16 << 10)
            let order = try? JSONDecoder().decode(TokenOrder.self, from: Data(buffer: body))
            guard let order, let node = order.node.map(NodeID.init), GatewayIdentity.isWellFormed(node) else {
                throw OpenAIError.invalidRequest(
                    "A token names its node: {\"node\": \"ID\"} (1-128 of A-Z a-z 0-9 . _ -), optionally \"site\" and \"rekey\".",
                    param: "node", code: "invalid_node")
            }
            guard let site = NodeTrustPolicy.Site(rawValue: order.site ?? "home") else {
                throw OpenAIError.invalidRequest("site is home or data-centre.", param: "site", code: "invalid_site")
            }
            let token = try await identity.createEnrollmentToken(for: node, site: site, rekey: order.rekey ?? false, actor: actor)
            return try json(["token": token, "node": node.rawValue, "site": site.rawValue])
        }
        addMeasurements(to: router, identity: identity)
        router.post("/admin/operator-key/rotate") { request, _ -> Response in
            let actor = try await authorize(request, identity: identity)
            guard let identity else {
                throw OpenAIError(
                    status: .notFound, message: "This gateway has no operator keys.", type: "invalid_request_error", code: "not_found")
            }
            return try json(["operator_key": try await identity.rotateOperatorKey(actor: actor)])
        }
    }

    /// `POST /admin/enrollment-tokens` body: the node the token is for, its site, and whether it re-keys.
    struct TokenOrder: Decodable {
        var node: String?
        var site: String?
        var rekey: Bool?
    }

    /// A node as `hearth nodes list --json` prints it.
    struct NodeEntry: Codable {
        var id: String
        var state: String
        var models: [String]
        var lastHeartbeat: Double?
        var trust: String?
        var quarantineReason: String?
        var keyFingerprint: String?
        var site: String?
        /// The software measurement the node last attested (`hearth measurements`).
        var measurement: String?
        var power: String?
        /// Whether the scheduler places new work on it now (power, trust, engine health and link all allow it).
        var admitting: Bool?
        /// The node's own measurement of its link to the gateway (its last heartbeat's).
        var link: LinkReport?

        enum CodingKeys: String, CodingKey {
            case id, state, models, trust, site, power, admitting, link
            case lastHeartbeat = "last_heartbeat"
            case quarantineReason = "quarantine_reason"
            case keyFingerprint = "key_fingerprint"
        }
    }

    static func nodeList(identity: GatewayIdentity?, registry: NodeRegistry) -> [NodeEntry] {
        let sessions = Dictionary(uniqueKeysWithValues: registry.sessions().map { ($0.id, $0) })
        var entries: [String: NodeEntry] = [:]
        for status in identity?.statuses(connected: Set(sessions.keys)) ?? [] {
            let session = sessions[NodeID(status.id)]
            entries[status.id] = NodeEntry(
                id: status.id, state: status.state, models: session?.hello.models.map(\.id) ?? [],
                lastHeartbeat: identity?.lastHeartbeat(of: NodeID(status.id))?.timeIntervalSince1970, trust: status.trust,
                quarantineReason: status.quarantineReason, keyFingerprint: status.keyFingerprint, site: status.site,
                measurement: status.measurement, power: session?.lastHeartbeat?.power?.mode,
                admitting: session.map { registry.scheduler.isAdmitting($0.id) },
                link: session?.lastHeartbeat?.link)
        }
        for (id, session) in sessions where entries[id.rawValue] == nil {
            entries[id.rawValue] = NodeEntry(
                id: id.rawValue, state: "connected", models: session.hello.models.map(\.id),
                lastHeartbeat: session.lastHeardDate?.timeIntervalSince1970, power: session.lastHeartbeat?.power?.mode,
                admitting: registry.scheduler.isAdmitting(id), link: session.lastHeartbeat?.link)
        }
        return entries.values.sorted { $0.id < $1.id }
    }

    /// The operator behind the request's bearer key; 401 otherwise.
    static func authorize(_ request: Request, identity: GatewayIdentity?) async throws -> String {
        let header = request.headers[.authorization] ?? ""
        guard header.hasPrefix("Bearer "), let identity, await identity.isOperator(key: String(header.dropFirst(7))) else {
            throw OpenAIError(
                status: .unauthorized, message: "An operator key is required.", type: "invalid_request_error", code: "invalid_operator_key")
        }
        return "operator:" + String(GatewayIdentity.hash(String(header.dropFirst(7))).prefix(8))
    }

    static func json(_ value: some Encodable) throws -> Response {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys]
        return Response(
            status: .ok, headers: [.contentType: "application/json"], body: .init(byteBuffer: ByteBuffer(data: try encoder.encode(value))))
    }
}
