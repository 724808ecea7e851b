import ArgumentParser
import Evaluation
import Foundation
import Inference
import TensorIO

extension Ingot {
    struct EvalPPL: IngotCommand {
        static let configuration = CommandConfiguration(
            commandName: "ppl",
            abstract: "Perplexity of a text (llama.cpp's definition: chunks of --ctx tokens, the second half of each scored).",
            discussion: "Works on checkpoints and bundles; --stream-layers keeps one layer's weights resident (models larger than RAM).")

        @OptionGroup var engineOptions: EngineOptions
        @OptionGroup var textOptions: TextOptions

        @Option(help: "Tokens per chunk.")
        var ctx: Int = 512

        @Option(help: "Evaluate at most this many chunks.")
        var chunks: Int?

        @Flag(help: "Layer-streamed evaluation of all chunks (one layer's weights resident at a time).")
        var streamLayers = false

        @Flag(
            help: ArgumentHelp(
                "With --stream-layers: read each layer completely before computing it, timing reading and computing apart (benchmarks)."))
        var streamSerial = false

        @Flag(help: "Print a JSON document on stdout.")
        var json = false

        @Flag(help: "No progress output.")
        var quiet = false

        func validate() throws {
            guard ctx >= 4 else { throw ValidationError("--ctx must be at least 4, got \(ctx)") }
            if streamSerial && !streamLayers { throw ValidationError("--stream-serial needs --stream-layers") }
            if let chunks, chunks < 1 { throw ValidationError("--chunks must be at least 1, got \(chunks)") }
        }

        func execute() throws {
            let tokens = try textOptions.tokens(model: engineOptions.model)
            let engine = try engineOptions.engine()
            let bar = ProgressBar(
                label: streamLayers ? "layers" : "chunks", total: 1, quiet: quiet || json, unit: streamLayers ? "layers" : "chunks")
            let r = try engine.perplexity(
                tokens, ctx: ctx, chunkLimit: chunks, streamLayers: streamLayers, serialStreaming: streamSerial
            ) { done, total in
                bar.update(done, total: total)
            }
            bar.finish()
            if json {
                var doc: [(key: String, value: JSONValue)] = [
                    ("model", .string(engineOptions.model)), ("arithmetic", .string(engine.config.arithmetic)),
                    ("isa", .string(engine.config.isa.name)), ("threads", .int(engine.threads)), ("ctx", .int(r.ctx)),
                    ("chunks", .int(r.chunks)), ("scored_tokens", .int(r.scoredTokens)),
                    ("ppl", .double(r.perplexity)), ("ppl_error", .double(r.perplexityError)), ("mean_nll", .double(r.meanNLL)),
                    ("seconds", .double(r.seconds)), ("tokens_per_second", .double(r.tokensPerSecond)),
                    ("running_ppl", .array(r.runningPerplexity.map { .double($0) })),
                ]
                if let t = r.streamTiming {
                    doc.append(
                        (
                            "stream",
                            .object([
                                ("serial", .bool(t.serial)), ("compute_seconds", .double(t.computeSeconds)),
                                ("read_seconds", .double(t.readSeconds)), ("read_wait_seconds", .double(t.readWaitSeconds)),
                                ("part_read_seconds", .array(t.partReadSeconds.map { .double($0) })),
                                ("layer_seconds", .array(t.layerSeconds.map { .double($0) })),
                            ])
                        ))
                }
                print(JSONValue.object(doc).prettyText)
            } else {
                print(
                    String(
                        format: "PPL = %.4f ± %.4f  (%d tokens scored in %d chunks of %d)", r.perplexity, r.perplexityError, r.scoredTokens,
                        r.chunks, r.ctx))
                print(String(format: "%.2f s, %.1f tokens/s (%@)", r.seconds, r.tokensPerSecond, engine.config.arithmetic))
            }
        }
    }
}
