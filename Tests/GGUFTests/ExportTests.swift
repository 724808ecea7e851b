import Checkpoint
import Foundation
import GGUF
import Quantization
import TensorIO
import TestSupport
import Testing

@Suite("ingot export gguf on synthetic checkpoints")
struct ExportTests {
    static func export(_ folder: String, _ options: GGUFExporter.Options = .init()) throws -> (GGUFExportReport, GGUFFile) {
        let path = temporaryFolder("gguf-export") + "/out.gguf"
        let report = try GGUFExporter.run(source: folder, output: path, options: options)
        return (report, try GGUFFile(path: report.files[0]))
    }

    static func u16(_ b: UnsafeRawBufferPointer, _ i: Int) -> UInt16 {
        UInt16(littleEndian: b.loadUnaligned(fromByteOffset: 2 * i, as: UInt16.self))
    }

    @Test("deepseek2 keys carry config.json's values")
    func metadata() throws {
        let folder = try tinyCheckpoint(seed: 1)
        let config = try ModelConfig(path: folder + "/config.json")
        let (_, file) = try Self.export(folder)
        func int(_ k: String) -> Int64? { file.value("deepseek2." + k)?.integerValue }
        #expect(file.value("general.architecture") == .string("deepseek2"))
        #expect(int("block_count") == Int64(config.numHiddenLayers))
        #expect(int("leading_dense_block_count") == Int64(config.firstKDenseReplace))
        #expect(int("attention.kv_lora_rank") == Int64(config.kvLoraRank))
        #expect(int("attention.q_lora_rank") == Int64(config.qLoraRank!))
        #expect(int("attention.key_length") == Int64(config.kvLoraRank + config.qkRopeHeadDim))
        #expect(int("attention.value_length_mla") == Int64(config.vHeadDim))
        #expect(int("attention.head_count_kv") == 1)
        #expect(int("expert_count") == Int64(config.nRoutedExperts))
        #expect(int("expert_used_count") == Int64(config.numExpertsPerTok))
        #expect(int("expert_shared_count") == Int64(config.nSharedExperts))
        #expect(int("expert_gating_func") == 2)
        #expect(file.value("deepseek2.expert_weights_scale") == .float32(Float(config.routedScalingFactor)))
        #expect(file.value("deepseek2.expert_weights_norm") == .bool(true))
        #expect(file.value("deepseek2.rope.scaling.type") == .string("yarn"))
        #expect(file.value("deepseek2.rope.scaling.factor") == .float32(Float(config.ropeScaling!.factor)))
        #expect(int("rope.scaling.original_context_length") == Int64(config.ropeScaling!.originalMaxPositionEmbeddings!))
        #expect(file.value("deepseek2.rope.scaling.yarn_log_multiplier") == .float32(Float(0.1 * config.ropeScaling!.mscaleAllDim)))
        #expect(int("context_length") == Int64(config.maxPositionEmbeddings))
        #expect(int("vocab_size") == Int64(config.vocabSize))
        #expect(file.value("general.quantization_version") == .uint32(2))
        #expect(file.value("tokenizer.ggml.model") == nil)
    }

    @Test("every expert block is the reference conversion of its source group and dequantizes to q × scale")
    func experts() throws {
        let folder = try tinyCheckpoint(seed: 2)
        let config = try ModelConfig(path: folder + "/config.json")
        let checkpoint = try SafetensorsCheckpoint(path: folder)
        let (report, file) = try Self.export(folder)
        #expect(report.isLossless && report.groups > 0)
        var checked = 0
        for layer in 0..<config.numHiddenLayers where config.isMoELayer(layer) {
            for (component, name) in [(TensorAddress.Component.expertGate, "gate"), (.expertUp, "up"), (.expertDown, "down")] {
                let t = try #require(file.tensor("blk.\(layer).ffn_\(name)_exps.weight"))
                #expect(t.type == .q4_0 && t.dims[2] == config.nRoutedExperts)
                try file.withBytes(of: t.name) { out in
                    for e in 0..<config.nRoutedExperts {
                        let a = TensorAddress(layer: layer, component: component, expert: e, part: .weightPacked)
                        let packed = try checkpoint.bytes(named: a.name)
                        let scales = try checkpoint.bytes(
                            named: TensorAddress(layer: layer, component: component, expert: e, part: .weightScale).name)
                        let rows = t.dims[1], groups = t.dims[0] / 32
                        for r in 0..<rows {
                            for g in 0..<groups {
                                let src = UnsafeRawBufferPointer(rebasing: packed[((r * groups + g) * 16)..<((r * groups + g) * 16 + 16)])
                                let (block, _) = Q4_0Conversion.block(packed: src, scaleBF16: Self.u16(scales, r * groups + g))
                                let o = ((e * rows + r) * groups + g) * 18
                                #expect(Array(out[o..<(o + 18)]) == block.bytes)
                                let values = Q4_0Conversion.dequantize(block)
                                let s = FloatConversion.float(bf16: Self.u16(scales, r * groups + g))
                                for c in 0..<32 {
                                    let byte = src[c / 2]
                                    let q = Int(c % 2 == 0 ? byte & 0x0F : byte >> 4) - 8
                                    #expect(values[c] == Float(q) * s)
                                }
                                checked += 1
                            }
                        }
                    }
                }
            }
        }
        #expect(checked == report.groups)
    }

