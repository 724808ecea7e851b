import ArgumentParser
import BundleFormat
import Foundation

extension Ingot {
    struct Unpack: IngotCommand {
        static let configuration = CommandConfiguration(
            abstract: "Write a bundle back as the compressed-tensors checkpoint (config, shards, index): every tensor byte-identical.")

        @Argument(help: "The bundle folder.")
        var bundle: String
        @Option(name: .shortAndLong, help: "Output folder (new or empty).")
        var output: String
        @Flag(help: "No progress output.")
        var quiet = false

        func execute() throws {
            let bar = ProgressBar(label: "unpack", total: 1, quiet: quiet)
            try BundleUnpacker.unpack(bundle: bundle, output: output) { done, total in bar.update(done, total: total) }
            bar.finish()
            print("wrote \(output)")
        }
    }

    struct Inflate: IngotCommand {
        static let configuration = CommandConfiguration(
            abstract: "Turn a compressed bundle into a raw (mmap-able) one, byte-identical to a raw repack.")

        @Argument(help: "The compressed bundle folder.")
        var bundle: String
        @Option(name: .shortAndLong, help: "Output folder (new or empty).")
        var output: String
        @Flag(help: "No progress output.")
        var quiet = false

        func execute() throws {
            let bar = ProgressBar(label: "inflate", total: 1, quiet: quiet)
            try BundleUnpacker.inflate(bundle: bundle, output: output) { done, total in bar.update(done, total: total) }
            bar.finish()
            print("wrote \(output)")
        }
    }

    struct Merge: IngotCommand {
        static let configuration = CommandConfiguration(
            abstract: "Assemble the slices of `repack --shard i/n` into one bundle (byte-identical to a single run).")

        @Argument(help: "The slice folders, all n of them, in any order.")
        var slices: [String]
        @Option(name: .shortAndLong, help: "Bundle folder (new or empty).")
        var output: String

        func validate() throws {
            guard !slices.isEmpty else { throw ValidationError("give the slice folders") }
        }

        func execute() throws {
            try BundleMerge.merge(slices: slices, output: output)
            print("wrote bundle \(output) from \(slices.count) slices")
        }
    }
}
