import Checkpoint
import Foundation
public import Inference
public import TensorIO

/// Expert usage counts per MoE layer (`ingot profile`), the input of `ingot repack --expert-order`.
public struct ExpertUsage: Sendable {
    /// Per layer, per expert: token slots that selected it (empty for dense layers).
    public var counts: [[Int]]
    public var tokens: Int

    /// Counts the routing of every token of `sequences` (each evaluated alone).
    public static func profile(engine: InferenceEngine, sequences: [[Int]], progress: ((Int, Int) -> Void)? = nil) throws -> ExpertUsage {
        let recorder = RoutingRecorder()
        for (i, s) in sequences.enumerated() where !s.isEmpty {
            _ = try engine.logits(s, routing: bind(recorder.hook(), i))
            progress?(i + 1, sequences.count)
        }
        return ExpertUsage(
            counts: recorder.usage(layers: engine.config.layers, experts: engine.config.model.nRoutedExperts),
            tokens: sequences.reduce(0) { $0 + $1.count })
    }

    /// `{"tokens": N, "layers": {"1": [count per expert], …}}` (layers with experts only).
    public var json: JSONValue {
        .object([
            ("tokens", .int(tokens)),
            (
                "layers",
                .object(counts.enumerated().filter { !$0.element.isEmpty }.map { (String($0.offset), .array($0.element.map { .int($0) })) })
            ),
        ])
    }
}
