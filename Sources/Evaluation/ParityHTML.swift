import Foundation

/// `ingot eval parity --html FILE`: one self-contained page (inline CSS and SVG, no scripts, no network) with the
/// summary table and plots: per-layer hidden-state error, the KLD distribution, routing agreement per layer, the
/// reference's expert-usage heat map, and the tool-call confusion table.
public enum ParityHTML {
    public static func render(
        reference: String, candidate: String, logits: LogitParity?, tools: ToolCallParity?, failures: [String]
    ) -> String {
        var body = "<h1>ingot parity report</h1>"
        body += "<p><b>REF</b> \(escape(reference))<br><b>CAND</b> \(escape(candidate))</p>"
        body +=
            failures.isEmpty
            ? "<p class=ok id=result>Result: OK</p>"
            : "<p class=bad id=result>Result: FAILED — \(failures.map(escape).joined(separator: "; "))</p>"
        if let l = logits {
            let rows: [(String, String)] = [
                ("Scored tokens", "\(l.scoredTokens) (\(l.chunks) chunks × \(l.ctx))"),
                ("PPL REF", String(format: "%.4f ± %.4f", l.pplRef, l.pplRefError)),
                ("PPL CAND", String(format: "%.4f ± %.4f", l.pplCand, l.pplCandError)),
                ("PPL ratio", String(format: "%.6f", l.pplRatio)),
                ("Mean ln ratio", String(format: "%.6f ± %.6f", l.meanLnRatio, l.meanLnRatioError)),
                ("Mean KLD", String(format: "%.6g ± %.2g", l.kld.mean, l.kld.meanError)),
                ("KLD 99.9% / max", String(format: "%.6g / %.6g", l.kld.value("99.9%") ?? .nan, l.kld.value("max") ?? .nan)),
                ("RMS Δp", String(format: "%.4f%%", l.deltaP.rms * 100)),
                ("Same top-1", String(format: "%.3f%% ± %.3f%%", l.sameTop1 * 100, l.sameTop1Error * 100)),
            ]
            body += table(["Metric", "Value"], rows.map { [$0.0, $0.1] }, id: "summary")
            body += "<h2>Hidden-state relative L2 error per layer</h2>"
            body += bars(l.hidden.map { ("L\($0.layer)", $0.relativeL2) }, format: "%.2e", id: "hidden")
            body += "<h2>KLD distribution (per scored token, log₁₀ bins)</h2>" + histogram(l.kldValues, id: "kld")
            body += "<h2>Routing agreement per MoE layer (identical expert set)</h2>"
            body += bars(l.routing.map { ("L\($0.layer)", $0.identical) }, format: "%.3f", maxValue: 1, id: "routing")
            body += "<h2>Expert usage (REF), layers × experts</h2>" + heatMap(l.usageRef.isEmpty ? l.usageCand : l.usageRef, id: "usage")
        }
        if let t = tools {
            let tp = t.requests.filter { $0.referenceCalled && $0.candidateCalled }.count
            let fp = t.requests.filter { !$0.referenceCalled && $0.candidateCalled }.count
            let fn = t.requests.filter { $0.referenceCalled && !$0.candidateCalled }.count
            let tn = t.requests.count - tp - fp - fn
            body += "<h2>Tool calls (\(t.requests.count) requests)</h2>"
            body += table(
                ["", "CAND called", "CAND did not call"], [["REF called", "\(tp)", "\(fn)"], ["REF did not call", "\(fp)", "\(tn)"]],
                id: "confusion")
            var rows = [
                ["Trigger precision", String(format: "%.4f", t.precision)], ["Trigger recall", String(format: "%.4f", t.recall)],
                ["Trigger F1", String(format: "%.4f", t.f1)], ["Schema accuracy CAND", String(format: "%.4f", t.schemaAccuracyCandidate)],
                ["Exact call match", String(format: "%.4f", t.exactMatchRate)],
            ]
            if let tf = t.teacherForcedTop1 { rows.append(["Teacher-forced top-1", String(format: "%.4f", tf)]) }
            body += table(["Metric", "Value"], rows, id: "toolcalls")
        }
        return """
            <!DOCTYPE html>
            <html lang="en"><head><meta charset="utf-8"><title>ingot parity report</title>
            <style>
            body{font-family:sans-serif;margin:24px;color:#222;max-width:980px}
            table{border-collapse:collapse;margin:8px 0 16px}td,th{border:1px solid #bbb;padding:4px 10px;text-align:left}
            th{background:#eee}.ok{color:#176b2c;font-weight:bold}.bad{color:#b00020;font-weight:bold}
            svg{background:#fafafa;border:1px solid #ddd}
            </style></head><body>
            \(body)
            </body></html>

            """
    }

