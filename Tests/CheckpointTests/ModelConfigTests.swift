import Checkpoint
import Foundation
import TensorIO
import TestSupport
import Testing

@Suite("config.json, quantization_config and recipes")
struct ModelConfigTests {
    static let k2 = SyntheticCheckpoint.configJSON(.init(preset: .k2))

    @Test("K2's config parses with every architecture field")
    func k2Config() throws {
        let c = try ModelConfig(json: Self.k2, file: "config.json")
        #expect(c.modelType == "kimi_k2" && c.hiddenSize == 7168 && c.numHiddenLayers == 61)
        #expect(c.nRoutedExperts == 384 && c.numExpertsPerTok == 8 && c.nSharedExperts == 1)
        #expect(c.qLoraRank == 1536 && c.kvLoraRank == 512 && c.qkHeadDim == 192 && c.vHeadDim == 128)
        #expect(
            c.ropeScaling
                == .init(
                    type: "yarn", factor: 64, originalMaxPositionEmbeddings: 4096, betaFast: 1, betaSlow: 1,
                    mscale: 1, mscaleAllDim: 1))
        #expect(c.routedScalingFactor == 2.827 && c.rmsNormEps == 1e-5)
        #expect(!c.isMoELayer(0) && c.isMoELayer(1) && c.isMoELayer(60) && c.moeLayerCount == 60)
        #expect(c.raw["seq_aux"] == .bool(true), "unknown fields are kept")
    }

    @Test("a missing required field names it; a wrong type names field, value and expectation")
    func missingAndInvalid() throws {
        guard case .object(var members) = Self.k2 else { return }
        members.removeAll { $0.key == "kv_lora_rank" }
        #expect(throws: CheckpointError.missingField(file: "c.json", field: "kv_lora_rank")) {
            try ModelConfig(json: .object(members), file: "c.json")
        }
        members.append(("kv_lora_rank", .string("512")))
        #expect(throws: CheckpointError.invalidField(file: "c.json", field: "kv_lora_rank", found: "\"512\"", expected: "an integer")) {
            try ModelConfig(json: .object(members), file: "c.json")
        }
    }

    /// docs/checkpoint-format.md, "quantization_config".
    @Test("compressed-tensors ignore/targets select only routed experts, as in K2-Thinking")
    func k2TargetMatching() throws {
        let c = try ModelConfig(json: Self.k2, file: "config.json")
        guard case .compressedTensors(let ct)? = c.quantization else { Issue.record("not compressed-tensors"); return }
        #expect(ct.weightArgs(module: "model.layers.1.mlp.experts.17.gate_proj")?.groupSize == 32)
        #expect(ct.weightArgs(module: "model.layers.60.mlp.experts.383.down_proj")?.numBits == 4)
        #expect(ct.weightArgs(module: "model.layers.1.mlp.shared_experts.up_proj") == nil)
        #expect(ct.weightArgs(module: "model.layers.0.mlp.gate_proj") == nil)
        #expect(ct.weightArgs(module: "model.layers.3.self_attn.kv_b_proj") == nil)
        #expect(ct.weightArgs(module: "lm_head") == nil)
        #expect(ct.weightArgs(module: "model.layers.1.mlp.gate", className: "MoEGate") == nil)
        // re: is anchored at the start only, like Python's re.match.
        #expect(CompressedTensorsConfig.matches("re:layers", name: "model.layers.1", className: nil) == false)
        #expect(CompressedTensorsConfig.matches("re:model", name: "model.layers.1", className: nil))
    }

    @Test("the FP8 block form parses")
    func fp8() throws {
        guard case .object(var members) = Self.k2 else { return }
        members.removeAll { $0.key == "quantization_config" }
        members.append(
            (
                "quantization_config",
                try JSONValue.parse(
                    #"{"activation_scheme":"dynamic","fmt":"e4m3","quant_method":"fp8","weight_block_size":[128,128]}"#)
            ))
        let c = try ModelConfig(json: .object(members), file: "config.json")
        #expect(c.quantization == .fp8Block(try #require({ if case .fp8Block(let f)? = c.quantization { f } else { nil } }())))
        let expected = TensorInventory.expected(c, layer: 1).first {
            $0.address == TensorAddress(layer: 1, component: .expertDown, expert: 0, part: .weightScaleInv)
        }
        #expect(expected?.shape == [56, 16])
    }

    @Test("built-in recipes load, match config.json, and equal the files in recipes/")
    func recipes() throws {
        let builtin = Recipe.builtin()
        #expect(builtin.map(\.name).sorted() == ["deepseek-v3", "kimi-k2-instruct", "kimi-k2-thinking"])
        let c = try ModelConfig(json: Self.k2, file: "config.json")
        let r = try Recipe.matching(c)
        #expect(r.name == "kimi-k2-thinking" && r.grid == .qat && r.compression == Recipe.Compression.none && r.bundleRows == 8)
        #expect(r.scheme.weightArgs(module: "model.layers.1.mlp.experts.0.up_proj")?.groupSize == 32)
        #expect(r.scheme.weightArgs(module: "model.layers.1.self_attn.o_proj") == nil)
        let folder = repositoryRoot() + "/recipes"
        for name in ["deepseek-v3.yaml", "kimi-k2-instruct.yaml", "kimi-k2-thinking.yaml"] {
            let onDisk = try Recipe(path: folder + "/" + name)
            #expect(builtin.contains(onDisk), "recipes/\(name) differs from the compiled-in copy: run make recipes")
        }
    }

    @Test("a recipe with an unknown key is an error naming the key")
    func unknownRecipeKey() throws {
        let text = try String(contentsOfFile: repositoryRoot() + "/recipes/kimi-k2-thinking.yaml", encoding: .utf8)
        let typo = text.replacingOccurrences(of: "min_same_top1:", with: "min_same_top_1:")
        #expect(throws: CheckpointError.unknownRecipeKey(file: "r.yaml", key: "parity.min_same_top_1")) {
            try Recipe(yaml: typo, file: "r.yaml")
        }
        let bad = text.replacingOccurrences(of: "compression: none", with: "compression: lz4")
        #expect(throws: CheckpointError.self) { try Recipe(yaml: bad, file: "r.yaml") }
        let zstd = text.replacingOccurrences(of: "compression: none", with: "compression: zstd:7")
        #expect(try Recipe(yaml: zstd, file: "r.yaml").compression == .zstd(level: 7))
    }
}
