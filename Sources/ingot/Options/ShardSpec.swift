import ArgumentParser
import Foundation

/// `--shard i/n|auto` and `--shard-count N`: one slice of a job run on several machines (repack, export gguf,
/// quantize; docs/operations.md, "Scale-out").
struct ShardOptions: ParsableArguments {
    @Option(
        help: ArgumentHelp(
            "Write slice i of n (1-based), e.g. 2/8; or auto: the slice of a Slurm array task or a Kubernetes Indexed Job.",
            discussion: "See docs/operations.md, \"Scale-out\"."))
    var shard: String?
    @Option(help: "With --shard auto: the number of slices (required for Kubernetes; Slurm's array size otherwise).")
    var shardCount: Int?

    /// The slice, from the flags and this process's environment.
    func resolved() throws -> (index: Int, count: Int)? {
        try ShardSpec.resolve(shard, count: shardCount, environment: ProcessInfo.processInfo.environment)
    }

    func validate() throws { _ = try resolved() }
}

/// Which slice of a job this process writes: `i/n`, or `auto` from a scheduler's array-job variables
/// (docs/operations.md, "Scale-out").
enum ShardSpec {
    /// Slice (index, count), 1-based; nil for the whole job.
    ///
    /// `auto` reads Slurm's `SLURM_ARRAY_TASK_ID`, `SLURM_ARRAY_TASK_MIN` and `SLURM_ARRAY_TASK_COUNT` (an array
    /// `--array=0-7` or `1-8` of 8 tasks gives slices 1…8), or a Kubernetes Indexed Job's 0-based
    /// `JOB_COMPLETION_INDEX` with the count from `count` (`--shard-count`, the Job's `completions`).
    static func resolve(_ text: String?, count: Int?, environment: [String: String]) throws -> (index: Int, count: Int)? {
        guard let text else {
            if count != nil { throw ValidationError("--shard-count goes with --shard auto") }
            return nil
        }
        if text != "auto" {
            let parts = text.split(separator: "/")
            guard parts.count == 2, let i = Int(parts[0]), let n = Int(parts[1]), n >= 1, (1...n).contains(i) else {
                throw ValidationError("--shard must be i/n with 1 ≤ i ≤ n, or auto; got '\(text)'")
            }
            return (i, n)
        }
        func integer(_ name: String) throws -> Int? {
            guard let raw = environment[name] else { return nil }
            guard let value = Int(raw) else { throw ValidationError("--shard auto: \(name)=\(raw) is not an integer") }
            return value
        }
        if let id = try integer("SLURM_ARRAY_TASK_ID") {
            guard let n = try count ?? integer("SLURM_ARRAY_TASK_COUNT"), let low = try integer("SLURM_ARRAY_TASK_MIN") else {
                throw ValidationError("--shard auto: SLURM_ARRAY_TASK_ID is set but SLURM_ARRAY_TASK_COUNT or _MIN is not")
            }
            let i = id - low + 1
            guard n >= 1, (1...n).contains(i) else {
                throw ValidationError(
                    "--shard auto: Slurm task \(id) of an array starting at \(low) with \(n) tasks is not a slice 1…\(n) "
                        + "(use a contiguous --array range, e.g. 0-\(n - 1))")
            }
            return (i, n)
        }
        if let index = try integer("JOB_COMPLETION_INDEX") {
            guard let n = count else {
                throw ValidationError("--shard auto in a Kubernetes Indexed Job needs --shard-count (the Job's completions)")
            }
            guard n >= 1, (0..<n).contains(index) else {
                throw ValidationError("--shard auto: JOB_COMPLETION_INDEX=\(index) is outside 0…\(n - 1)")
            }
            return (index + 1, n)
        }
        throw ValidationError("--shard auto needs a scheduler's array job: SLURM_ARRAY_TASK_ID or JOB_COMPLETION_INDEX is not set")
    }
}
