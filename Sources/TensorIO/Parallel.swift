import Dispatch
import Foundation

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

/// Runs `body(begin, end)` over [0, count) in runs of `run` items, which up to `threads` workers take one after
/// another as they become free. For memory-bound products on one token: a
/// virtual machine's cores run at uneven speed from moment to moment, and with fixed halves the faster worker waited
/// for the slower one at the end of every product (docs/engine.md, "Threads"). Each item's result must not depend
/// on which worker computes it.
package func parallelRuns(count: Int, run: Int, threads: Int, _ body: (_ begin: Int, _ end: Int) -> Void) {
    let runs = (count + run - 1) / run
    let workers = max(1, min(threads, runs))
    if workers == 1 {
        body(0, count)
        return
    }
    let queue = ItemQueue(count: runs)  // parallelItems' queue; a run's body cannot fail
    withoutActuallyEscaping(body) { body in
        let work = UnsafeTransfer(body)
        DispatchQueue.concurrentPerform(iterations: workers) { _ in
            while let r = queue.next() { work.value(r * run, min(count, (r + 1) * run)) }
        }
    }
}

/// Runs `body(worker, item)` for every item of [0, count) on up to `workers` workers, each taking the next item
/// when it is free (for items of uneven cost: routed experts, requests to a server). After `body` throws, no new
/// item starts; the first error is rethrown once all workers have stopped. `stop` is asked before each item: when
/// it says true, no new item starts either.
package func parallelItems(
    count: Int, workers: Int, stop: () -> Bool = { false }, _ body: (_ worker: Int, _ item: Int) throws -> Void
) throws {
    let queue = ItemQueue(count: count)
    let n = max(1, min(workers, count))
    withoutActuallyEscaping(body) { body in
        withoutActuallyEscaping(stop) { stop in
            let work = UnsafeTransfer((body, stop))
            let run: @Sendable (Int) -> Void = { w in
                while !work.value.1(), let item = queue.next() {
                    do { try work.value.0(w, item) } catch { queue.fail(error) }
                }
            }
            if n == 1 {
                run(0)
            } else {
                DispatchQueue.concurrentPerform(iterations: n, execute: run)
            }
        }
    }
    if let error = queue.error { throw error }
}

/// ``parallelItems(count:workers:stop:_:)`` collecting each item's result in item order (for items of uneven cost whose
/// results are used together afterwards: one request per position to a server).
package func parallelMap<T: Sendable>(count: Int, workers: Int, _ body: (_ item: Int) throws -> T) throws -> [T] {
    let slots = ResultSlots<T>(count: count)
    try parallelItems(count: count, workers: workers) { _, i in slots.set(i, try body(i)) }
    return slots.values
}

/// One result slot per item, each written once by a worker and read after all of them have finished.
private final class ResultSlots<T: Sendable>: @unchecked Sendable {
    // Sendable: every slot is read and written under `lock`.
    private let lock = NSLock()
    private var slots: [T?]
    init(count: Int) { slots = Array(repeating: nil, count: count) }
    func set(_ i: Int, _ value: T) { lock.withLock { slots[i] = value } }
    /// Every result; only called after every item succeeded, so every slot is filled.
    var values: [T] { lock.withLock { slots.map { $0! } } }
}

/// The next item to take and the first failure, shared by the workers of ``parallelItems(count:workers:stop:_:)``.
private final class ItemQueue: @unchecked Sendable {
    // Sendable: every field is read and written under `lock`.
    private let lock = NSLock()
    private let count: Int
    private var taken = 0
    private var failure: (any Error)?

    init(count: Int) { self.count = count }

    func next() -> Int? {
        lock.lock()
        defer { lock.unlock() }
        guard failure == nil, taken < count else { return nil }
        taken += 1
        return taken - 1
    }

    func fail(_ error: any Error) {
        lock.lock()
        if failure == nil { failure = error }
        lock.unlock()
    }

    var error: (any Error)? {
        lock.lock()
        defer { lock.unlock() }
        return failure
    }
}

/// A serial background stage: submitted jobs run one at a time, in order, off the calling thread (reading the next
/// layer ahead, finishing a repack unit, syncing a journal). The first job that throws is kept: later jobs are
/// skipped, and ``check()`` and ``drain()`` rethrow it.
package final class SerialStage: @unchecked Sendable {
    // Sendable: `failure` is guarded by `lock`; the jobs run on `queue` only, one at a time.
    private let queue: DispatchQueue
    private let lock = NSLock()
    private var failure: (any Error)?

    package init(label: String) { queue = DispatchQueue(label: label) }

    /// Queues `job`; it is skipped if an earlier job failed.
    package func submit(_ job: @escaping () throws -> Void) {
        let work = UnsafeTransfer(job)
        queue.async { [self] in
            guard (lock.withLock { failure }) == nil else { return }
            do { try work.value() } catch { lock.withLock { failure = failure ?? error } }
        }
    }

    /// Rethrows an earlier job's failure without waiting.
    package func check() throws {
        if let error = lock.withLock({ failure }) { throw error }
    }

    /// Waits for every submitted job; rethrows the first failure.
    package func drain() throws {
        queue.sync {}
        try check()
    }
}
