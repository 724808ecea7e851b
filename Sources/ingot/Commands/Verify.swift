import ArgumentParser
import Evaluation
import Foundation
import Quantization
import TensorIO

extension Ingot {
    struct Verify: IngotCommand {
        static let configuration = CommandConfiguration(
            abstract: "Check structure against config.json, INT4 numerics per expert, dense values and checksums.",
            discussion: """
                All headers, the index and config.json are validated before any data is read. Exit 0 clean, 1 findings \
                (errors or warnings; notes do not count), 2 unusable input.
                """)

        @OptionGroup var input: ModelOptions
        @OptionGroup var output: OutputOptions
        @OptionGroup var threading: ThreadingOptions
        @Option(help: "A SHA256SUMS-style list (\"HEX  FILE\" per line, e.g. the hashes Hugging Face shows for LFS files).")
        var checksums: String?
        @Option(help: "Also write per-projection statistics to this HDF5 file.")
        var report: String?
        @Flag(help: "No progress output.")
        var quiet = false

        func execute() throws {
            let bar = ProgressBar(label: "verify", total: 1, quiet: quiet)
            let options = Verification.Options(threads: threading.threads, checksumsPath: checksums) { done, total in
                bar.update(done, total: total)
            }
            let result = try Verification.run(path: input.model, options: options)
            bar.finish()
            if let report { try VerifyReportHDF5.write(result, to: report) }
            print(output.json ? result.json.prettyText : result.text)
            if result.hasFindings { throw ExitCode(1) }
        }
    }
}
