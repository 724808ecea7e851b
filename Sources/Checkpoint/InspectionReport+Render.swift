import Foundation
public import TensorIO

extension InspectionReport {
    /// The human-readable report.
    public var text: String {
        var lines: [String] = []
        lines.append("model      \(folder)")
        lines.append("form       \(kind)")
        lines.append(
            "arch       \(modelType) \(architectures.joined(separator: ",")): \(layers) layers "
                + "(dense \(Self.ranges(denseLayers)), MoE \(Self.ranges(moeLayers))), hidden \(hiddenSize), vocab \(vocabSize)")
        lines.append("experts    \(routedExperts) routed, top-\(expertsPerToken), \(sharedExperts) shared")
        lines.append("quant      \(quantizationScheme)")
        let scaled =
            parameterCount >= 1_000_000_000
            ? String(format: "%.3f B", Double(parameterCount) / 1e9) : String(format: "%.3f M", Double(parameterCount) / 1e6)
        lines.append("params     \(parameterCount) (\(scaled) logical)")
        lines.append("files      \(files.count) safetensors, \(fileBytes) bytes (\(dataBytes) tensor data), \(tensorCount) tensors")
        if files.count <= 8 {
            for f in files {
                let digest = hubDigests?[f.name].map { "  sha256 \($0.prefix(16))… (cache blob name)" } ?? ""
                lines.append("             \(f.name)  \(f.bytes)\(digest)")
            }
        } else {
            lines.append("             \(files[0].name) … \(files[files.count - 1].name)")
        }
        if let hubDigests {
            let with = files.filter { hubDigests[$0.name] != nil }.count
            lines.append(
                "digests    \(with) of \(files.count) safetensors files have a SHA-256 in the cache's blob names (`ingot verify` checks them)"
            )
        }
        lines.append("companion  \(companionFiles.isEmpty ? "(none)" : companionFiles.joined(separator: " "))")
        lines.append("by kind")
        for (k, t) in byKind.sorted(by: { $0.value.bytes > $1.value.bytes }) {
            lines.append("  " + k.padding(toLength: 14, withPad: " ", startingAt: 0) + Self.tallyText(t))
        }
        lines.append("by dtype")
        for (k, t) in byDType.sorted(by: { $0.value.bytes > $1.value.bytes }) {
            lines.append("  " + k.padding(toLength: 14, withPad: " ", startingAt: 0) + Self.tallyText(t))
        }
        if !packedProjectionsPerLayer.isEmpty {
            let counts = Set(packedProjectionsPerLayer.values)
            let summary =
                counts.count == 1
                ? "\(packedProjectionsPerLayer.count) MoE layers × \(counts.first ?? 0) INT4 projections"
                : packedProjectionsPerLayer.sorted { $0.key < $1.key }.map { "L\($0.key):\($0.value)" }.joined(separator: " ")
            lines.append("int4       \(summary) (\(routedExperts) experts × 3 per layer expected)")
        }
        if warnings.isEmpty {
            lines.append("warnings   none")
        } else {
            lines.append("warnings   \(warnings.count)")
            for w in warnings { lines.append("  warning: \(w)") }
        }
        return lines.joined(separator: "\n")
    }

    /// The report as JSON.
    public var json: JSONValue {
        func tallies(_ d: [String: Tally]) -> JSONValue {
            .object(
                d.sorted { $0.key < $1.key }.map {
                    ($0.key, JSONValue.object([("tensors", .int($0.value.tensors)), ("bytes", .int($0.value.bytes))]))
                })
        }
        return .object([
            ("model", .string(folder)),
            ("form", .string(kind.id)),
            ("form_description", .string(kind.description)),
            ("model_type", .string(modelType)),
            ("layers", .int(layers)),
            ("dense_layers", .array(denseLayers.map(JSONValue.int))),
            ("moe_layers", .array(moeLayers.map(JSONValue.int))),
            ("routed_experts", .int(routedExperts)),
            ("experts_per_token", .int(expertsPerToken)),
            ("shared_experts", .int(sharedExperts)),
            ("hidden_size", .int(hiddenSize)),
            ("vocab_size", .int(vocabSize)),
            ("quantization", .string(quantizationScheme)),
            ("parameters", .int(parameterCount)),
            ("tensor_count", .int(tensorCount)),
            ("data_bytes", .int(dataBytes)),
            ("file_bytes", .int(fileBytes)),
            (
                "files",
                .array(
                    files.map { f in
                        .object([
                            ("name", .string(f.name)), ("bytes", .int(f.bytes)),
                            ("hub_sha256", hubDigests?[f.name].map { .string($0) } ?? .null),
                        ])
                    })
            ),
            ("companion_files", .array(companionFiles.map(JSONValue.string))),
            ("by_kind", tallies(byKind)),
            ("by_dtype", tallies(byDType)),
            (
                "int4_projections_per_layer",
                .object(packedProjectionsPerLayer.sorted { $0.key < $1.key }.map { (String($0.key), JSONValue.int($0.value)) })
            ),
            ("warnings", .array(warnings.map(JSONValue.string))),
        ])
    }

    /// "    6912 tensors    1845530624 bytes", right-aligned (64-bit safe: no %d).
    static func tallyText(_ t: Tally) -> String {
        func right(_ n: Int, _ width: Int) -> String {
            let s = String(n)
            return String(repeating: " ", count: max(0, width - s.count)) + s
        }
        return right(t.tensors, 8) + " tensors " + right(t.bytes, 16) + " bytes"
    }

    /// [0, 1, 2, 5] → "0-2,5".
    static func ranges(_ values: [Int]) -> String {
        guard !values.isEmpty else { return "none" }
        var parts: [String] = []
        var start = values[0], previous = values[0]
        for v in values.dropFirst() + [Int.min] {
            if v == previous + 1 { previous = v; continue }
            parts.append(start == previous ? "\(start)" : "\(start)-\(previous)")
            start = v
            previous = v
        }
        return parts.joined(separator: ",")
    }
}
