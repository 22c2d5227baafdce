import Foundation
import Hummingbird
import NIOCore
import Synchronization

/// A small OpenADR 3.1 VTN for tests: OAuth2 client-credentials tokens, `/programs`, `/events` (filtered by
/// `targets`), and `/reports` it keeps for the test to inspect. Binds loopback on a port the kernel picks.
final class VTNStandIn: Sendable {
    struct State {
        /// The events resource, as JSON (an array).
        var events = Data("[]".utf8)
        var reports: [Data] = []
        var tokenRequests = 0
        /// `/vens` requests, which this VTN refuses (an older server without VEN registration).
        var venRequests = 0
        var reportWaiters: [CheckedContinuation<Data, Never>] = []
    }

    let clientID = "hearth-ven"
    let clientSecret = "s3cret"
    private let token = "token-\(UUID().uuidString)"
    private let state = Mutex(State())
    private let port = Mutex<(Int?, [CheckedContinuation<Int, Never>])>((nil, []))

    static let programs = #"[{"id":"program-1","objectType":"PROGRAM","programName":"feeder-relief","payloadDescriptors":[]}]"#

    /// How many times a VEN asked for `/vens`.
    var venRequests: Int { state.withLock { $0.venRequests } }

    func setEvents(_ events: [[String: Any]]) {
        let data = (try? JSONSerialization.data(withJSONObject: events)) ?? Data("[]".utf8)
        state.withLock { $0.events = data }
    }

    /// Waits for the next report the VEN posts.
    func nextReport() async -> [String: Any] {
        let data = await nextReportData()
        return (try? JSONSerialization.jsonObject(with: data) as? [String: Any]) ?? [:]
    }

    private func nextReportData() async -> Data {
        await withCheckedContinuation { continuation in
            let ready = state.withLock { state -> Data? in
                if !state.reports.isEmpty { return state.reports.removeFirst() }
                state.reportWaiters.append(continuation)
                return nil
            }
            if let ready { continuation.resume(returning: ready) }
        }
    }

    /// The bound port, once listening.
    func boundPort() async -> Int {
        await withCheckedContinuation { continuation in
            let ready = port.withLock { state -> Int? in
                if let bound = state.0 { return bound }
                state.1.append(continuation)
                return nil
            }
            if let ready { continuation.resume(returning: ready) }
        }
    }

    func application() -> some ApplicationProtocol {
        let router = Router()
        router.post("/auth/token") { request, _ -> Response in
            var request = request
            let form = String(buffer: try await request.collectBody(upTo: 4096))
            let fields = Dictionary(
                form.split(separator: "&").map { pair -> (String, String) in
                    let parts = pair.split(separator: "=", maxSplits: 1).map(String.init)
                    return (parts[0], (parts.count > 1 ? parts[1] : "").removingPercentEncoding ?? "")
                }, uniquingKeysWith: { a, _ in a })
            guard fields["grant_type"] == "client_credentials", fields["client_id"] == self.clientID,
                fields["client_secret"] == self.clientSecret
            else { return Self.json(["error": "invalid_client"], status: .unauthorized) }
            self.state.withLock { $0.tokenRequests += 1 }
            return Self.json(["access_token": self.token, "token_type": "Bearer", "expires_in": 3600])
        }
        router.get("/programs") { request, _ -> Response in
            guard self.authorized(request) else { return Self.json(["title": "Unauthorized", "status": 401], status: .unauthorized) }
            return Response(
                status: .ok, headers: [.contentType: "application/json"], body: .init(byteBuffer: ByteBuffer(string: Self.programs)))
        }
        router.get("/events") { request, _ -> Response in
            guard self.authorized(request) else { return Self.json(["title": "Unauthorized", "status": 401], status: .unauthorized) }
            let wanted = Set(request.uri.queryParameters.getAll("targets").map { String($0) })
            let all = (try? JSONSerialization.jsonObject(with: self.state.withLock { $0.events }) as? [[String: Any]]) ?? []
            let events = all.filter { event in
                guard !wanted.isEmpty, let targets = event["targets"] as? [String] else { return true }
                return !wanted.isDisjoint(with: targets)
            }
            return Self.json(events)
        }
        router.get("/vens") { _, _ -> Response in
            self.state.withLock { $0.venRequests += 1 }
            return Self.json(["title": "Not Found", "status": 404], status: .notFound)
        }
        router.post("/reports") { request, _ -> Response in
            guard self.authorized(request) else { return Self.json(["title": "Unauthorized", "status": 401], status: .unauthorized) }
            var request = request
            let body = try await request.collectBody(upTo: 1 << 20)
            let report = Data(buffer: body)
            guard (try? JSONSerialization.jsonObject(with: report)) is [String: Any] else {
                return Self.json(["title": "Bad Request", "status": 400], status: .badRequest)
            }
            let waiter = self.state.withLock { state -> CheckedContinuation<Data, Never>? in
                if state.reportWaiters.isEmpty {
                    state.reports.append(report)
                    return nil
                }
                return state.reportWaiters.removeFirst()
            }
            waiter?.resume(returning: report)
            return Response(
                status: .created, headers: [.contentType: "application/json"], body: .init(byteBuffer: ByteBuffer(data: report)))
        }
        return Application(
            router: router, configuration: .init(address: .hostname("127.0.0.1", port: 0)),
            onServerRunning: { channel in
                let bound = channel.localAddress?.port ?? 0
                let waiters = self.port.withLock { state in
                    state.0 = bound
                    defer { state.1 = [] }
                    return state.1
                }
                for waiter in waiters { waiter.resume(returning: bound) }
            })
    }

    private func authorized(_ request: Request) -> Bool {
        request.headers[.authorization] == "Bearer \(token)"
    }

    private static func json(_ object: Any, status: HTTPResponse.Status = .ok) -> Response {
        let data = (try? JSONSerialization.data(withJSONObject: object)) ?? Data()
        return Response(status: status, headers: [.contentType: "application/json"], body: .init(byteBuffer: ByteBuffer(data: data)))
    }
}
