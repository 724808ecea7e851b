import ArgumentParser
import Testing

@testable import ingot

/// `--shard i/n` and `--shard auto` from a scheduler's array-job variables (docs/operations.md, "Scale-out").
@Suite("repack --shard: explicit and from Slurm or Kubernetes")
struct ShardSpecTests {
    func resolve(_ text: String?, count: Int? = nil, _ env: [String: String] = [:]) throws -> (Int, Int)? {
        try ShardSpec.resolve(text, count: count, environment: env).map { ($0.index, $0.count) }
    }

    @Test("i/n is taken as written; no --shard is the whole job")
    func explicit() throws {
        #expect(try resolve("2/8")! == (2, 8))
        #expect(try resolve(nil) == nil)
        for bad in ["0/8", "9/8", "2", "a/b", "2/0"] { #expect(throws: ValidationError.self) { try resolve(bad) } }
    }

    @Test("Slurm arrays starting at 0 or at 1 both give slices 1…n")
    func slurm() throws {
        for low in [0, 1] {
            let n = 4
            let slices = try (low..<(low + n)).map { id in
                try resolve(
                    "auto", ["SLURM_ARRAY_TASK_ID": "\(id)", "SLURM_ARRAY_TASK_MIN": "\(low)", "SLURM_ARRAY_TASK_COUNT": "\(n)"])!
            }
            #expect(slices.map(\.0) == [1, 2, 3, 4] && slices.allSatisfy { $0.1 == 4 })
        }
        // A sparse array (--array=0,5) cannot be numbered as slices.
        #expect(throws: ValidationError.self) {
            try resolve("auto", ["SLURM_ARRAY_TASK_ID": "5", "SLURM_ARRAY_TASK_MIN": "0", "SLURM_ARRAY_TASK_COUNT": "2"])
        }
        #expect(throws: ValidationError.self) { try resolve("auto", ["SLURM_ARRAY_TASK_ID": "x"]) }
    }

    @Test("a Kubernetes Indexed Job gives its 0-based index; the count must be given")
    func kubernetes() throws {
        #expect(try resolve("auto", count: 3, ["JOB_COMPLETION_INDEX": "0"])! == (1, 3))
        #expect(try resolve("auto", count: 3, ["JOB_COMPLETION_INDEX": "2"])! == (3, 3))
        #expect(throws: ValidationError.self) { try resolve("auto", ["JOB_COMPLETION_INDEX": "0"]) }
        #expect(throws: ValidationError.self) { try resolve("auto", count: 3, ["JOB_COMPLETION_INDEX": "3"]) }
    }

    @Test("auto outside an array job, and --shard-count without auto, are flag errors")
    func misuse() throws {
        #expect(throws: ValidationError.self) { try resolve("auto") }
        #expect(throws: ValidationError.self) { try resolve(nil, count: 3) }
    }
}
