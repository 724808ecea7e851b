import Checkpoint
public import Quantization

/// Writes `ingot verify --report FILE.h5`: one row per INT4 projection.
///
/// Datasets (N projections): `layer`, `expert` (−1 when not a routed expert), `projection` (0 gate, 1 up,
/// 2 down, 3 other) as int64 [N]; `level_histogram` int64 [N, 16] (column k counts level k − 8);
/// `scale_min`, `scale_max` float32 [N]; `scale_count`, `scale_bad`, `scale_not_fp16_exact` int64 [N].
/// Root attributes: `model`, `form`, `generator`, `result`.
public enum VerifyReportHDF5 {
    /// Writes the report (truncating `path`).
    ///
    /// - Throws: ``HDF5Error``.
    public static func write(_ report: VerifyReport, to path: String) throws {
        let file = try HDF5File(creating: path)
        let p = report.projections
        try file.write(p.map { Int64($0.address.layer ?? -1) }, shape: [p.count], name: "layer")
        try file.write(p.map { Int64($0.address.expert ?? -1) }, shape: [p.count], name: "expert")
        try file.write(
            p.map { x -> Int64 in
                switch x.address.component {
                case .expertGate, .sharedGate, .denseGate: 0
                case .expertUp, .sharedUp, .denseUp: 1
                case .expertDown, .sharedDown, .denseDown: 2
                default: 3
                }
            }, shape: [p.count], name: "projection")
        try file.write(p.flatMap { $0.histogram.map(Int64.init) }, shape: [p.count, 16], name: "level_histogram")
        try file.write(p.map { $0.scales.minimum }, shape: [p.count], name: "scale_min")
        try file.write(p.map { $0.scales.maximum }, shape: [p.count], name: "scale_max")
        try file.write(p.map { Int64($0.scales.count) }, shape: [p.count], name: "scale_count")
        try file.write(p.map { Int64($0.scales.bad) }, shape: [p.count], name: "scale_bad")
        try file.write(p.map { Int64($0.scales.notFP16Exact) }, shape: [p.count], name: "scale_not_fp16_exact")
        try file.setAttribute("model", report.model)
        try file.setAttribute("form", report.kind.id)
        try file.setAttribute("generator", "ingot verify")
        try file.setAttribute("result", report.hasFindings ? "findings" : "ok")
    }
}
