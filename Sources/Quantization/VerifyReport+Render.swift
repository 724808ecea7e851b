import Checkpoint
import Foundation
public import TensorIO

extension VerifyReport {
    /// Findings listed in the text report before "… N more".
    static let textFindingLimit = 60

    /// The human-readable report: per-layer table, then findings.
    public var text: String {
        var lines = ["model      \(model)", "form       \(kind)"]
        lines.append(
            String(
                format: "read       %.2f GB in %.1f s (%.2f GB/s)", Double(bytesRead) / 1e9, seconds,
                Double(bytesRead) / 1e9 / max(seconds, 1e-9)))
        if !layers.isEmpty {
            lines.append("layer  projections   scale min    scale max   bad scales   level −8   F16-inexact   non-finite")
            for l in layers {
                let s = l.scales
                let minText = s.minimum.isFinite ? String(format: "%.3e", s.minimum) : "-"
                let maxText = s.maximum.isFinite ? String(format: "%.3e", s.maximum) : "-"
                lines.append(
                    Self.row(
                        [
                            l.layer < 0 ? "-" : String(l.layer), String(l.projections), minText, maxText, String(s.bad),
                            String(l.histogram[0]), String(s.notFP16Exact), String(l.nonFiniteDense),
                        ],
                        widths: [5, 13, 12, 12, 12, 10, 13, 12]))
            }
        }
        if !checksums.isEmpty {
            let ok = checksums.filter { $0.expected == $0.actual }.count
            let source = checksumSource == "hub" ? "the digests in the cache's blob names" : checksumSource ?? "?"
            lines.append("checksums  \(ok)/\(checksums.count) files match \(source)")
        }
        let errors = findings.filter { $0.severity == .error }.count
        let warnings = findings.filter { $0.severity == .warning }.count
        lines.append("findings   \(errors) errors, \(warnings) warnings, \(findings.count - errors - warnings) notes")
        for f in findings.prefix(Self.textFindingLimit) { lines.append("  " + f.line) }
        if findings.count > Self.textFindingLimit {
            lines.append("  … \(findings.count - Self.textFindingLimit) more (--json lists every finding)")
        }
        lines.append(hasFindings ? "result     FINDINGS" : "result     OK")
        return lines.joined(separator: "\n")
    }

    private static func row(_ cells: [String], widths: [Int]) -> String {
        zip(cells, widths).map { String(repeating: " ", count: max(0, $1 - $0.count)) + $0 }.joined(separator: " ")
    }

    /// The report as JSON (every finding, per-layer rows, per-projection statistics).
    public var json: JSONValue {
        func f(_ v: Float) -> JSONValue { v.isFinite ? .double(Double(v)) : .null }
        func scales(_ s: ScaleStatistics) -> JSONValue {
            .object([
                ("count", .int(s.count)), ("min", f(s.minimum)), ("max", f(s.maximum)), ("nan", .int(s.nan)),
                ("infinite", .int(s.infinite)), ("zero", .int(s.zero)), ("negative", .int(s.negative)),
                ("not_fp16_exact", .int(s.notFP16Exact)),
            ])
        }
        return .object([
            ("model", .string(model)),
            ("form", .string(kind.id)),
            ("result", .string(hasFindings ? "findings" : "ok")),
            ("bytes_read", .int(bytesRead)),
            ("seconds", .double(seconds)),
            (
                "findings",
                .array(
                    findings.map { x in
                        .object([
                            ("severity", .string(x.severity.rawValue)), ("layer", x.layer.map(JSONValue.int) ?? .null),
                            ("expert", x.expert.map(JSONValue.int) ?? .null), ("subject", .string(x.subject)),
                            ("message", .string(x.message)),
                        ])
                    })
            ),
            (
                "layers",
                .array(
                    layers.map { l in
                        .object([
                            ("layer", .int(l.layer)), ("projections", .int(l.projections)), ("scales", scales(l.scales)),
                            ("level_histogram", .array(l.histogram.map(JSONValue.int))), ("non_finite_dense", .int(l.nonFiniteDense)),
                        ])
                    })
            ),
            ("checksum_source", checksumSource.map { .string($0) } ?? .null),
            (
                "checksums",
                .array(
                    checksums.map {
                        .object([
                            ("file", .string($0.file)), ("expected", .string($0.expected)),
                            ("actual", .string($0.actual)), ("ok", .bool($0.expected == $0.actual)),
                        ])
                    })
            ),
            (
                "projections",
                .array(
                    projections.map { p in
                        .object([
                            ("module", .string(p.address.moduleName)), ("layer", p.address.layer.map(JSONValue.int) ?? .null),
                            ("expert", p.address.expert.map(JSONValue.int) ?? .null),
                            ("level_histogram", .array(p.histogram.map(JSONValue.int))), ("scales", scales(p.scales)),
                        ])
                    })
            ),
        ])
    }
}