    @Test("kv_b splits into attn_k_b (per head transposed) and attn_v_b as llama.cpp's converter does")
    func kvBSplit() throws {
        let folder = try tinyCheckpoint(seed: 3)
        let config = try ModelConfig(path: folder + "/config.json")
        let checkpoint = try SafetensorsCheckpoint(path: folder)
        let (_, file) = try Self.export(folder)
        let heads = config.numAttentionHeads, nope = config.qkNopeHeadDim, v = config.vHeadDim, lora = config.kvLoraRank
        for layer in 0..<config.numHiddenLayers {
            let src = try checkpoint.bytes(named: TensorAddress(layer: layer, component: .kvBProj).name)
            let kb = try #require(file.tensor("blk.\(layer).attn_k_b.weight"))
            let vb = try #require(file.tensor("blk.\(layer).attn_v_b.weight"))
            #expect(kb.dims == [nope, lora, heads] && vb.dims == [lora, v, heads])
            #expect(kb.type == .bf16 && vb.type == .bf16)
            try file.withBytes(of: kb.name) { k in
                try file.withBytes(of: vb.name) { vv in
                    for h in 0..<heads {
                        for l in 0..<lora {
                            for n in 0..<nope {
                                #expect(Self.u16(k, (h * lora + l) * nope + n) == Self.u16(src, (h * (nope + v) + n) * lora + l))
                            }
                        }
                        for i in 0..<v {
                            for l in 0..<lora {
                                #expect(Self.u16(vv, (h * v + i) * lora + l) == Self.u16(src, (h * (nope + v) + nope + i) * lora + l))
                            }
                        }
                    }
                }
            }
        }
    }

