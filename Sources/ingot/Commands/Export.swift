import ArgumentParser

extension Ingot {
    struct Export: ParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Export a checkpoint to another runtime's format.",
            subcommands: [Gguf.self, Hf.self])
    }
}
