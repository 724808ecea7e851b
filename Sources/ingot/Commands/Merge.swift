import ArgumentParser
import BundleFormat
import Foundation

extension Ingot {
    struct Merge: IngotCommand {
        static let configuration = CommandConfiguration(
            abstract: "Assemble the slices of `repack --shard i/n` into one bundle (byte-identical to a single run).")

        @Argument(help: "The slice folders, all n of them, in any order.")
        var slices: [String]
        @Option(name: .shortAndLong, help: "Bundle folder (new or empty).")
        var output: String
        @OptionGroup var space: SpaceCheckOptions

        func validate() throws {
            guard !slices.isEmpty else { throw ValidationError("give the slice folders") }
        }

        func execute() throws {
            try BundleMerge.merge(slices: slices, output: output, checkSpace: space.enabled)
            print("wrote bundle \(output) from \(slices.count) slices")
        }
    }
}
