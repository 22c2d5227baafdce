import Foundation
import HearthCore
import Hummingbird
import NIOCore

/// `POST /openadr/notifications`: where the VTN tells the VEN that programs or events changed (3.1 webhook
/// subscriptions). The VTN must present the bearer token the VEN gave it; the notification only makes the VEN poll
/// at once, so a forged or replayed one can cost a poll, never change what the fleet applies.
enum OpenADRNotificationRoute {
    static let path = "/openadr/notifications"

    static func add(to router: Router<GatewayRequestContext>, client: OpenADRClient) {
        router.post(RouterPath(path)) { request, _ -> Response in
            let presented = request.headers[.authorization] ?? ""
            guard Self.sameBytes(presented, "Bearer \(client.notificationToken)") else {
                throw OpenAIError.unauthorized("Unknown notification token.")
            }
            var request = request
            let body = try await request.collectBody(upTo: 1 << 20)
            guard (try? JSONDecoder().decode(OpenADR.Notification.self, from: Data(buffer: body))) != nil else {
                throw OpenAIError.invalidRequest("Not an OpenADR notification (objectType and operation are required).")
            }
            client.notified()
            return Response(status: .ok)
        }
    }

    /// Compared in time independent of where they differ (the token is a secret).
    private static func sameBytes(_ a: String, _ b: String) -> Bool {
        let x = Array(a.utf8)
        let y = Array(b.utf8)
        guard x.count == y.count else { return false }
        return zip(x, y).reduce(UInt8(0)) { $0 | ($1.0 ^ $1.1) } == 0
    }
}
