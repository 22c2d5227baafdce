public import AsyncHTTPClient
import Foundation
public import HearthCore
public import Logging
import NIOCore
import NIOFoundationCompat
public import ServiceLifecycle
import Synchronization

/// Where the gateway's OpenADR client (VEN) finds its utility's VTN, and who it is there.
public struct OpenADRConfiguration: Sendable {
    /// The VTN's API root, e.g. `https://vtn.example/openadr3/3.1.0` (resources are `{base}/programs`, …).
    public var baseURL: String
    public var clientID: String
    public var clientSecret: String
    /// OAuth2 token endpoint: a path under ``baseURL`` (`/auth/token`) or an absolute URL.
    public var tokenPath = "/auth/token"
    /// This VEN's name in reports (`clientName`).
    public var venName = "hearth-gateway"
    /// Only events targeting one of these (nodes, homes, transformers, groups) are fetched; empty: all events.
    public var targets: [String] = []
    public var pollInterval: Duration = .seconds(10)

    public init(baseURL: String, clientID: String, clientSecret: String) {
        self.baseURL = baseURL
        self.clientID = clientID
        self.clientSecret = clientSecret
    }
}

/// An OpenADR 3.1 VEN (OpenADR Alliance, "OpenADR 3.1.0 Specification", 2024: the REST resources `programs`,
/// `events` and `reports` and OAuth2 client-credentials authentication).
///
/// Each poll: obtain a bearer token from the token endpoint with `grant_type=client_credentials` (renewed a
/// minute before `expires_in`), read `/programs` and `/events?targets=…` (3.1 filters events by target strings),
/// turn every `IMPORT_CAPACITY_LIMIT` and `SIMPLE` interval into a ``GridEvent`` (honouring each interval's
/// `intervalPeriod` start, duration and `randomizeStart`), hand them to the ``PowerCoordinator``, and post one
/// `/reports` entry per event once it has started, with each node's draw in kW (`DEMAND`, `DIRECT_READ`).
/// A VTN that cannot be reached keeps the last events in force until they end (they carry their own times).
public final class OpenADRClient: Service, Sendable {
    public enum Failure: Error, CustomStringConvertible {
        case http(String, status: UInt)
        case unreadable(String, any Error)

        public var description: String {
            switch self {
            case .http(let what, let status): "OpenADR \(what): HTTP \(status)"
            case .unreadable(let what, let error): "OpenADR \(what): unreadable response (\(error))"
            }
        }
    }

    private struct Token {
        var value: String
        var expires: ContinuousClock.Instant
    }

    private struct State {
        var token: Token?
        var reported: Set<String> = []
        var programs: [OpenADR.Program] = []
    }

    public let configuration: OpenADRConfiguration
    private let coordinator: PowerCoordinator
    private let http: HTTPClient
    private let logger: Logger
    private let state = Mutex(State())

    public init(configuration: OpenADRConfiguration, coordinator: PowerCoordinator, logger: Logger) {
        self.configuration = configuration
        self.coordinator = coordinator
        self.http = HTTPClient.shared
        self.logger = logger
    }

    public func run() async throws {
        await cancelWhenGracefulShutdown {
            while !Task.isCancelled {
                // Among replicas, only the power coordinator talks to the grid operator: one fleet, one VEN.
                if self.coordinator.isCoordinating {
                    do { try await self.poll() } catch { self.logger.warning("OpenADR poll failed", metadata: ["error": "\(error)"]) }
                }
                do { try await Task.sleep(for: self.configuration.pollInterval) } catch { return }
            }
        }
    }

    /// One poll: token, programs, events, apply, reports. Returns the grid events now known.
    @discardableResult
    public func poll() async throws -> [GridEvent] {
        let token = try await bearerToken()
        let programs: [OpenADR.Program] = try await get("/programs", token: token)
        state.withLock { $0.programs = programs }
        var query = ""
        if !configuration.targets.isEmpty {
            query = "?" + configuration.targets.map { "targets=\(Self.percentEncoded($0))" }.joined(separator: "&")
        }
        // One event the VEN cannot read never hides the others: each is read on its own, and refusals are logged.
        let listed: [OpenADR.Lossy<OpenADR.Event>] = try await get("/events" + query, token: token)
        for problem in listed.compactMap(\.problem) {
            logger.warning("ignored an event the VEN cannot read", metadata: ["problem": "\(problem.prefix(300))"])
        }
        let events = listed.compactMap(\.element)
        let now = Date().timeIntervalSince1970
        let known = Set(programs.compactMap(\.id))
        var gridEvents: [GridEvent] = []
        for event in events where known.isEmpty || known.contains(event.programID) {
            let read = OpenADR.readGridEvents(from: event, now: now)
            gridEvents += read.events
            for refusal in read.refused { logger.warning("refused part of an event", metadata: ["refusal": "\(refusal)"]) }
        }
        coordinator.setGridEvents(gridEvents)
        try await report(events, gridEvents: gridEvents, now: now, token: token)
        return gridEvents
    }

