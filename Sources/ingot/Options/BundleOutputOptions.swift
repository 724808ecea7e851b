import ArgumentParser

/// A bundle to read and a new folder to write (unpack, inflate).
struct BundleOutputOptions: ParsableArguments {
    @Argument(help: "The bundle folder.")
    var bundle: String
    @Option(name: .shortAndLong, help: "Output folder (new or empty).")
    var output: String
    @Flag(help: "No progress output.")
    var quiet = false
}
