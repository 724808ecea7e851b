import ArgumentParser

/// The `ingot` command: inspect, verify, repack and evaluate giant MoE checkpoints.
@main
struct Ingot: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "ingot",
        abstract: "Turn giant open-weight MoE checkpoints (Kimi K2 Thinking) into something you can trust and deploy.",
        discussion: """
            Exit codes: 0 clean, 1 findings (warnings, defects, failed thresholds), 2 unusable input, \
            3 could not finish (I/O, disk full), 64 bad flags.
            """,
        version: "0.1.0",
        subcommands: [
            Inspect.self, Verify.self, Quantize.self, Repack.self, Unpack.self, Inflate.self, Merge.self, Run.self, Logits.self,
            Eval.self, Profile.self, Export.self, Tokenize.self, Detokenize.self, ChatCommand.self, ToolCalls.self, BenchEngine.self,
            Synth.self,
        ])
}
