import Dispatch

// The project's concurrency kit: every data-parallel loop runs through these helpers (docs/engine.md,
// "Threads").

/// Runs `body(begin, end)` over [0, count) cut into chunks of `block` items, on up to `threads` workers.
package func parallelBlocks(count: Int, block: Int, threads: Int, _ body: (Int, Int) -> Void) {
    parallelBlocks(count: count, block: block, threads: threads) { _, begin, end in body(begin, end) }
}

/// ``parallelBlocks(count:block:threads:_:)`` telling each call its worker's index (0 ..< threads), for workers
/// that use their own buffers of a run state.
package func parallelBlocks(count: Int, block: Int, threads: Int, _ body: (_ worker: Int, _ begin: Int, _ end: Int) -> Void) {
    let chunks = (count + block - 1) / block
    let workers = max(1, min(threads, chunks))
    if workers == 1 {
        body(0, 0, count)
        return
    }
    // Contiguous ranges of whole blocks per worker: each worker streams its own part of the matrix.
    let per = (chunks + workers - 1) / workers
    withoutActuallyEscaping(body) { body in
        let work = UnsafeTransfer(body)
        DispatchQueue.concurrentPerform(iterations: workers) { w in
            let begin = min(count, w * per * block), end = min(count, (w + 1) * per * block)
            if begin < end { work.value(w, begin, end) }
        }
    }
}
