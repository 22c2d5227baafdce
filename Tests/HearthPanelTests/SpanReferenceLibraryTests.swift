import Foundation
import HearthCore
import MosquittoTestSupport
import Testing

@testable import HearthPanel

/// Issue 15: Hearth's panel client read side by side with the Home Assistant integration's own SPAN library
/// (`span-panel-api`, its Homie consumer) on the same broker, through an EV charger starting and stopping: both read
/// the same figures, and Hearth's budget equals the formula of docs/POWER.md applied to the library's figures.
@Suite(.mosquittoBroker(), .timeLimit(.minutes(2)))
struct SpanReferenceLibraryTests {
    var broker: MosquittoBroker { MosquittoBroker.current! }

    /// The reference reader, a line in and a JSON line out.
    final class ReferenceReader: Sendable {
        private let process: Process
        private let input: FileHandle
        private let output: FileHandle

        init(broker: MosquittoBroker, serial: String) throws {
            let environment = ProcessInfo.processInfo.environment
            let python = environment["HEARTH_PYTHON"] ?? (environment["HOME"] ?? "") + "/.cache/hearth/venv/bin/python"
            try #require(FileManager.default.isExecutableFile(atPath: python), "no Python at \(python): run scripts/test.sh (make test)")
            let script = URL(fileURLWithPath: #filePath).deletingLastPathComponent().appendingPathComponent(
                "Support/span_reference_reader.py")
            let process = Process()
            process.executableURL = URL(fileURLWithPath: python)
            process.arguments = [
                script.path, broker.host, String(broker.port), MosquittoBroker.username, MosquittoBroker.password, serial,
            ]
            let stdin = Pipe()
            let stdout = Pipe()
            process.standardInput = stdin
            process.standardOutput = stdout
            try process.run()
            self.process = process
            input = stdin.fileHandleForWriting
            output = stdout.fileHandleForReading
        }

        /// The next line the reader prints (read on a Dispatch worker, never on the test's own threads).
        func line() async -> String {
            await withCheckedContinuation { continuation in
                DispatchQueue.global().async { [output] in
                    var bytes = Data()
                    while true {
                        let chunk = output.readData(ofLength: 1)
                        if chunk.isEmpty || chunk == Data("\n".utf8) { break }
                        bytes.append(chunk)
                    }
                    continuation.resume(returning: String(decoding: bytes, as: UTF8.self))
                }
            }
        }

        /// The library's snapshot once it shows the mains at `mains` W and `circuits` circuits.
        func snapshot(mains: Double, circuits: Int) async throws -> [String: Any] {
            input.write(Data("snapshot \(mains) \(circuits)\n".utf8))
            let text = await line()
            return try #require(try JSONSerialization.jsonObject(with: Data(text.utf8)) as? [String: Any], "the reader printed \(text)")
        }

        func stop() {
            try? input.close()
            process.waitUntilExit()
        }
    }

    @Test func bothReadTheSameFiguresThroughAnEVChargerStartingAndStopping() async throws {
        let serial = "span-reference"
        // As SPAN's firmware does: circuit power declared in kW, published in W.
        let device = try await SimulatedDevice(broker, serial: serial, publishesCircuitWatts: true)
        defer { device.client.close() }
        device.panel.setNodeDraw(watts: 6_000)
        let reference = try ReferenceReader(broker: broker, serial: serial)
        defer { reference.stop() }
        #expect(await reference.line() == "READY")
        let panel = makePanel(broker, serial: serial)
        try await withRunning(panel) {
            var charger: SimulatedPanel.LoadID?
            for step in ["before", "charging", "after"] {
                if step == "charging" { charger = device.panel.addLoad(name: "EV charger", watts: 48 * 240) }
                if step == "after", let charger { device.panel.removeLoad(charger) }
                try await device.publisher.publish()
                let published = device.panel.snapshot()
                let mains = try #require(published.mainsActivePowerWatts)
                let hearth = try await panel.waitForSnapshot {
                    $0.mainsActivePowerWatts.map { abs($0 - mains) <= 0.05 } == true && $0.circuits.count == published.circuits.count
                }
                let library = try await reference.snapshot(mains: mains, circuits: published.circuits.count)

                // Every figure the budget uses.
                let libraryMains = try #require(library["grid_power_w"] as? Double)
                #expect(abs(hearth.mainsActivePowerWatts! - libraryMains) <= 0.05, "\(step): mains")
                #expect(abs(hearth.l1CurrentAmps! - (library["l1_a"] as? Double ?? .nan)) <= 0.0005, "\(step): L1")
                #expect(abs(hearth.l2CurrentAmps! - (library["l2_a"] as? Double ?? .nan)) <= 0.0005, "\(step): L2")
                #expect(hearth.l1Voltage == library["l1_v"] as? Double, "\(step): voltage")
                #expect(hearth.breakerRatingAmps == (library["breaker_a"] as? Int).map(Double.init), "\(step): breaker")
                // Circuits: the library turns SPAN's load-negative sign into consumption-positive; Hearth keeps SPAN's.
                let circuits = try #require(library["circuits"] as? [String: Double])
                #expect(circuits.count == hearth.circuits.count)
                for circuit in hearth.circuits {
                    let theirs = try #require(circuits[circuit.name ?? ""], "\(step): the library has no circuit \(circuit.name ?? "")")
                    #expect(abs(-(circuit.activePowerWatts ?? .nan) - theirs) <= 0.05, "\(step): \(circuit.name ?? "")")
                }
                #expect(step != "charging" || circuits["EV charger"].map { abs($0 - 11_520) <= 0.05 } == true)

                // Hearth's budget is docs/POWER.md's formula applied to the library's figures:
                // min(node cap, 0.8 × rating − home − 2 A) × V, the home being the larger of its mains load and its worse
                // leg (each less the node's own draw, a balanced 240 V load).
                let voltage = 2 * (library["l1_v"] as? Double ?? 120)
                let nodeAmps = 6_000 / voltage
                let homeLeg = max(0, max(abs(library["l1_a"] as? Double ?? 0), abs(library["l2_a"] as? Double ?? 0)) - nodeAmps)
                let homeMains = max(0, libraryMains - 6_000) / voltage
                let rating = Double(library["breaker_a"] as? Int ?? 0)
                let formula = max(0, min(80, 0.8 * rating - max(homeMains, homeLeg) - 2)) * voltage
                let budget = PowerBudget.compute(hearth.reading(nodeDrawWatts: 6_000, at: 0))
                #expect(abs(budget.watts - formula) <= 0.5, "\(step): budget \(budget.watts) W, formula \(formula) W")
            }
        }
        #expect(panel.diagnostics().totalRejections == 0)
    }
}