    /// Posts one report per started event (once), with what each node draws now.
    private func report(_ events: [OpenADR.Event], gridEvents: [GridEvent], now: Double, token: String) async throws {
        for event in events {
            guard let id = event.id else { continue }
            let started = gridEvents.filter { $0.id.hasPrefix(id + "#") && now >= $0.start }
            guard let first = started.first, !state.withLock({ $0.reported.contains(id) }) else { continue }
            let period = OpenADR.IntervalPeriod(
                start: ISO8601DateFormatter().string(from: Date(timeIntervalSince1970: now)), duration: "PT0S")
            let report = OpenADR.Report.demand(
                programID: event.programID, eventID: id, clientName: configuration.venName, period: period,
                kilowattsByNode: coordinator.currentDrawKilowatts())
            try await post("/reports", body: report, token: token)
            state.withLock { _ = $0.reported.insert(id) }
            logger.info("reported to the VTN", metadata: ["event": "\(id)", "signal": "\(first.signal)"])
        }
    }

    private func bearerToken() async throws -> String {
        if let token = state.withLock({ $0.token }), token.expires > .now { return token.value }
        var request = HTTPClientRequest(url: url(configuration.tokenPath))
        request.method = .POST
        request.headers.add(name: "Content-Type", value: "application/x-www-form-urlencoded")
        request.headers.add(name: "Accept", value: "application/json")
        let form =
            "grant_type=client_credentials&client_id=\(Self.percentEncoded(configuration.clientID))"
            + "&client_secret=\(Self.percentEncoded(configuration.clientSecret))"
        request.body = .bytes(ByteBuffer(string: form))
        let response = try await http.execute(request, timeout: .seconds(10))
        let body = try await response.body.collect(upTo: 1 << 20)
        guard response.status == .ok else { throw Failure.http("token", status: response.status.code) }
        struct TokenResponse: Decodable {
            var access_token: String
            var expires_in: Double?
        }
        let decoded: TokenResponse
        do { decoded = try JSONDecoder().decode(TokenResponse.self, from: body) } catch { throw Failure.unreadable("token", error) }
        let lifetime = max(0, (decoded.expires_in ?? 3600) - 60)
        state.withLock { $0.token = Token(value: decoded.access_token, expires: .now + .seconds(lifetime)) }
        return decoded.access_token
    }

    private func get<T: Decodable>(_ path: String, token: String) async throws -> T {
        var request = HTTPClientRequest(url: url(path))
        request.headers.add(name: "Authorization", value: "Bearer \(token)")
        request.headers.add(name: "Accept", value: "application/json")
        let response = try await http.execute(request, timeout: .seconds(10))
        let body = try await response.body.collect(upTo: 8 << 20)
        if response.status == .unauthorized { state.withLock { $0.token = nil } }
        guard response.status == .ok else { throw Failure.http("GET \(path)", status: response.status.code) }
        do { return try JSONDecoder().decode(T.self, from: body) } catch { throw Failure.unreadable("GET \(path)", error) }
    }

    private func post(_ path: String, body: some Encodable, token: String) async throws {
        var request = HTTPClientRequest(url: url(path))
        request.method = .POST
        request.headers.add(name: "Authorization", value: "Bearer \(token)")
        request.headers.add(name: "Content-Type", value: "application/json")
        request.body = .bytes(ByteBuffer(data: try JSONEncoder().encode(body)))
        let response = try await http.execute(request, timeout: .seconds(10))
        _ = try await response.body.collect(upTo: 1 << 20)
        guard (200..<300).contains(response.status.code) else { throw Failure.http("POST \(path)", status: response.status.code) }
    }

    private func url(_ path: String) -> String {
        path.hasPrefix("http://") || path.hasPrefix("https://") ? path : configuration.baseURL + path
    }

    private static func percentEncoded(_ text: String) -> String {
        var allowed = CharacterSet.alphanumerics
        allowed.insert(charactersIn: "-._~")
        return text.addingPercentEncoding(withAllowedCharacters: allowed) ?? text
    }
}
