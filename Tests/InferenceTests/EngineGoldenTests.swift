import Foundation
import Inference
import TensorIO
import TestSupport
import Testing

/// Golden logits from HF transformers (fixtures/scripts/make_engine_golden.py): four tiny DeepSeek-V3-family
/// models that differ in n_group/topk_group, top-k, YaRN factor and betas, q LoRA, first_k_dense_replace and
/// sequence length (every sequence is longer than original_max_position_embeddings); `int4` has compressed-tensors
/// INT4 experts.
@Suite struct EngineGoldenTests {
    static let configs = ["grouped", "int4", "dense0", "k2like"]

    static func golden(_ name: String) throws -> (tokens: [Int], logits: [Float], vocab: Int) {
        let file = try SafetensorsFile(path: fixturesFolder() + "/engine/\(name)-golden.safetensors")
        let tokens = try file.integers(named: "tokens")
        let logits = try file.floats(named: "logits")
        return (tokens, logits, logits.count / tokens.count)
    }

    /// max |a − b| / max |b|: the error relative to the logits' scale.
    static func relativeError(_ a: [Float], _ b: [Float]) -> Float {
        precondition(a.count == b.count)
        var diff: Float = 0, scale: Float = 0
        for i in a.indices {
            diff = max(diff, abs(a[i] - b[i]))
            scale = max(scale, abs(b[i]))
        }
        return diff / scale
    }

    @Test(arguments: configs)
    func logitsMatchTransformers(name: String) throws {
        let g = try Self.golden(name)
        let engine = try InferenceEngine(source: openWeights(fixturesFolder() + "/engine/\(name)"))
        let logits = try engine.logits(g.tokens)
        let error = Self.relativeError(logits, g.logits)
        print("engine golden \(name): max relative error \(error)")
        #expect(error <= 1e-4, "\(name): max relative error \(error)")
    }
}
