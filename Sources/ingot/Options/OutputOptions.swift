import ArgumentParser

/// `--json` for machine-readable output on stdout.
struct OutputOptions: ParsableArguments {
    @Flag(help: "Print a JSON document on stdout instead of the text report.")
    var json = false
}
