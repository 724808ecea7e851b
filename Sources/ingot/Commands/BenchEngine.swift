import ArgumentParser
import Foundation
import Inference
import TensorIO

extension Ingot {
    struct BenchEngine: IngotCommand {
        static let configuration = CommandConfiguration(
            commandName: "bench-engine",
            abstract: "Benchmark the INT4 matrix-vector kernel on a raw bundle's experts against a STREAM copy (make bench-engine).",
            shouldDisplay: false)

        @Argument(help: "A raw ingot bundle (e.g. from synth --preset k2 + repack).")
        var bundle: String

        @OptionGroup var threading: ThreadingOptions

        @Option(help: "Seconds per shape.")
        var seconds: Double = 3

        @Flag(help: "Print a JSON document on stdout.")
        var json = false

        func execute() throws {
            var ceilings: [String: Double] = [:]
            func ceiling(_ f: KernelBenchmark.Figure) -> Double { ceilings[f.name] ?? .nan }
            let copy = KernelBenchmark.streamCopy(threads: threading.threads)
            let read = KernelBenchmark.streamRead(threads: threading.threads)
            let figures = try KernelBenchmark.int4MatVec(
                bundle: bundle, threads: threading.threads, seconds: seconds, activations: [.f32, .q8_0])
            for f in figures where f.activations == nil { ceilings[f.name] = f.gigabytesPerSecond }
            if json {
                let doc = JSONValue.object([
                    ("threads", .int(threading.threads)),
                    ("stream_copy_gb_per_s", .double(copy)),
                    ("stream_read_gb_per_s", .double(read)),
                    (
                        "int4_matvec",
                        .array(
                            figures.map { f in
                                .object([
                                    ("shape", .string("\(f.rows)x\(f.cols)")),
                                    ("activations", f.activations.map { .string($0.rawValue) } ?? .string("read only")),
                                    ("matrices", .int(f.matrices)),
                                    ("weight_gb_per_s", .double(f.gigabytesPerSecond)),
                                    ("ratio_to_copy", .double(f.gigabytesPerSecond / copy)),
                                    ("ratio_to_read", .double(f.gigabytesPerSecond / ceiling(f))),
                                ])
                            })
                    ),
                ])
                print(doc.prettyText)
            } else {
                print(String(format: "STREAM copy (%d threads): %.2f GB/s", threading.threads, copy))
                print(String(format: "STREAM-style read (%d threads): %.2f GB/s = %.2fx copy", threading.threads, read, read / copy))
                for f in figures {
                    let what =
                        switch f.activations {
                        case nil: "read only (ceiling)   "
                        case .f32: "f32 (exact) activations"
                        case .q8_0: "q8_0 activations       "
                        }
                    print(
                        String(format: "INT4 matvec %5d x %5d, ", f.rows, f.cols) + what
                            + String(
                                format: ", over %3d matrices: %.2f GB/s of weights = %.2fx copy, %.2fx read", f.matrices,
                                f.gigabytesPerSecond, f.gigabytesPerSecond / copy, f.gigabytesPerSecond / ceiling(f)))
                }
            }
        }
    }
}
