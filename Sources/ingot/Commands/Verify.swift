import ArgumentParser
import BundleFormat
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
        @Option(
            help: ArgumentHelp(
                "File digests to check: a SHA256SUMS-style list (\"HEX  FILE\" per line), `hub` (the digests a Hugging Face cache "
                    + "records in its blob names), or `none`.",
                discussion: "Default: `hub` when MODEL is in a Hugging Face cache, else `none`."))
        var checksums: String?
        @Option(help: "Also write per-projection statistics to this HDF5 file.")
        var report: String?
        @Flag(help: "No progress output.")
        var quiet = false

        var checksumSource: Verification.ChecksumSource {
            switch checksums {
            case nil: .hubWhenCached
            case "hub": .hub
            case "none": Verification.ChecksumSource.none
            case let path?: .list(path)
            }
        }

        func execute() throws {
            if ModelStoreKind(path: input.model) == .bundle {
                try verifyBundle()
                return
            }
            let bar = ProgressBar(label: "verify", total: 1, quiet: quiet)
            let options = Verification.Options(threads: threading.threads, checksums: checksumSource) { done, total in
                bar.update(done, total: total)
            }
            let result = try Verification.run(path: input.model, options: options)
            bar.finish()
            if let report { try VerifyReportHDF5.write(result, to: report) }
            print(output.json ? result.json.prettyText : result.text)
            if result.hasFindings { throw ExitCode(1) }
        }

        /// A bundle: manifest, every extent and padding byte, files, structure (docs/bundle-format.md).
        func verifyBundle() throws {
            let bar = ProgressBar(label: "verify", total: 1, quiet: quiet)
            let report = try BundleVerifier.run(folder: input.model) { done, total in bar.update(done, total: total) }
            bar.finish()
            if output.json {
                print(
                    JSONValue.object([
                        ("bundle", .string(report.folder)), ("result", .string(report.ok ? "ok" : "findings")),
                        ("extents_checked", .int(report.extentsChecked)), ("bytes_checked", .int(report.bytesChecked)),
                        ("findings", .array(report.findings.map(JSONValue.string))),
                    ]).prettyText)
            } else {
                print("bundle     \(report.folder)\nchecked    \(report.extentsChecked) extents, \(report.bytesChecked) bytes")
                for f in report.findings.prefix(60) { print("  " + f) }
                if report.findings.count > 60 { print("  … \(report.findings.count - 60) more (--json lists all)") }
                print(report.ok ? "result     OK" : "result     FINDINGS (\(report.findings.count))")
            }
            if !report.ok { throw ExitCode(1) }
        }
    }
}
