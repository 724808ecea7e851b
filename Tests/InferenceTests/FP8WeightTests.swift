import Checkpoint
import Foundation
import Inference
import TensorIO
import TestSupport
import Testing

/// FP8 block checkpoints (K2-Instruct / DeepSeek-V3 form) are read in place: the engine's logits equal those of
/// the same model with every FP8 weight replaced by its F32 dequantization (fp8 × weight_scale_inv of its block).
@Suite struct FP8WeightTests {
    @Test func fp8BlocksEqualTheirF32Dequantization() throws {
        let fp8 = temporaryFolder("ingot-fp8")
        try SyntheticCheckpoint.write(to: fp8, options: .init(preset: .tiny, seed: 3, form: .fp8), threads: 2)
        let checkpoint = try SafetensorsCheckpoint(path: fp8)
        var scales: [String: (shape: [Int], values: [Float])] = [:]
        for name in checkpoint.tensorNames where name.hasSuffix(".weight_scale_inv") {
            let (file, info) = checkpoint.lookup(name)!
            scales[String(name.dropLast(".weight_scale_inv".count))] = (info.shape, try file.floats(named: name))
        }
        #expect(!scales.isEmpty)
        let f32 = temporaryFolder("ingot-fp8-as-f32")
        try FileManager.default.removeItem(atPath: f32)
        try FileManager.default.copyItem(atPath: fp8, toPath: f32)
        try mutateCheckpoint(f32) { spec, bytes in
            if spec.name.hasSuffix(".weight_scale_inv") { return [] }
            guard spec.dtype == .f8E4M3 else { return [(spec, bytes)] }
            let module = String(spec.name.dropLast(".weight".count))
            let (sShape, s) = scales[module]!
            let rows = spec.shape[0], cols = spec.shape[1]
            var out = [Float](repeating: 0, count: rows * cols)
            for r in 0..<rows {
                for c in 0..<cols {
                    out[r * cols + c] = FloatConversion.float(f8E4M3: bytes[r * cols + c]) * s[(r / 128) * sShape[1] + c / 128]
                }
            }
            return [(TensorSpec(name: spec.name, dtype: .f32, shape: spec.shape), out.withUnsafeBytes { Array($0) })]
        }
        let tokens = [1, 5, 9, 2, 7, 7, 3, 0, 11]
        let a = try InferenceEngine(source: openWeights(fp8)).logits(tokens)
        let b = try InferenceEngine(source: openWeights(f32)).logits(tokens)
        #expect(a.allSatisfy { $0.isFinite })
        #expect(a == b)
    }
}
