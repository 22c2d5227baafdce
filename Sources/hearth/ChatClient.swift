import AsyncHTTPClient
import Foundation
import NIOCore
import NIOFoundationCompat

/// Streams one chat answer from a gateway and hands each text delta to `onText` as it arrives.
enum ChatClient {
    struct Failure: Error, CustomStringConvertible {
        var description: String
    }

    static func stream(
        baseURL: String,
        apiKey: String,
        model: String?,
        prompt: String,
        maxTokens: Int,
        client: HTTPClient,
        onText: (String) -> Void
    ) async throws {
        var body: [String: Any] = [
            "messages": [["role": "user", "content": prompt]],
            "stream": true,
            "max_tokens": maxTokens,
            "temperature": 0,
        ]
        if let model {
            body["model"] = model
        } else {
            body["model"] = try await firstModel(baseURL: baseURL, apiKey: apiKey, client: client)
        }
        var request = HTTPClientRequest(url: baseURL + "/v1/chat/completions")
        request.method = .POST
        request.headers.add(name: "Authorization", value: "Bearer \(apiKey)")
        request.headers.add(name: "Content-Type", value: "application/json")
        request.body = .bytes(ByteBuffer(data: try JSONSerialization.data(withJSONObject: body)))
        let response = try await client.execute(request, timeout: .minutes(10))
        guard response.status == .ok else {
            let text = String(buffer: try await response.body.collect(upTo: 1 << 20))
            throw Failure(description: "gateway answered \(response.status.code): \(text)")
        }
        var pending = ""
        for try await chunk in response.body {
            pending += String(buffer: chunk)
            while let range = pending.range(of: "\n\n") {
                let event = String(pending[..<range.lowerBound])
                pending.removeSubrange(..<range.upperBound)
                guard event.hasPrefix("data: ") else { continue }
                let payload = event.dropFirst(6)
                if payload == "[DONE]" { return }
                guard let object = try? JSONSerialization.jsonObject(with: Data(payload.utf8)) as? [String: Any] else { continue }
                if let error = object["error"] as? [String: Any] {
                    throw Failure(description: "stream failed: \(error["message"] ?? "unknown error")")
                }
                let choices = object["choices"] as? [[String: Any]] ?? []
                if let delta = choices.first?["delta"] as? [String: Any], let text = delta["content"] as? String {
                    onText(text)
                }
            }
        }
    }

    static func firstModel(baseURL: String, apiKey: String, client: HTTPClient) async throws -> String {
        var request = HTTPClientRequest(url: baseURL + "/v1/models")
        request.headers.add(name: "Authorization", value: "Bearer \(apiKey)")
        let response = try await client.execute(request, timeout: .seconds(10))
        let body = try await response.body.collect(upTo: 1 << 20)
        guard let list = try? JSONSerialization.jsonObject(with: Data(buffer: body)) as? [String: Any],
            let first = (list["data"] as? [[String: Any]])?.first?["id"] as? String
        else {
            throw Failure(description: "the gateway serves no model yet")
        }
        return first
    }
}

/// Writes text to standard output at once (a streamed answer should appear token by token).
func printFlushed(_ text: String) {
    FileHandle.standardOutput.write(Data(text.utf8))
}
