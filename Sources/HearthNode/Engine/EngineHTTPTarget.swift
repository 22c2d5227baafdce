public import NIOCore

/// One request as an HTTP/1.1 engine takes it: where to send it, the body to POST, and what to give back when the
/// answer is over.
///
/// The node relays such a request on the tunnel's event loop (``EngineHTTPRelay``): the request goes out in one
/// write, the answer's bytes go to the tunnel as they arrive, and no task or thread hand-off sits in between.
public struct EngineHTTPTarget: Sendable {
    /// The engine's address: plain HTTP on a host the node reaches directly (usually loopback).
    public var host: String
    public var port: Int
    /// The request path, with the engine URL's own prefix.
    public var path: String
    public var body: ByteBuffer
    /// Called once when the answer ends, fails or is cancelled: returns what preparing the request took (a slot).
    public var finished: @Sendable () -> Void

    public init(host: String, port: Int, path: String, body: ByteBuffer, finished: @escaping @Sendable () -> Void = {}) {
        self.host = host
        self.port = port
        self.path = path
        self.body = body
        self.finished = finished
    }
}

/// An engine's base URL, when it is plain `http://host[:port][/prefix]`.
struct EngineHTTPAddress: Sendable, Equatable {
    var host: String
    var port: Int
    var pathPrefix: String

    /// Parses `http://host[:port][/prefix]`; nil for anything else (https goes through the HTTP client and its TLS).
    init?(baseURL: String) {
        let scheme = "http://"
        guard baseURL.lowercased().hasPrefix(scheme) else { return nil }
        let rest = baseURL.dropFirst(scheme.count)
        let authorityEnd = rest.firstIndex(of: "/") ?? rest.endIndex
        let authority = rest[..<authorityEnd]
        var prefix = String(rest[authorityEnd...])
        while prefix.hasSuffix("/") { prefix.removeLast() }
        guard !authority.isEmpty, !authority.contains("@") else { return nil }
        let host: Substring
        var port = 80
        if authority.hasPrefix("[") {
            // An IPv6 literal: [::1]:8080.
            guard let close = authority.firstIndex(of: "]") else { return nil }
            host = authority[authority.index(after: authority.startIndex)..<close]
            let after = authority[authority.index(after: close)...]
            if !after.isEmpty {
                guard after.hasPrefix(":"), let parsed = Int(after.dropFirst()) else { return nil }
                port = parsed
            }
        } else if let colon = authority.lastIndex(of: ":") {
            host = authority[..<colon]
            guard let parsed = Int(authority[authority.index(after: colon)...]) else { return nil }
            port = parsed
        } else {
            host = authority
        }
        guard !host.isEmpty, (1...65535).contains(port) else { return nil }
        self.host = String(host)
        self.port = port
        pathPrefix = prefix
    }
}
