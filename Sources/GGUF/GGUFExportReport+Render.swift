import Foundation
import Quantization
public import TensorIO

extension GGUFExportReport {
    /// The human-readable report of an export that took `seconds`.
    public func text(seconds: Double) -> String {
        let r = self
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

    /// The report as JSON (`ingot export gguf --json`).
    public func json(seconds: Double) -> JSONValue {
        let r = self
        return .object([
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
