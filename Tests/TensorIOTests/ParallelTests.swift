import Synchronization
import TensorIO
import Testing

@Suite("concurrency kit")
struct ParallelTests {
    @Test(
        "parallelRuns hands out every item exactly once, in runs that start at multiples of the run length",
        arguments: [
            (0, 256, 2), (1, 256, 2), (255, 256, 2), (256, 256, 2), (257, 256, 2), (163_840, 256, 2), (7168, 256, 3),
            (1000, 7, 1), (1000, 7, 8),
        ])
    func runsCoverEveryItemOnce(count: Int, run: Int, threads: Int) {
        let seen = Mutex([Int](repeating: 0, count: count))
        let calls = Mutex([(Int, Int)]())
        parallelRuns(count: count, run: run, threads: threads) { begin, end in
            seen.withLock { for i in begin..<end { $0[i] += 1 } }
            calls.withLock { $0.append((begin, end)) }
        }
        #expect(seen.withLock { $0.allSatisfy { $0 == 1 } })
        let ranges = calls.withLock { $0 }
        if count > run && threads > 1 {
            for (begin, end) in ranges {
                #expect(begin % run == 0 && end - begin <= run && end > begin)
            }
            #expect(ranges.count == (count + run - 1) / run)
        } else {
            #expect(ranges.count == 1)  // one run or one worker: called once, with every item
        }
    }
}
