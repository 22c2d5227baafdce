import Foundation
import Testing

/// `hearth --generate-completion-script SHELL` (README, "Shell completions") prints a script that knows the
/// subcommands and their options, for each shell it names.
@Suite struct ShellCompletionTests {
    @Test(arguments: ["bash", "zsh", "fish"])
    func theScriptNamesEverySubcommandAndTheirOptions(shell: String) async throws {
        let hearth = try ChildProcesses.built("hearth")
        // Into a file: a script is larger than a pipe holds (fish's is about 67 KB).
        let file = FileManager.default.temporaryDirectory.appendingPathComponent("hearth-completion-\(UUID().uuidString)")
        FileManager.default.createFile(atPath: file.path, contents: nil)
        defer { try? FileManager.default.removeItem(at: file) }
        let process = Process()
        process.executableURL = URL(fileURLWithPath: hearth)
        process.arguments = ["--generate-completion-script", shell]
        process.standardOutput = try FileHandle(forWritingTo: file)
        try process.run()
        // Waited for on a Dispatch worker, not on the test's threads.
        await withCheckedContinuation { continuation in
            DispatchQueue.global().async {
                process.waitUntilExit()
                continuation.resume()
            }
        }
        #expect(process.terminationStatus == 0)
        let script = try String(contentsOf: file, encoding: .utf8)
        for word in ["gateway", "node", "up", "energy", "plan", "keys", "statement", "openadr-callback-url"] {
            #expect(script.contains(word), "\(shell): \(word)")
        }
    }
}
