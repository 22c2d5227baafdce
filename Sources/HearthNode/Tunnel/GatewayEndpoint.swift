import Foundation
import HearthIdentity
import NIOPosix

/// One gateway replica's node endpoint, as a node dials it.
public struct GatewayEndpoint: Hashable, Sendable, CustomStringConvertible {
    /// What to dial: an IP address, or a name left to the connect call.
    public var host: String
    public var port: Int
    /// The name the gateway's certificate must carry (nil: `host`, or no name check when `host` is an address). An
    /// endpoint resolved from a name keeps that name here.
    public var serverName: String?

    public init(host: String, port: Int, serverName: String? = nil) {
        self.host = host
        self.port = port
        self.serverName = serverName
    }

    public var description: String { host.contains(":") ? "[\(host)]:\(port)" : "\(host):\(port)" }

    /// The TLS server name to send and verify: a name, never an IP address.
    var tlsServerName: String? { serverName ?? (IPAddressBytes.isIP(host) ? nil : host) }

    /// The endpoints `configured` stands for now: each name resolved to every address it has (a name that resolves
    /// to several addresses counts as several replicas), an address as it is. A name that does not resolve stays a
    /// name, for the dial to report. Resolution blocks, so it runs on NIO's blocking thread pool.
    public static func resolve(_ configured: [GatewayEndpoint]) async -> [GatewayEndpoint] {
        var resolved: [GatewayEndpoint] = []
        for endpoint in configured {
            if IPAddressBytes.isIP(endpoint.host) {
                resolved.append(endpoint)
                continue
            }
            let addresses = (try? await NIOThreadPool.singleton.runIfActive { Self.addresses(of: endpoint.host) }) ?? []
            if addresses.isEmpty {
                resolved.append(endpoint)
            } else {
                resolved += addresses.map { GatewayEndpoint(host: $0, port: endpoint.port, serverName: endpoint.tlsServerName) }
            }
        }
        return resolved
    }

    /// Every TCP address `name` resolves to, IPv4 and IPv6, in the resolver's order, without repeats.
    static func addresses(of name: String) -> [String] {
        var hints = addrinfo()
        hints.ai_socktype = Int32(SOCK_STREAM.rawValue)
        var list: UnsafeMutablePointer<addrinfo>?
        guard getaddrinfo(name, nil, &hints, &list) == 0, let first = list else { return [] }
        defer { freeaddrinfo(first) }
        var found: [String] = []
        var node: UnsafeMutablePointer<addrinfo>? = first
        while let current = node {
            var text = [CChar](repeating: 0, count: Int(NI_MAXHOST))
            if getnameinfo(current.pointee.ai_addr, current.pointee.ai_addrlen, &text, socklen_t(text.count), nil, 0, NI_NUMERICHOST) == 0 {
                let address = String(decoding: text.prefix { $0 != 0 }.map { UInt8(bitPattern: $0) }, as: UTF8.self)
                if !found.contains(address) { found.append(address) }
            }
            node = current.pointee.ai_next
        }
        return found
    }
}
