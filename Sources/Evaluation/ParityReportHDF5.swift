import Foundation

/// Writes `ingot eval parity --report FILE.h5` (schema in docs/evaluation.md).
///
/// Datasets: `kld`, `delta_p` float64 [N scored tokens]; `hidden_layer` int64, `hidden_cosine`,
/// `hidden_relative_l2`, `hidden_max_abs` float64 [layers]; `routing_layer` int64, `routing_identical`,
/// `routing_overlap` float64 [MoE layers]; `usage_ref`, `usage_cand` int64 [layers, experts] (zero rows for dense
/// layers); tool-call parity, when run: `toolcall_index` (the request's number) and `toolcall_ref_called`,
/// `toolcall_cand_called`, `toolcall_exact`, `toolcall_cand_schema_valid`, `toolcall_failed` int64 [requests] (1/0;
/// failed: a side's request still failed after its retries, a failure row). Root attributes: `generator`, `reference`, `candidate`,
/// `summary` (the JSON summary), `result`.
public enum ParityReportHDF5 {
    /// Writes the report (truncating `path`).
    ///
    /// - Throws: ``HDF5Error``.
    public static func write(
        _ parity: LogitParity, toolCalls: ToolCallParity?, reference: String, candidate: String, summary: String, result: String,
        to path: String
    ) throws {
        let file = try HDF5File(creating: path)
        try file.write(parity.kldValues, shape: [parity.kldValues.count], name: "kld")
        try file.write(parity.deltaPValues, shape: [parity.deltaPValues.count], name: "delta_p")
        try file.write(parity.hidden.map { Int64($0.layer) }, shape: [parity.hidden.count], name: "hidden_layer")
        try file.write(parity.hidden.map(\.cosine), shape: [parity.hidden.count], name: "hidden_cosine")
        try file.write(parity.hidden.map(\.relativeL2), shape: [parity.hidden.count], name: "hidden_relative_l2")
        try file.write(parity.hidden.map(\.maxAbs), shape: [parity.hidden.count], name: "hidden_max_abs")
        try file.write(parity.routing.map { Int64($0.layer) }, shape: [parity.routing.count], name: "routing_layer")
        try file.write(parity.routing.map(\.identical), shape: [parity.routing.count], name: "routing_identical")
        try file.write(parity.routing.map(\.meanOverlap), shape: [parity.routing.count], name: "routing_overlap")
        for (name, usage) in [("usage_ref", parity.usageRef), ("usage_cand", parity.usageCand)] where !usage.isEmpty {
            let experts = usage.map(\.count).max() ?? 0
            let rows = usage.flatMap { row in (0..<experts).map { Int64($0 < row.count ? row[$0] : 0) } }
            try file.write(rows, shape: [usage.count, experts], name: name)
        }
        if let t = toolCalls {
            let n = t.requests.count
            try file.write(t.requests.map { Int64($0.referenceCalled ? 1 : 0) }, shape: [n], name: "toolcall_ref_called")
            try file.write(t.requests.map { Int64($0.candidateCalled ? 1 : 0) }, shape: [n], name: "toolcall_cand_called")
            try file.write(t.requests.map { Int64($0.exactMatch ? 1 : 0) }, shape: [n], name: "toolcall_exact")
            try file.write(t.requests.map { Int64($0.candidateSchemaValid ? 1 : 0) }, shape: [n], name: "toolcall_cand_schema_valid")
            try file.write(t.requests.map { Int64($0.index) }, shape: [n], name: "toolcall_index")
            try file.write(
                t.requests.map { Int64($0.reference.failure != nil || $0.candidate.failure != nil ? 1 : 0) }, shape: [n],
                name: "toolcall_failed")
        }
        try file.setAttribute("generator", "ingot eval parity")
        try file.setAttribute("reference", reference)
        try file.setAttribute("candidate", candidate)
        try file.setAttribute("summary", summary)
        try file.setAttribute("result", result)
    }
}
