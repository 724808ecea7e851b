import ArgumentParser
import BundleFormat
import Foundation

extension Ingot {
    struct Inflate: IngotCommand {
        static let configuration = CommandConfiguration(
            abstract: "Turn a compressed bundle into a raw (mmap-able) one, byte-identical to a raw repack.")

        @OptionGroup var io: BundleOutputOptions
        @OptionGroup var space: SpaceCheckOptions

        func execute() throws {
            let bar = ProgressBar(label: "inflate", total: 1, quiet: io.quiet)
            try BundleUnpacker.inflate(bundle: io.bundle, output: io.output, checkSpace: space.enabled) { done, total in
                bar.update(done, total: total)
            }
            bar.finish()
            print("wrote \(io.output)")
        }
    }
}
