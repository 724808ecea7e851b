import Foundation
public import TensorIO

extension Distribution {
    /// {"mean", "mean_error", "rms", "max", "99.9%", …, "min"}.
    public var json: JSONValue {
        .object(
            [("mean", .double(mean)), ("mean_error", .double(meanError)), ("rms", .double(rms))]
                + percentiles.map { ($0.label, .double($0.value)) })
    }
}

extension LogitParity {
    /// The JSON summary (per-token values are in the HDF5 report).
    public var json: JSONValue {
        .object([
            ("ctx", .int(ctx)), ("chunks", .int(chunks)), ("scored_tokens", .int(scoredTokens)),
            ("ppl_ref", .double(pplRef)), ("ppl_ref_error", .double(pplRefError)), ("ppl_cand", .double(pplCand)),
            ("ppl_cand_error", .double(pplCandError)), ("ppl_ratio", .double(pplRatio)), ("mean_ln_ratio", .double(meanLnRatio)),
            ("mean_ln_ratio_error", .double(meanLnRatioError)), ("nll_correlation", .double(nllCorrelation)), ("kld", kld.json),
            ("delta_p", deltaP.json), ("same_top1", .double(sameTop1)), ("same_top1_error", .double(sameTop1Error)),
            (
                "hidden",
                .array(
                    hidden.map {
                        .object([
                            ("layer", .int($0.layer)), ("cosine", .double($0.cosine)), ("relative_l2", .double($0.relativeL2)),
                            ("max_abs", .double($0.maxAbs)),
                        ])
                    })
            ),
            (
                "routing",
                .array(
                    routing.map {
                        .object([
                            ("layer", .int($0.layer)), ("tokens", .int($0.tokens)), ("identical", .double($0.identical)),
                            ("mean_overlap", .double($0.meanOverlap)),
                        ])
                    })
            ),
            ("seconds", .double(seconds)),
        ])
    }

    /// The text table.
    public var text: String {
        func f(_ v: Double, _ digits: Int = 6) -> String { String(format: "%.\(digits)f", v) }
        var lines = [
            "tokens     \(scoredTokens) scored in \(chunks) chunks of \(ctx)",
            "PPL        ref \(f(pplRef, 4)) ± \(f(pplRefError, 4))   cand \(f(pplCand, 4)) ± \(f(pplCandError, 4))   ratio \(f(pplRatio))",
            "ln ratio   \(f(meanLnRatio)) ± \(f(meanLnRatioError))   NLL correlation \(f(nllCorrelation))",
            "KLD        mean \(f(kld.mean)) ± \(f(kld.meanError))   "
                + kld.percentiles.filter { ["max", "99.9%", "99%", "95%", "median"].contains($0.label) }.map {
                    "\($0.label) \(f($0.value))"
                }.joined(separator: "  "),
            "Δp         mean \(f(deltaP.mean)) ± \(f(deltaP.meanError))   RMS \(f(deltaP.rms))   max \(f(deltaP.value("max") ?? .nan))   min \(f(deltaP.value("min") ?? .nan))",
            "same top-1 \(String(format: "%.3f", sameTop1 * 100))% ± \(String(format: "%.3f", sameTop1Error * 100))%",
        ]
        if !routing.isEmpty {
            lines.append(
                "routing    "
                    + routing.map {
                        "L\($0.layer) \(String(format: "%.1f", $0.identical * 100))% (overlap \(String(format: "%.3f", $0.meanOverlap)))"
                    }
                    .joined(separator: "  "))
        }
        if let worst = hidden.min(by: { $0.cosine < $1.cosine }) {
            lines.append(
                "hidden     lowest cosine \(f(worst.cosine, 8)) at layer \(worst.layer), largest relative L2 \(f(hidden.map(\.relativeL2).max() ?? 0, 8))"
            )
        }
        return lines.joined(separator: "\n")
    }
}
