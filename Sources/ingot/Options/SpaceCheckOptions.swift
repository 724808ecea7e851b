import ArgumentParser

/// `--no-space-check` for commands that write large outputs (docs/operations.md, "Space").
struct SpaceCheckOptions: ParsableArguments {
    @Flag(
        name: .customLong("space-check"), inversion: .prefixedNo,
        help: "Refuse at once (exit 3) when the output will not fit in the target filesystem's free space.")
    var enabled = true
}
