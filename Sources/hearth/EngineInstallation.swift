import Foundation

/// Where `scripts/install-engine.sh` puts llama-server and the default model, and how to run it
/// when they are missing.
struct EngineInstallation {
    static let modelFile = "SmolLM2-135M-Instruct.Q4_1.gguf"
    static let defaultModelName = "smollm2-135m-instruct"

    var cache: String

    init(environment: [String: String] = ProcessInfo.processInfo.environment) {
        cache = environment["HEARTH_CACHE"] ?? (NSHomeDirectory() + "/.cache/hearth")
    }

    var binary: String { cache + "/bin/llama-server" }
    var model: String { cache + "/models/" + Self.modelFile }

    var isInstalled: Bool {
        FileManager.default.isExecutableFile(atPath: binary) && FileManager.default.fileExists(atPath: model)
    }

    /// Runs the install script (it prints its own progress) unless everything is there already.
    func ensureInstalled() throws {
        if isInstalled { return }
        guard let script = Self.locateScript() else {
            throw ValidationErrorMessage(
                "llama-server or the model is missing from \(cache), and scripts/install-engine.sh was not found; "
                    + "run it from the Hearth checkout."
            )
        }
        print("Installing the engine and model into \(cache) (first run only; about 15 minutes on 2 cores)...")
        let process = Process()
        process.executableURL = URL(fileURLWithPath: "/bin/bash")
        process.arguments = [script]
        var environment = ProcessInfo.processInfo.environment
        environment["HEARTH_CACHE"] = cache
        process.environment = environment
        try process.run()
        process.waitUntilExit()
        guard process.terminationStatus == 0, isInstalled else {
            throw ValidationErrorMessage("scripts/install-engine.sh failed with status \(process.terminationStatus)")
        }
    }

    /// Looks for the script next to the working directory and above the executable (`.build/<config>/hearth`).
    static func locateScript() -> String? {
        var candidates = [FileManager.default.currentDirectoryPath]
        var directory = URL(fileURLWithPath: CommandLine.arguments[0]).resolvingSymlinksInPath().deletingLastPathComponent()
        for _ in 0..<5 {
            candidates.append(directory.path)
            directory = directory.deletingLastPathComponent()
        }
        return candidates.map { $0 + "/scripts/install-engine.sh" }.first { FileManager.default.fileExists(atPath: $0) }
    }
}

struct ValidationErrorMessage: Error, CustomStringConvertible {
    var description: String
    init(_ description: String) { self.description = description }
}
