import BundleFormat
import Checkpoint
import Evaluation
import Foundation
import Inference
import TensorIO
import TestSupport
import Testing

@Suite struct EvaluationTests {
    static func folder(_ name: String) -> String { fixturesFolder() + "/engine/\(name)" }

    static func golden(_ name: String) throws -> SafetensorsFile {
        try SafetensorsFile(path: fixturesFolder() + "/engine/\(name)-golden.safetensors")
    }

    @Test(arguments: ["grouped", "int4", "dense0", "k2like"])
    func perplexityMatchesTransformersChunkedDefinition(name: String) throws {
        let g = try Self.golden(name)
        let tokens = try g.integers(named: "tokens")
        let expected = Double(try g.floats(named: "ppl_ctx16")[0])
        let r = try InferenceEngine(source: openWeights(Self.folder(name))).perplexity(tokens, ctx: 16)
        #expect(r.chunks == tokens.count / 16 && r.scoredTokens == r.chunks * 7)
        #expect(abs(r.perplexity - expected) / expected < 1e-4, "\(name): \(r.perplexity) vs transformers \(expected)")
        let streamed = try InferenceEngine(source: openWeights(Self.folder(name))).perplexity(tokens, ctx: 16, streamLayers: true)
        #expect(streamed.perplexity == r.perplexity)
    }

    /// Scoring computes one log-sum-exp per row, rows in parallel: the NLL is exactly −logSoftmax[target], and the
    /// perplexity does not depend on the thread count (the NLLs are summed in position order).
    @Test func scoringIsExactAndThreadCountFree() throws {
        var rng = SplitMix64(seed: 11)
        let row: [Float] = (0..<1000).map { _ in Float(Int(rng.next() % 20_000) - 10_000) / 700 }
        row.withUnsafeBufferPointer { r in
            for target in [0, 17, 999] {
                #expect(Perplexity.negativeLogLikelihood(r, target: target) == -Perplexity.logSoftmax(r)[target])
            }
        }
        let tokens = try Self.golden("grouped").integers(named: "tokens")
        let one = try InferenceEngine(source: openWeights(Self.folder("grouped")), threads: 1).perplexity(tokens, ctx: 16)
        let two = try InferenceEngine(source: openWeights(Self.folder("grouped")), threads: 2).perplexity(tokens, ctx: 16)
        #expect(one.perplexity == two.perplexity && one.runningPerplexity == two.runningPerplexity)
    }

    /// The HDF5 report carries each request's number and whether it was a failure row (docs/evaluation.md, "Reports").
    @Test func parityReportListsToolCallRequestsAndFailureRows() throws {
        let tokens = try Self.golden("int4").integers(named: "tokens")
        let engine = try InferenceEngine(source: openWeights(Self.folder("int4")))
        let logits = try LogitParity.compare(reference: .engine(engine), candidate: engine, tokens: tokens, ctx: 12)
        let call = ToolCallOutcome(
            calls: [.init(name: "f", arguments: "{}")], content: nil, reasoning: nil, text: "", finishReason: "tool_calls")
        let calls = ToolCallParity(requests: [
            ToolCallParity.compare(index: 3, reference: call, candidate: call, tools: []),
            ToolCallParity.compare(index: 7, reference: call, candidate: .failed("HTTP 429 after 6 retries"), tools: []),
        ])
        let path = temporaryFolder() + "/p.h5"
        try ParityReportHDF5.write(logits, toolCalls: calls, reference: "r", candidate: "c", summary: "{}", result: "ok", to: path)
        let file = try HDF5File(reading: path)
        #expect(try file.readFloats("toolcall_index").values == [3, 7])
        #expect(try file.readFloats("toolcall_failed").values == [0, 1])
        #expect(try file.readFloats("toolcall_exact").values == [1, 0])
    }

    @Test func tooFewTokensForOneChunkIsAnError() throws {
        let engine = try InferenceEngine(source: openWeights(Self.folder("dense0")))
        #expect(throws: EvaluationError.textTooShort(tokens: 3, ctx: 16)) { try engine.perplexity([1, 2, 3], ctx: 16) }
    }

