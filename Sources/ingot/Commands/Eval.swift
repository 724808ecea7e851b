import ArgumentParser

extension Ingot {
    struct Eval: ParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Evaluate a model or a conversion: perplexity, logit/routing/tool-call parity, tool-call accuracy.",
            subcommands: [EvalPPL.self, EvalParity.self, EvalToolCalls.self])
    }
}
