import ArgumentParser
import Foundation
import TensorIO
import TestSupport
import Testing

@testable import ingot

/// Runs the built `ingot` binary (next to the test bundle) and returns (exit code, stdout, stderr).
func runIngot(_ arguments: [String]) throws -> (status: Int32, out: String, err: String) {
    let exe = URL(fileURLWithPath: try FileManager.default.destinationOfSymbolicLink(atPath: "/proc/self/exe"))
        .deletingLastPathComponent().appendingPathComponent("ingot")
    let process = Process()
    process.executableURL = exe
    process.arguments = arguments
    let out = Pipe(), err = Pipe()
    process.standardOutput = out
    process.standardError = err
    try process.run()
    let outData = out.fileHandleForReading.readDataToEndOfFile()
    let errData = err.fileHandleForReading.readDataToEndOfFile()
    process.waitUntilExit()
    return (process.terminationStatus, String(decoding: outData, as: UTF8.self), String(decoding: errData, as: UTF8.self))
}

@Suite("ingot command line")
struct CLITests {
    @Test("inspect of a K2-form synthetic checkpoint reports its MoE layers and no warnings (exit 0)")
    func inspectClean() throws {
        let folder = try tinyCheckpoint()
        let r = try runIngot(["inspect", folder])
        #expect(r.status == 0, "\(r.err)")
        #expect(r.out.contains("INT4 pack-quantized (compressed-tensors, group 32)"))
        #expect(r.out.contains("2 MoE layers × 24 INT4 projections"))
        #expect(r.out.contains("warnings   none"))
    }

    @Test("inspect --json is valid JSON with the same facts")
    func inspectJSON() throws {
        let folder = try tinyCheckpoint()
        let r = try runIngot(["inspect", folder, "--json"])
        #expect(r.status == 0)
        let json = try JSONValue.parse(r.out)
        #expect(json["moe_layers"] == .array([.int(1), .int(2)]))
        #expect(json["warnings"] == .array([]))
        #expect(json["form"]?.stringValue == "int4-pack-quantized")
        #expect(json["int4_projections_per_layer"]?["1"]?.intValue == 24)
    }

    @Test("a config that disagrees with the tensors gives warnings naming them (exit 1)")
    func inspectFindings() throws {
        let folder = try tinyCheckpoint()
        let path = folder + "/config.json"
        let text = try String(contentsOfFile: path, encoding: .utf8).replacingOccurrences(
            of: #""n_routed_experts": 8"#, with: #""n_routed_experts": 9"#)
        try text.write(toFile: path, atomically: true, encoding: .utf8)
        let r = try runIngot(["inspect", folder])
        #expect(r.status == 1)
        #expect(r.out.contains("18 tensors the config implies are missing, in 6 modules: model.layers.1.mlp.experts.8.gate_proj"))
        #expect(r.out.contains("model.layers.1.mlp.gate.weight: shape [8, 64], config implies [9, 64]"))
    }

    /// Each malformed input: exit 2, one line on stderr starting with "error: " and naming the file.
    @Test(
        "malformed checkpoints give one clear line and exit 2",
        arguments: ["truncated", "garbage-header", "no-config", "missing-shard", "bad-config-field", "no-checkpoint"])
    func malformed(defect: String) throws {
        let folder = try tinyCheckpoint()
        let shard = folder + "/model-00002-of-000004.safetensors"
        let fm = FileManager.default
        var named = shard
        switch defect {
        case "truncated":
            let handle = try FileHandle(forWritingTo: URL(fileURLWithPath: shard))
            try handle.truncate(atOffset: 1000)
            try handle.close()
        case "garbage-header":
            let handle = try FileHandle(forWritingTo: URL(fileURLWithPath: shard))
            try handle.seek(toOffset: 8)
            handle.write(Data("[[[[".utf8))
            try handle.close()
        case "no-config":
            named = folder + "/config.json"
            try fm.removeItem(atPath: named)
        case "missing-shard":
            try fm.removeItem(atPath: shard)
            named = "model-00002-of-000004.safetensors"
        case "bad-config-field":
            named = folder + "/config.json"
            let text = try String(contentsOfFile: named, encoding: .utf8).replacingOccurrences(
                of: #""hidden_size": 64"#, with: #""hidden_size": "big""#)
            try text.write(toFile: named, atomically: true, encoding: .utf8)
        default:
            named = folder + "/empty"
            try fm.createDirectory(atPath: named, withIntermediateDirectories: true)
        }
        let r = try runIngot(["inspect", defect == "no-checkpoint" ? named : folder])
        #expect(r.status == 2, "\(defect): \(r.err)")
        let lines = r.err.split(separator: "\n")
        #expect(lines.count == 1, "\(defect): \(r.err)")
        #expect(r.err.hasPrefix("error: ") && r.err.contains(named), "\(defect): \(r.err)")
        #expect(!r.err.contains("Fatal error"))
    }

    @Test("synth through the CLI writes the same bytes as the library for the same seed")
    func synthCLI() throws {
        let out = temporaryFolder() + "/k2"
        let r = try runIngot(["synth", "--preset", "tiny", "--seed", "7", "-o", out, "--quiet"])
        #expect(r.status == 0, "\(r.err)")
        #expect(r.out.contains("4 shards, 187 tensors"))
        let library = try tinyCheckpoint(seed: 7)
        #expect(try folderContents(out).map(\.bytes) == folderContents(library).map(\.bytes))
        let again = try runIngot(["synth", "-o", out])
        #expect(again.status == 64, "refuses to overwrite a checkpoint")
    }

    @Test(
        "bad flags are rejected before any work (exit 64)",
        arguments: [
            ["synth", "-o", "/tmp/x", "--layers", "0"],
            ["synth", "-o", "/tmp/x", "--threads", "0"],
            ["synth", "-o", "/tmp/x", "--preset", "huge"],
            ["inspect"],
        ])
    func badFlags(arguments: [String]) throws {
        #expect(throws: (any Error).self) { _ = try Ingot.parseAsRoot(arguments) }
        #expect(try runIngot(arguments).status == 64)
    }

    @Test("every subcommand has help")
    func help() throws {
        for command in ["inspect", "synth"] {
            let r = try runIngot([command, "--help"])
            #expect(r.status == 0 && r.out.contains("USAGE"))
        }
    }
}