    @Test func modelAgainstItselfAndAgainstItsBundleIsExact() throws {
        let tokens = try Self.golden("int4").integers(named: "tokens")
        let bundle = temporaryFolder() + "/b"
        _ = try BundleRepacker.run(source: Self.folder("int4"), output: bundle, options: .init())
        let ref = try InferenceEngine(source: openWeights(Self.folder("int4")))
        for cand in [ref, try InferenceEngine(source: openWeights(bundle))] {
            let p = try LogitParity.compare(reference: .engine(ref), candidate: cand, tokens: tokens, ctx: 12)
            #expect(p.scoredTokens == 10)
            #expect(p.kld.mean == 0 && p.kld.value("max") == 0)
            #expect(p.sameTop1 == 1 && p.deltaP.rms == 0 && p.pplRatio == 1)
            #expect(p.routing.count == 2 && p.routing.allSatisfy { $0.identical == 1 && $0.meanOverlap == 1 })
            #expect(p.hidden.count == 3 && p.hidden.allSatisfy { $0.maxAbs == 0 && $0.relativeL2 == 0 })
            #expect(p.usageRef == p.usageCand && p.usageRef[1].reduce(0, +) == 24 * 2)
        }
    }

    /// A candidate whose expert scales are perturbed (one expert in three scaled by 1.25) is caught.
    @Test func degradedCandidateIsDetected() throws {
        let tokens = try Self.golden("int4").integers(named: "tokens")
        let degraded = temporaryFolder("ingot-degraded")
        try FileManager.default.removeItem(atPath: degraded)
        try FileManager.default.copyItem(atPath: Self.folder("int4"), toPath: degraded)
        try mutateCheckpoint(degraded) { spec, bytes in
            guard spec.name.hasSuffix("weight_scale"), let a = TensorAddress(name: spec.name), (a.expert ?? 1) % 3 == 0 else {
                return [(spec, bytes)]
            }
            var out = bytes
            for i in stride(from: 0, to: out.count, by: 2) {
                let v = FloatConversion.float(bf16: UInt16(out[i]) | UInt16(out[i + 1]) << 8) * 1.25
                let b = FloatConversion.bf16(v)
                out[i] = UInt8(b & 0xFF)
                out[i + 1] = UInt8(b >> 8)
            }
            return [(spec, out)]
        }
        let ref = try InferenceEngine(source: openWeights(Self.folder("int4")))
        let p = try LogitParity.compare(
            reference: .engine(ref), candidate: InferenceEngine(source: openWeights(degraded)), tokens: tokens, ctx: 12)
        #expect(p.kld.mean > 1e-4)
        #expect(p.hidden.last!.relativeL2 > 1e-3)
        #expect(p.deltaP.rms > 0)
    }

    @Test func savedReferenceReproducesTheParity() throws {
        let tokens = try Self.golden("grouped").integers(named: "tokens")
        let path = temporaryFolder() + "/ref.lp"
        let ref = try InferenceEngine(source: openWeights(Self.folder("grouped")))
        let cand = try InferenceEngine(source: openWeights(Self.folder("grouped")), latentNormEps: .config)
        let live = try LogitParity.compare(reference: .engine(ref), candidate: cand, tokens: tokens, ctx: 16, saveReference: path)
        let saved = try ReferenceLogProbs(path: path)
        #expect(saved.ctx == 16 && saved.vocab == 256 && saved.scored == 14 && saved.tokens == Array(tokens.prefix(32)))
        let replay = try LogitParity.compare(reference: .saved(saved), candidate: cand, tokens: [], ctx: 16)
        #expect(replay.scoredTokens == live.scoredTokens)
        #expect(replay.sameTop1 == live.sameTop1)
        #expect(abs(replay.pplRef - live.pplRef) / live.pplRef < 1e-5)
        // uint16 log-probs: KLD within a small absolute error of the live value.
        #expect(abs(replay.kld.mean - live.kld.mean) < 1e-4)
        #expect(replay.routing.isEmpty && replay.hidden.isEmpty)
        // A truncated file is refused with its name.
        let bytes = try Data(contentsOf: URL(fileURLWithPath: path))
        try bytes.prefix(bytes.count - 3).write(to: URL(fileURLWithPath: path + ".cut"))
        #expect(throws: EvaluationError.self) { try ReferenceLogProbs(path: path + ".cut") }
    }

    @Test func distributionPercentilesAndErrors() {
        let d = Distribution((1...101).map(Double.init))
        #expect(d.mean == 51 && d.value("median") == 51 && d.value("max") == 101 && d.value("min") == 1 && d.value("99%") == 100)
        #expect(abs(d.meanError - (Double(101 * 102 * 203 / 6) / 101 - 51 * 51).squareRoot() / 10) < 1e-9)
    }
}
