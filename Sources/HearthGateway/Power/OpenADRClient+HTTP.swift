import AsyncHTTPClient
import Foundation
import HearthCore
import Logging
import NIOCore
import NIOFoundationCompat

/// The VEN's HTTP: tokens, registration, subscription, paged reads and posts.
extension OpenADRClient {
    /// Pages read per list before the VEN gives up on it (at the default page size, 10,000 objects).
    static let maximumPages = 200

    func bearerToken() async throws -> String {
        if let token = state.withLock({ $0.token }), token.expires > .now { return token.value }
        var request = HTTPClientRequest(url: try await tokenURL())
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
        let lifetime = max(0, min(decoded.expires_in ?? 3600, 86_400) - 60)
        state.withLock { $0.token = Token(value: decoded.access_token, expires: .now + .seconds(lifetime)) }
        return decoded.access_token
    }

    /// The configured token endpoint, else the one `/auth/server` names, else `/auth/token`.
    private func tokenURL() async throws -> String {
        if let configured = configuration.tokenPath { return url(configured) }
        if let known = state.withLock({ $0.tokenURL }) { return known }
        var discovered = url("/auth/token")
        do {
            var request = HTTPClientRequest(url: url("/auth/server"))
            request.headers.add(name: "Accept", value: "application/json")
            let response = try await http.execute(request, timeout: .seconds(10))
            let body = try await response.body.collect(upTo: 1 << 16)
            if response.status == .ok, let info = try? JSONDecoder().decode(OpenADR.AuthServerInfo.self, from: body),
                info.tokenURL.hasPrefix("http://") || info.tokenURL.hasPrefix("https://")
            {
                discovered = info.tokenURL
            }
        } catch {
            logger.info("the VTN's /auth/server could not be read; using /auth/token", metadata: ["error": "\(error)"])
        }
        state.withLock { $0.tokenURL = discovered }
        return discovered
    }

    /// Registers the VEN under `/vens` once (found by name, else created) and subscribes to notifications when a
    /// callback URL is configured. A VTN that refuses either is logged and polled all the same.
    func registerIfNeeded(token: String) async {
        if let again = state.withLock({ $0.registerAgainAt }), ContinuousClock.now < again { return }
        if state.withLock({ $0.registeredTargets == nil }) {
            do {
                let name = Self.percentEncoded(configuration.venName)
                let found: [OpenADR.Lossy<OpenADR.Ven>] = try await get("/vens?venName=\(name)", token: token)
                var ven = found.compactMap(\.element).first { $0.venName == configuration.venName }
                if ven == nil {
                    ven = try await post("/vens", body: OpenADR.VenRequest(venName: configuration.venName), token: token)
                    logger.info("registered the VEN", metadata: ["ven": "\(configuration.venName)", "id": "\(ven?.id ?? "")"])
                }
                state.withLock { $0.registeredTargets = ven?.targets?.values ?? [] }
            } catch {
                logger.warning("could not register the VEN under /vens; trying again in 5 minutes", metadata: ["error": "\(error)"])
                state.withLock { $0.registerAgainAt = .now + Self.retryRegistration }
            }
        }
        guard let callback = configuration.callbackURL, !state.withLock({ $0.subscribed }) else { return }
        do {
            let mine: [OpenADR.Lossy<OpenADR.Subscription>] = try await get(
                "/subscriptions?clientName=\(Self.percentEncoded(configuration.venName))", token: token)
            // An earlier run's subscription holds another token: replaced, so the VTN's notifications are heard.
            for old in mine.compactMap(\.element) where old.objectOperations.contains(where: { $0.callbackUrl == callback }) {
                if let id = old.id { try? await delete("/subscriptions/\(Self.percentEncoded(id))", token: token) }
            }
            let subscription = OpenADR.Subscription(
                clientName: configuration.venName,
                objectOperations: [
                    OpenADR.ObjectOperation(
                        objects: ["PROGRAM", "EVENT"], operations: ["POST", "PUT", "DELETE"], callbackUrl: callback,
                        bearerToken: notificationToken)
                ])
            let _: OpenADR.Subscription = try await post("/subscriptions", body: subscription, token: token)
            state.withLock { $0.subscribed = true }
            logger.info("subscribed to the VTN's notifications", metadata: ["callback": "\(callback)"])
        } catch {
            logger.warning(
                "could not subscribe to the VTN's notifications; polling only, trying again in 5 minutes", metadata: ["error": "\(error)"])
            state.withLock { $0.registerAgainAt = .now + Self.retryRegistration }
        }
    }

    /// How long a refused registration or subscription waits before it is tried again.
    static let retryRegistration = Duration.seconds(300)

    /// Every page of a list (`skip`/`limit`), until a page comes back short.
    func getAll<Element: Decodable>(_ path: String, token: String) async throws -> [Element] {
        var all: [Element] = []
        let limit = configuration.pageSize
        for page in 0..<Self.maximumPages {
            let separator = path.contains("?") ? "&" : "?"
            let items: [Element] = try await get("\(path)\(separator)skip=\(page * limit)&limit=\(limit)", token: token)
            all += items
            if items.count < limit { return all }
        }
        throw Failure.tooManyPages("GET \(path)")
    }

    func get<T: Decodable>(_ path: String, token: String) async throws -> T {
        var request = HTTPClientRequest(url: url(path))
        request.headers.add(name: "Authorization", value: "Bearer \(token)")
        request.headers.add(name: "Accept", value: "application/json")
        let response = try await http.execute(request, timeout: .seconds(10))
        let body = try await response.body.collect(upTo: 8 << 20)
        if response.status == .unauthorized { state.withLock { $0.token = nil } }
        guard response.status == .ok else { throw Failure.http("GET \(path)", status: response.status.code) }
        do { return try JSONDecoder().decode(T.self, from: body) } catch { throw Failure.unreadable("GET \(path)", error) }
    }

    func post(_ path: String, body: some Encodable, token: String) async throws {
        _ = try await send("POST", path, body: body, token: token)
    }

    func post<T: Decodable>(_ path: String, body: some Encodable, token: String) async throws -> T {
        let answer = try await send("POST", path, body: body, token: token)
        do { return try JSONDecoder().decode(T.self, from: answer) } catch { throw Failure.unreadable("POST \(path)", error) }
    }

    func delete(_ path: String, token: String) async throws {
        _ = try await send("DELETE", path, body: String?.none, token: token)
    }

    private func send(_ method: String, _ path: String, body: (some Encodable)?, token: String) async throws -> ByteBuffer {
        var request = HTTPClientRequest(url: url(path))
        request.method = .init(rawValue: method)
        request.headers.add(name: "Authorization", value: "Bearer \(token)")
        request.headers.add(name: "Accept", value: "application/json")
        if let body {
            request.headers.add(name: "Content-Type", value: "application/json")
            request.body = .bytes(ByteBuffer(data: try JSONEncoder().encode(body)))
        }
        let response = try await http.execute(request, timeout: .seconds(10))
        let answer = try await response.body.collect(upTo: 1 << 20)
        if response.status == .unauthorized { state.withLock { $0.token = nil } }
        guard (200..<300).contains(response.status.code) else { throw Failure.http("\(method) \(path)", status: response.status.code) }
        return answer
    }

    func url(_ path: String) -> String {
        path.hasPrefix("http://") || path.hasPrefix("https://") ? path : configuration.baseURL + path
    }

    static func percentEncoded(_ text: String) -> String {
        var allowed = CharacterSet.alphanumerics
        allowed.insert(charactersIn: "-._~")
        return text.addingPercentEncoding(withAllowedCharacters: allowed) ?? text
    }
}
