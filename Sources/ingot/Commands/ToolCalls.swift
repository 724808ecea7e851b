import ArgumentParser

extension Ingot {
    /// `ingot toolcalls …`: K2 tool-call output commands.
    struct ToolCalls: ParsableCommand {
        static let configuration = CommandConfiguration(
            commandName: "toolcalls", abstract: "Parse K2 model output into content, reasoning and tool calls.",
            subcommands: [ToolCallsParse.self])
    }
}
