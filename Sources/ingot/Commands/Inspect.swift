import ArgumentParser
import Checkpoint
import TensorIO

extension Ingot {
    struct Inspect: IngotCommand {
        static let configuration = CommandConfiguration(
            abstract:
                "Summarize a checkpoint: architecture, shards, tensors by kind and dtype, quantization; warn about anything suspicious.",
            discussion: "Every header and the index are validated first. Exit 1 when there are warnings.")

        @OptionGroup var input: ModelOptions
        @OptionGroup var output: OutputOptions

        func execute() throws {
            let report = InspectionReport(try ModelFolder(path: input.model))
            print(output.json ? report.json.prettyText : report.text)
            if !report.warnings.isEmpty { throw ExitCode(1) }
        }
    }
}
