import ArgumentParser
import BundleFormat
import Checkpoint
import Foundation
import GGUF
import TensorIO

extension Ingot.Export {
    struct Gguf: IngotCommand {
        static let configuration = CommandConfiguration(
            commandName: "gguf",
            abstract: "Export a K2-Thinking checkpoint or bundle to GGUF (llama.cpp's deepseek2), routed experts as lossless Q4_0.",
            discussion: """
                Routed experts become Q4_0 by a direct nibble reorder with BF16→F16 scales: exact whenever every scale is \
                exact in F16 (reported per group; exit 1 when any is not). Dense weights are BF16 by default (--dense-type \
                or the recipe's gguf.dense_type), norms, router and router bias F32. Tokenizer keys come from tiktoken.model \
                and tokenizer_config.json when the folder has them. A bundle exports the same bytes as its checkpoint. \
                See docs/gguf-export.md.
                """)

        @Argument(help: "The checkpoint folder (config.json, safetensors shards) or an ingot bundle.")
        var source: String
        @Option(name: .shortAndLong, help: "Output file (FILE.gguf); with --split-max-size, FILE-00001-of-0000N.gguf and so on.")
        var output: String
        @Option(help: "Largest tensor data per split, e.g. 50G, 500M (decimal units, as llama-gguf-split).")
        var splitMaxSize: String?
        @Option(help: "Recipe YAML (default: the built-in recipe matching config.json) for gguf.dense_type.")
        var recipe: String?
        @Option(help: "Dense weight type: bf16, f32 or q8_0 (overrides the recipe).")
        var denseType: String?
        @Option(help: "general.name (default: the source folder's name without a .bundle suffix).")
        var name: String?
        @OptionGroup var outputOptions: OutputOptions
        @Flag(help: "No progress output.")
        var quiet = false

        /// "500M" → 500_000_000; "12" → 12; K, M, G are powers of 1000.
        static func parseSize(_ text: String) -> Int? {
            let units: [Character: Int] = ["K": 1000, "M": 1_000_000, "G": 1_000_000_000]
            guard let last = text.uppercased().last else { return nil }
            if let unit = units[last] {
                guard let n = Int(text.dropLast()), n > 0 else { return nil }
                return n * unit
            }
            guard let n = Int(text), n > 0 else { return nil }
            return n
        }

        func validate() throws {
            if let splitMaxSize, Self.parseSize(splitMaxSize) == nil {
                throw ValidationError(GGUFError.invalidSize(text: splitMaxSize).errorDescription ?? "bad size")
            }
            if let denseType, ExportPlan.DenseType(rawValue: denseType) == nil {
                throw ValidationError("--dense-type must be bf16, f32 or q8_0, got '\(denseType)'")
            }
        }

        func execute() throws {
            let folder = try tokenizerFolder(source)
            let config = try ModelConfig(path: (folder as NSString).appendingPathComponent("config.json"))
            let typeName = try denseType ?? Recipe.resolve(path: recipe, config: config).ggufDenseType
            guard let dense = ExportPlan.DenseType(rawValue: typeName) else {
                throw ValidationError("dense type '\(typeName)' is not bf16, f32 or q8_0")
            }
            if !FileManager.default.fileExists(atPath: (folder as NSString).appendingPathComponent("tiktoken.model")) {
                printNote("note: \(folder) has no tiktoken.model; the GGUF has no tokenizer keys (llama.cpp needs them to run it)")
            }
            let bar = ProgressBar(label: "export gguf", total: 1, quiet: quiet)
            let started = Date()
            let report = try GGUFExporter.run(
                source: source, output: output,
                options: .init(
                    denseType: dense, splitMaxBytes: splitMaxSize.flatMap(Self.parseSize), name: try name ?? Self.defaultName(source)
                ) { done, total in bar.update(done, total: total) })
            bar.finish()
            let seconds = Date().timeIntervalSince(started)
            if outputOptions.json {
                print(Self.json(report, seconds: seconds).prettyText)
            } else {
                print(Self.text(report, seconds: seconds))
            }
            if !report.isLossless { throw ExitCode(1) }
        }

        /// The checkpoint folder's name, or the bundle folder's without a `.bundle` suffix (so `repack X -o X.bundle`
        /// exports the same bytes as X).
        static func defaultName(_ source: String) throws -> String { try modelName(source) }

        static func text(_ r: GGUFExportReport, seconds: Double) -> String {
            var lines = [
                "wrote \(r.files.joined(separator: ", ")): \(r.tensors.count) tensors, \(formatBytes(r.bytes)) in "
                    + String(format: "%.1f s", seconds) + (r.tokenizer ? "" : " (no tokenizer keys)")
            ]
            if r.groups > 0 {
                lines.append(
                    r.isLossless
                        ? "routed experts: \(r.groups) Q4_0 groups, every BF16 scale exact in F16: lossless"
                        : "routed experts: \(r.groups) Q4_0 groups, \(r.inexactGroups) with a scale F16 cannot hold exactly (not lossless)")
            }
            for g in r.inexactExamples {
                lines.append(
                    "  inexact: \(g.tensor) expert \(g.expert) row \(g.row) group \(g.group): scale \(g.scale) (bf16 0x"
                        + String(g.scaleBF16, radix: 16) + ") → f16 \(g.scaleF16)")
            }
            if r.inexactGroups > r.inexactExamples.count { lines.append("  … \(r.inexactGroups - r.inexactExamples.count) more") }
            for n in r.notes { lines.append("note: \(n)") }
            if !r.skipped.isEmpty { lines.append("skipped \(r.skipped.count) source tensors (MTP layers or tied lm_head)") }
            return lines.joined(separator: "\n")
        }

        static func json(_ r: GGUFExportReport, seconds: Double) -> JSONValue {
            .object([
                ("files", .array(r.files.map(JSONValue.string))),
                ("bytes", .int(r.bytes)),
                ("seconds", .double(seconds)),
                ("tokenizer", .bool(r.tokenizer)),
                ("q4_0_groups", .int(r.groups)),
                ("inexact_groups", .int(r.inexactGroups)),
                ("lossless", .bool(r.isLossless)),
                (
                    "inexact_examples",
                    .array(
                        r.inexactExamples.map { g in
                            .object([
                                ("tensor", .string(g.tensor)), ("source", .string(g.source)), ("expert", .int(g.expert)),
                                ("row", .int(g.row)), ("group", .int(g.group)), ("scale_bf16", .int(Int(g.scaleBF16))),
                                ("scale", .double(Double(g.scale))),
                                // JSON has no infinity: a scale that overflows F16 is null here; its bits say which.
                                ("scale_f16", g.scaleF16.isFinite ? .double(Double(g.scaleF16)) : .null),
                                ("scale_f16_bits", .int(Int(FloatConversion.f16(g.scale)))),
                            ])
                        })
                ),
                (
                    "tensors",
                    .array(
                        r.tensors.map { t in
                            .object([
                                ("name", .string(t.name)), ("type", .string(t.type.description)),
                                ("dims", .array(t.dims.map(JSONValue.int))), ("file", .string(t.file)),
                                ("groups", .int(t.groups)), ("inexact_groups", .int(t.inexactGroups)),
                            ])
                        })
                ),
                ("skipped", .array(r.skipped.map(JSONValue.string))),
                ("notes", .array(r.notes.map(JSONValue.string))),
            ])
        }
    }
}
