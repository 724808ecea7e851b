import ArgumentParser
import BundleFormat
import Foundation

extension Ingot {
    struct Unpack: IngotCommand {
        static let configuration = CommandConfiguration(
            abstract: "Write a bundle back as the compressed-tensors checkpoint (config, shards, index): every tensor byte-identical.")

        @OptionGroup var io: BundleOutputOptions
        @OptionGroup var space: SpaceCheckOptions

        func execute() throws {
            let bar = ProgressBar(label: "unpack", total: 1, quiet: io.quiet)
            try BundleUnpacker.unpack(bundle: io.bundle, output: io.output, checkSpace: space.enabled) { done, total in
                bar.update(done, total: total)
            }
            bar.finish()
            print("wrote \(io.output)")
        }
    }
}