    @Test("dense tensors: BF16 bit-identical, norms and router F32 widened exactly, F32 and Q8_0 on request")
    func denseTypes() throws {
        let folder = try tinyCheckpoint(seed: 4)
        let checkpoint = try SafetensorsCheckpoint(path: folder)
        let (_, bf16File) = try Self.export(folder)
        let (f32Report, f32File) = try Self.export(folder, .init(denseType: .f32))
        let (q8Report, q8File) = try Self.export(folder, .init(denseType: .q8_0))
        let pairs = [
            ("model.embed_tokens.weight", "token_embd.weight"), ("model.layers.0.mlp.down_proj.weight", "blk.0.ffn_down.weight"),
            ("model.layers.1.self_attn.q_b_proj.weight", "blk.1.attn_q_b.weight"),
        ]
        for (s, g) in pairs {
            let src = try checkpoint.bytes(named: s)
            #expect(try bf16File.withBytes(of: g) { Array($0) } == Array(src))
            let floats = (0..<(src.count / 2)).map { FloatConversion.float(bf16: Self.u16(src, $0)) }
            #expect(f32File.tensor(g)?.type == .f32)
            #expect(
                try f32File.withBytes(of: g) { b in
                    (0..<floats.count).map { Float(bitPattern: b.loadUnaligned(fromByteOffset: 4 * $0, as: UInt32.self)) }
                } == floats)
            #expect(q8File.tensor(g)?.type == .q8_0)
            var expected = [UInt8](repeating: 0, count: floats.count / 32 * 34)
            floats.withUnsafeBufferPointer { f in
                expected.withUnsafeMutableBytes { GGUFKernels.q8_0Row(f.baseAddress!, count: floats.count, into: $0.baseAddress!) }
            }
            #expect(try q8File.withBytes(of: g) { Array($0) } == expected)
        }
        for (s, g) in [
            ("model.layers.1.input_layernorm.weight", "blk.1.attn_norm.weight"),
            ("model.layers.1.mlp.gate.weight", "blk.1.ffn_gate_inp.weight"),
        ] {
            let src = try checkpoint.bytes(named: s)
            #expect(bf16File.tensor(g)?.type == .f32)
            let floats = (0..<(src.count / 2)).map { FloatConversion.float(bf16: Self.u16(src, $0)) }
            #expect(
                try bf16File.withBytes(of: g) { b in
                    (0..<floats.count).map { Float(bitPattern: b.loadUnaligned(fromByteOffset: 4 * $0, as: UInt32.self)) }
                } == floats)
        }
        // attn_k_b rows are qk_nope_head_dim = 16 wide: not a Q8_0 block, so BF16 with a note.
        #expect(q8File.tensor("blk.0.attn_k_b.weight")?.type == .bf16)
        #expect(q8Report.notes.contains { $0.contains("attn_k_b") })
        #expect(f32Report.notes.isEmpty)
    }

    @Test("scales outside F16's exact range are counted and located; the rest stay exact")
    func inexactScales() throws {
        let folder = try tinyCheckpoint(seed: 5)
        // Expert 3 of layer 1's up_proj: row 2 group 0 below F16's subnormals, row 5 group 1 above 65504.
        let target = TensorAddress(layer: 1, component: .expertUp, expert: 3, part: .weightScale).name
        var groupsPerRow = 0
        try mutateCheckpoint(folder) { spec, bytes in
            guard spec.name == target else { return [(spec, bytes)] }
            groupsPerRow = spec.shape[1]
            var b = bytes
            for (row, group, bits) in [(2, 0, UInt16(0x0001)), (5, 1, UInt16(0x4780))] {
                let i = 2 * (row * groupsPerRow + group)
                b[i] = UInt8(bits & 0xFF)
                b[i + 1] = UInt8(bits >> 8)
            }
            return [(spec, b)]
        }
        let (report, _) = try Self.export(folder)
        #expect(!report.isLossless)
        #expect(report.inexactGroups == 2)
        #expect(report.tensors.first { $0.name == "blk.1.ffn_up_exps.weight" }?.inexactGroups == 2)
        let places = report.inexactExamples.map { [$0.expert, $0.row, $0.group, Int($0.scaleBF16)] }
        #expect(places == [[3, 2, 0, 1], [3, 5, 1, 0x4780]])
        #expect(report.inexactExamples.allSatisfy { $0.tensor == "blk.1.ffn_up_exps.weight" && $0.source == target })
        #expect(report.inexactExamples[1].scaleF16 == .infinity)
    }

    @Test("split output: llama.cpp's names, split keys, and the same tensors as one file")
    func split() throws {
        let folder = try tinyCheckpoint(seed: 6)
        let (_, whole) = try Self.export(folder)
        let out = temporaryFolder("gguf-split") + "/m.gguf"
        let report = try GGUFExporter.run(source: folder, output: out, options: .init(splitMaxBytes: 60_000))
        #expect(report.files.count > 2)
        let n = report.files.count
        let paddedCount = String(repeating: "0", count: 5 - String(n).count) + String(n)
        #expect(report.files.first == out.dropLast(5) + "-00001-of-\(paddedCount).gguf")
        var names: [String] = []
        for (i, path) in report.files.enumerated() {
            let f = try GGUFFile(path: path)
            #expect(f.value("split.no") == .uint16(UInt16(i)))
            #expect(f.value("split.count") == .uint16(UInt16(n)))
            #expect(f.value("split.tensors.count") == .int32(Int32(whole.tensors.count)))
            #expect((f.value("general.architecture") != nil) == (i == 0))
            let dataBytes = f.tensors.reduce(0) { $0 + GGUFHeader.align($1.byteCount, 32) }
            #expect(dataBytes <= 60_000 || f.tensors.count == 1)
            for t in f.tensors {
                names.append(t.name)
                #expect(try f.withBytes(of: t.name) { Array($0) } == whole.withBytes(of: t.name) { Array($0) })
            }
        }
        #expect(names == whole.tensors.map(\.name))
        #expect(whole.metadata.allSatisfy { kv in try! GGUFFile(path: report.files[0]).value(kv.key) == kv.value })
    }

    @Test("a checkpoint with a tensor the architecture does not have is refused, and nothing is written")
    func unknownTensor() throws {
        let folder = try tinyCheckpoint(preset: .micro, seed: 7)
        try mutateCheckpoint(folder) { spec, bytes in
            spec.name == "model.norm.weight"
                ? [(spec, bytes), (TensorSpec(name: "model.extra.weight", dtype: .bf16, shape: [2]), [0, 0, 0, 0])] : [(spec, bytes)]
        }
        let outFolder = temporaryFolder("gguf-export")
        #expect(throws: GGUFError.unsupportedSource(tensor: "model.extra.weight", reason: "not a tensor of the DeepSeek-V3 architecture")) {
            try GGUFExporter.run(source: folder, output: outFolder + "/x.gguf", options: .init())
        }
        #expect(try FileManager.default.contentsOfDirectory(atPath: outFolder).isEmpty)
    }
}