    static func escape(_ s: String) -> String {
        s.replacingOccurrences(of: "&", with: "&amp;").replacingOccurrences(of: "<", with: "&lt;").replacingOccurrences(
            of: ">", with: "&gt;"
        )
        .replacingOccurrences(of: "\"", with: "&quot;")
    }

    static func table(_ header: [String], _ rows: [[String]], id: String) -> String {
        "<table id=\(id)><tr>" + header.map { "<th>\(escape($0))</th>" }.joined() + "</tr>"
            + rows.map { "<tr>" + $0.map { "<td>\(escape($0))</td>" }.joined() + "</tr>" }.joined() + "</table>"
    }

    /// A vertical bar chart; values are drawn to `maxValue` (default: the largest value).
    static func bars(_ values: [(String, Double)], format: String, maxValue: Double? = nil, id: String) -> String {
        guard !values.isEmpty else { return "<p>(none)</p>" }
        let w = max(300, 40 * values.count + 40), h = 200
        let top = max(maxValue ?? values.map(\.1).filter { $0.isFinite }.max() ?? 1, 1e-30)
        var svg = "<svg id=\(id) width=\(w) height=\(h + 40) xmlns=\"http://www.w3.org/2000/svg\">"
        for (i, (label, v)) in values.enumerated() {
            let bh = v.isFinite ? Int(Double(h - 20) * min(v / top, 1)) : 0
            let x = 30 + i * 40
            svg += "<rect x=\(x) y=\(h - bh) width=28 height=\(bh) fill=\"#3b6fb6\"/>"
            svg += "<text x=\(x + 14) y=\(h + 14) font-size=11 text-anchor=middle>\(escape(label))</text>"
            svg += "<text x=\(x + 14) y=\(h - bh - 4) font-size=9 text-anchor=middle>\(String(format: format, v))</text>"
        }
        return svg + "</svg>"
    }

    /// Counts of values per decade (10⁻¹² … 10¹), zeros counted apart.
    static func histogram(_ values: [Double], id: String) -> String {
        var bins = [Int](repeating: 0, count: 14)
        var zeros = 0
        for v in values {
            if v <= 0 {
                zeros += 1
                continue
            }
            bins[min(13, max(0, Int(floor(log10(v))) + 12))] += 1
        }
        let labels = ["0"] + (0..<14).map { "1e\($0 - 12)" }
        return bars(zip(labels, [zeros] + bins).map { ($0, Double($1)) }, format: "%.0f", id: id)
    }

    /// Layers × experts, darker = more selections (each layer scaled to its own maximum).
    static func heatMap(_ usage: [[Int]], id: String) -> String {
        let rows = usage.enumerated().filter { !$0.element.isEmpty }
        guard let experts = rows.map({ $0.element.count }).max(), experts > 0 else { return "<p>(no MoE layers)</p>" }
        let cell = max(2, min(24, 900 / experts)), w = 50 + experts * cell, h = rows.count * 18 + 10
        var svg = "<svg id=\(id) width=\(w) height=\(h) xmlns=\"http://www.w3.org/2000/svg\">"
        for (r, (layer, counts)) in rows.enumerated() {
            let top = max(1, counts.max() ?? 1)
            svg += "<text x=4 y=\(r * 18 + 17) font-size=11>L\(layer)</text>"
            for (e, c) in counts.enumerated() {
                let shade = 255 - Int(200 * Double(c) / Double(top))
                svg +=
                    "<rect x=\(46 + e * cell) y=\(r * 18 + 4) width=\(cell) height=16 fill=\"rgb(\(shade),\(shade),255)\"><title>expert \(e): \(c)</title></rect>"
            }
        }
        return svg + "</svg>"
    }
}
