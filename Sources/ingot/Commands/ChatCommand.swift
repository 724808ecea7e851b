import ArgumentParser

extension Ingot {
    /// `ingot chat …`: K2 chat-template commands.
    struct ChatCommand: ParsableCommand {
        static let configuration = CommandConfiguration(
            commandName: "chat", abstract: "K2 chat template: render OpenAI-style requests into prompts.", subcommands: [ChatRender.self])
    }
}
