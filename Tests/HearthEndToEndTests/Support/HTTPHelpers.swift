import AsyncHTTPClient
import Foundation
import NIOCore
import NIOFoundationCompat
import NIOHTTP1

/// A response read whole, with its SSE events split out.
struct CollectedResponse: Sendable {
    var status: Int
    var headers: [String: String]
    var body: String
    /// Body parts as they arrived from the socket.
    var parts: Int

    var json: [String: Any]? { try? JSONSerialization.jsonObject(with: Data(body.utf8)) as? [String: Any] }
    var error: [String: Any]? { json?["error"] as? [String: Any] }

    /// The `data:` payloads of an SSE body.
    var events: [String] {
        body.components(separatedBy: "\n\n").compactMap { event in
            event.hasPrefix("data: ") ? String(event.dropFirst(6)) : nil
        }
    }

    /// The concatenated `delta.content` of a chat stream.
    var streamedText: String {
        events.compactMap { payload -> String? in
            guard let object = try? JSONSerialization.jsonObject(with: Data(payload.utf8)) as? [String: Any],
                let choices = object["choices"] as? [[String: Any]],
                let delta = choices.first?["delta"] as? [String: Any]
            else { return nil }
            return delta["content"] as? String
        }.joined()
    }
}

extension TestFleet {
    func post(
        _ path: String = "/v1/chat/completions",
        json object: Any,
        apiKey: String? = nil,
        headers: [(String, String)] = []
    ) async throws -> CollectedResponse {
        try await post(path, body: try JSONSerialization.data(withJSONObject: object), apiKey: apiKey ?? self.apiKey, headers: headers)
    }

    func post(_ path: String, body: Data, apiKey: String?, headers: [(String, String)] = []) async throws -> CollectedResponse {
        try await sendHTTP(url: baseURL + path, method: .POST, body: body, apiKey: apiKey, headers: headers, client: client)
    }

    func get(_ path: String) async throws -> CollectedResponse {
        // /metrics is for operators: tests read it from the metrics listener TestFleet configures.
        let base = path == "/metrics" ? addresses.metricsPort.map { "http://127.0.0.1:\($0)" } ?? baseURL : baseURL
        return try await sendHTTP(url: base + path, method: .GET, body: nil, apiKey: apiKey, headers: [], client: client)
    }
}

func sendHTTP(url: String, method: HTTPMethod, body: Data?, apiKey: String?, headers: [(String, String)], client: HTTPClient) async throws
    -> CollectedResponse
{
    var request = HTTPClientRequest(url: url)
    request.method = method
    if let body {
        request.body = .bytes(ByteBuffer(data: body))
        request.headers.add(name: "Content-Type", value: "application/json")
    }
    if let apiKey { request.headers.add(name: "Authorization", value: "Bearer \(apiKey)") }
    for (name, value) in headers { request.headers.add(name: name, value: value) }
    let response = try await client.execute(request, timeout: .seconds(120))
    var text = ""
    var parts = 0
    for try await part in response.body {
        parts += 1
        text += String(buffer: part)
    }
    var headerMap: [String: String] = [:]
    for header in response.headers { headerMap[header.name.lowercased()] = header.value }
    return CollectedResponse(status: Int(response.status.code), headers: headerMap, body: text, parts: parts)
}

func chatBody(model: String, content: String = "Say hello.", stream: Bool = false, maxTokens: Int = 16, extra: [String: Any] = [:])
    -> [String: Any]
{
    var body: [String: Any] = [
        "model": model,
        "messages": [["role": "user", "content": content]],
        "stream": stream,
        "max_tokens": maxTokens,
        "temperature": 0,
    ]
    for (key, value) in extra { body[key] = value }
    return body
}

extension TestFleet {
    /// Sends a streamed chat request on a connection of its own, which the test may close mid-answer (a client that
    /// walks away).
    func sendRawStreamingRequest(model: String = "test-model") async throws -> RawConnection {
        let body = try JSONSerialization.data(withJSONObject: chatBody(model: model, stream: true))
        let connection = try await RawConnection.connect(host: "127.0.0.1", port: addresses.httpPort)
        var request = ByteBuffer(string: "POST /v1/chat/completions HTTP/1.1\r\nHost: 127.0.0.1\r\n")
        request.writeString("Authorization: Bearer \(apiKey)\r\nContent-Type: application/json\r\n")
        request.writeString("Content-Length: \(body.count)\r\n\r\n")
        request.writeBytes(body)
        try await connection.send(request)
        return connection
    }

    /// Posts a streamed request, waits until the client has received text containing `marker`, runs `action`
    /// (the fault), then reads the rest of the stream.
    func streamAndInterrupt(json object: Any, after marker: String, _ action: @Sendable (_ node: String) async throws -> Void)
        async throws -> CollectedResponse
    {
        var request = HTTPClientRequest(url: baseURL + "/v1/chat/completions")
        request.method = .POST
        request.body = .bytes(ByteBuffer(data: try JSONSerialization.data(withJSONObject: object)))
        request.headers.add(name: "Content-Type", value: "application/json")
        request.headers.add(name: "Authorization", value: "Bearer \(apiKey)")
        let response = try await client.execute(request, timeout: .seconds(120))
        var headers: [String: String] = [:]
        for header in response.headers { headers[header.name.lowercased()] = header.value }
        var text = ""
        var parts = 0
        var iterator = response.body.makeAsyncIterator()
        while !text.contains(marker), let part = try await iterator.next() {
            text += String(buffer: part)
            parts += 1
        }
        try await action(headers["x-hearth-node"] ?? "")
        while let part = try await iterator.next() {
            text += String(buffer: part)
            parts += 1
        }
        return CollectedResponse(status: Int(response.status.code), headers: headers, body: text, parts: parts)
    }
}
