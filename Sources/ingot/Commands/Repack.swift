import ArgumentParser
import BundleFormat
import Checkpoint
import Foundation
import TensorIO

extension Ingot {
    struct Repack: IngotCommand {
        static let configuration = CommandConfiguration(
            abstract: "Repack a K2-Thinking INT4 checkpoint into an ingot bundle (expert-major, SIMD tiles, checksummed, mmap-able).",
            discussion: """
                Lossless: every INT4 level and scale bit is kept (ingot unpack gives the checkpoint back). Resumable: re-run the same \
                command after an interruption. --shard i/n writes one of n slices for `ingot merge`. See docs/bundle-format.md.
                """)

        @Argument(help: "The compressed-tensors INT4 checkpoint.")
        var model: String
        @Option(name: .shortAndLong, help: "Bundle folder (new, or the folder of an interrupted run to resume).")
        var output: String
        @Option(help: "Recipe YAML for the bundle options (tile rows, compression); default: the built-in recipe matching config.json.")
        var recipe: String?
        @Option(help: "zstd[:LEVEL] to compress expert extents (one frame each), or none; overrides the recipe.")
        var compress: String?
        @Option(help: "Usage profile JSON {\"layers\": {\"1\": [count per expert], …}}: hottest experts first.")
        var expertOrder: String?
        @OptionGroup var slice: ShardOptions
        @OptionGroup var threading: ThreadingOptions
        @OptionGroup var space: SpaceCheckOptions
        @Flag(help: "No progress output.")
        var quiet = false
        @Option(help: .hidden)
        var journalSyncBytes: Int = 256 << 20

        static func parseCompression(_ text: String) -> BundleManifest.Compression? {
            if text == "none" { return BundleManifest.Compression.none }
            if text == "zstd" { return .zstd(level: 3) }
            guard text.hasPrefix("zstd:"), let level = Int(text.dropFirst(5)), (1...22).contains(level) else { return nil }
            return .zstd(level: level)
        }

        func validate() throws {
            if let compress, Self.parseCompression(compress) == nil {
                throw ValidationError("--compress must be none, zstd or zstd:LEVEL (1-22)")
            }
        }

        func execute() throws {
            let config = try ModelConfig(path: try ModelLocation.resolve(model).file("config.json"))
            let r = try Recipe.resolve(path: recipe, config: config)
            var compression: BundleManifest.Compression = .none
            if case .zstd(let level) = r.compression { compression = .zstd(level: level) }
            if let compress, let chosen = Self.parseCompression(compress) { compression = chosen }
            let tileRows = r.bundleRows
            let bar = ProgressBar(label: "repack", total: 1, quiet: quiet)
            let started = Date()
            var options = BundleRepacker.Options(
                compression: compression, tileRows: tileRows, threads: threading.threads,
                shard: try slice.resolved(),
                expertOrderPath: expertOrder
            ) { done, total in bar.update(done, total: total) }
            options.checkSpace = space.enabled
            let summary = try BundleRepacker.run(source: model, output: output, options: options)
            bar.finish()
            let seconds = Date().timeIntervalSince(started)
            print(
                "\(summary.finalized ? "wrote bundle" : "wrote slice") \(output): \(summary.unitsWritten) units written"
                    + (summary.unitsSkipped > 0 ? ", \(summary.unitsSkipped) already complete" : "")
                    + (summary.extentsResumed > 0 ? ", \(summary.extentsResumed) extents resumed from the journal" : "")
                    + String(format: ", %.1f s", seconds))
        }
    }
}
