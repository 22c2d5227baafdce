import Foundation
import HearthCore

/// Reads a trace file, detecting its format from the content:
/// - Azure LLM inference CSV: header `TIMESTAMP,ContextTokens,GeneratedTokens`, wall-clock timestamps;
/// - Mooncake JSONL: objects with `timestamp` (ms), `input_length`, `output_length`, `hash_ids`;
/// - BurstGPT CSV: header with `Timestamp`, `Request tokens`, `Response tokens` (and maybe `Session ID`);
///   rows with 0 request and 0 response tokens (failures) are dropped.
public enum TraceReader {
    public struct Error: Swift.Error, CustomStringConvertible {
        public var description: String
    }

    public static func read(path: String) throws -> Trace {
        guard let data = FileManager.default.contents(atPath: path) else {
            throw Error(description: "cannot read trace \(path)")
        }
        let text = String(decoding: data, as: UTF8.self)
        let lines = text.split(whereSeparator: \.isNewline)
        guard let first = lines.first else { throw Error(description: "trace \(path) is empty") }
        if first.hasPrefix("{") { return try readMooncake(path: path, lines: lines) }
        let header = first.split(separator: ",").map { $0.trimmingCharacters(in: .whitespaces) }
        if header.contains("ContextTokens") && header.contains("GeneratedTokens") {
            return try readAzure(path: path, header: header, lines: lines.dropFirst())
        }
        if header.contains("Request tokens") && header.contains("Response tokens") {
            return try readBurstGPT(path: path, header: header, lines: lines.dropFirst())
        }
        throw Error(description: "unknown trace format in \(path): first line \(first.prefix(80))")
    }

    static func readAzure(path: String, header: [String], lines: ArraySlice<Substring>) throws -> Trace {
        guard let t = header.firstIndex(of: "TIMESTAMP"), let c = header.firstIndex(of: "ContextTokens"),
            let g = header.firstIndex(of: "GeneratedTokens")
        else { throw Error(description: "Azure header lacks TIMESTAMP") }
        var requests: [TraceRequest] = []
        requests.reserveCapacity(lines.count)
        for line in lines {
            let fields = line.split(separator: ",", omittingEmptySubsequences: false)
            guard fields.count > max(t, c, g), let time = parseWallClock(fields[t]),
                let prompt = Int(fields[c].trimmingCharacters(in: .whitespaces)),
                let output = Int(fields[g].trimmingCharacters(in: .whitespaces))
            else { continue }
            requests.append(TraceRequest(arrival: time, promptTokens: max(1, prompt), outputTokens: max(1, output)))
        }
        return Trace(path: path, format: .azure, requests: normalised(requests))
    }

    private struct MooncakeRow: Decodable {
        var timestamp: Double
        var input_length: Int
        var output_length: Int
        var hash_ids: [UInt64]?
    }

    static func readMooncake(path: String, lines: [Substring]) throws -> Trace {
        let decoder = JSONDecoder()
        var requests: [TraceRequest] = []
        requests.reserveCapacity(lines.count)
        var seenFirstBlocks = Set<UInt64>()
        for line in lines where !line.isEmpty {
            let row = try decoder.decode(MooncakeRow.self, from: Data(line.utf8))
            let hashes = row.hash_ids ?? []
            var turns = 1
            if let head = hashes.first {
                if !seenFirstBlocks.insert(head).inserted { turns = 2 }
            }
            requests.append(
                TraceRequest(
                    arrival: row.timestamp / 1000, promptTokens: max(1, row.input_length), outputTokens: max(1, row.output_length),
                    prefixHashes: hashes, turns: turns))
        }
        return Trace(path: path, format: .mooncake, requests: normalised(requests))
    }

    static func readBurstGPT(path: String, header: [String], lines: ArraySlice<Substring>) throws -> Trace {
        guard let t = header.firstIndex(of: "Timestamp"), let r = header.firstIndex(of: "Request tokens"),
            let o = header.firstIndex(of: "Response tokens")
        else { throw Error(description: "BurstGPT header lacks Timestamp") }
        let s = header.firstIndex(of: "Session ID")
        var requests: [TraceRequest] = []
        var turnsBySession: [UInt64: Int] = [:]
        for line in lines {
            let fields = line.split(separator: ",", omittingEmptySubsequences: false)
            guard fields.count > max(t, r, o), let time = Double(fields[t]), let prompt = Int(fields[r]), let output = Int(fields[o])
            else { continue }
            if prompt == 0 && output == 0 { continue }
            var session: UInt64?
            var turns = 1
            if let s, fields.count > s, !fields[s].isEmpty {
                let key = fnv1a(String(fields[s]))
                session = key
                turns = turnsBySession[key, default: 0] + 1
                turnsBySession[key] = turns
            }
            requests.append(
                TraceRequest(arrival: time, promptTokens: max(1, prompt), outputTokens: max(1, output), sessionKey: session, turns: turns))
        }
        return Trace(path: path, format: .burstGPT, requests: normalised(requests))
    }

    /// Sorts by arrival and shifts so the first arrival is at 0.
    static func normalised(_ requests: [TraceRequest]) -> [TraceRequest] {
        var sorted = requests
        sorted.sort { $0.arrival < $1.arrival }
        guard let start = sorted.first?.arrival else { return sorted }
        for i in sorted.indices { sorted[i].arrival -= start }
        return sorted
    }

    /// Parses `YYYY-MM-DD HH:MM:SS.fffffff` into seconds since 1970 (UTC, proleptic Gregorian).
    static func parseWallClock(_ field: Substring) -> Double? {
        let parts = field.trimmingCharacters(in: .whitespaces).split(separator: " ")
        guard parts.count == 2 else { return nil }
        let date = parts[0].split(separator: "-").compactMap { Int($0) }
        let time = parts[1].split(separator: ":")
        guard date.count == 3, time.count == 3, let h = Double(time[0]), let m = Double(time[1]), let s = Double(time[2])
        else { return nil }
        return Double(CivilDate.days(year: Int64(date[0]), month: Int64(date[1]), day: Int64(date[2]))) * 86_400 + h * 3600 + m * 60 + s
    }
}
