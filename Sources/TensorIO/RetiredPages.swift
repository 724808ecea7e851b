import Foundation

/// Ranges of mapped files a computation is done with, dropped from the page cache only when new data needs the room
/// (docs/engine.md, "Layer streaming").
///
/// Why not drop them at once: on a virtual machine whose guest hands freed memory back to its host (free page
/// reporting, a couple of seconds after the memory is freed), the first touch of a page that was handed back faults
/// into the host. Reading into memory freed a moment earlier skips that: 9.8 GB took about 5 s instead of 24–26 s.
/// So a reader evicts a retired piece right before it reads a piece of the same size (``admit(_:offset:count:)``),
/// and the page allocator hands the just-freed pages to the new data. Pages are cut at 2 MiB boundaries so a huge
/// folio is dropped whole.
///
/// With a budget, the reader also waits while the bytes it has read and not yet seen evicted would exceed it: the
/// next layer is then read into the pages of this one as they are retired (routed expert by routed expert), instead
/// of into memory the host took back.
///
/// One list serves one pass over the files: a range is queued at most once, even if it is retired again after its
/// eviction.
///
/// Thread-safe: a computation retires ranges while a background reader evicts them.
public final class RetiredPages: @unchecked Sendable {
    // Sendable: every stored property but `budget` (a constant) is read and written under `condition`.
    private struct Piece {
        let mapping: MappedFile
        var offset: Int
        let end: Int
    }

    /// The most bytes the reader may have read and not yet seen evicted (``admit(_:offset:count:)``); nil: no limit.
    public let budget: Int?
    private let condition = NSCondition()
    /// Pieces waiting to be evicted, oldest first.
    private var queue: [Piece] = []
    /// Per file: every range handed in, the parts of them queued, and the ranges admitted and not evicted since.
    private var handed: [ObjectIdentifier: Intervals] = [:]
    private var queued: [ObjectIdentifier: Intervals] = [:]
    private var admitted: [ObjectIdentifier: Intervals] = [:]
    /// The bytes `admitted` covers.
    private var footprint = 0
    private var waited: UInt64 = 0
    private var closed = false

    private static let block = 2 << 20

    /// An empty list. `budget`: see ``admit(_:offset:count:)``.
    public init(budget: Int? = nil) { self.budget = budget }

    /// Adds a whole range (oldest first out); its mapping must not be read from again before it is evicted. Parts
    /// of it already queued (``retirePart(_:offset:count:)``) are not queued twice.
    public func retire(_ mapping: MappedFile, offset: Int, count: Int) {
        guard count > 0 else { return }
        enqueue(mapping, offset: offset, end: offset + count, part: false)
    }

    /// Adds a part of a range that will be retired whole later (one routed expert of a layer): only the 2 MiB blocks
    /// that everything retired so far covers completely are queued now, so a block shared with a neighbour still in
    /// use stays until the neighbour is retired too (or the whole range is).
    public func retirePart(_ mapping: MappedFile, offset: Int, count: Int) {
        guard count > 0 else { return }
        enqueue(mapping, offset: offset, end: offset + count, part: true)
    }

    private func enqueue(_ mapping: MappedFile, offset: Int, end: Int, part: Bool) {
        let id = ObjectIdentifier(mapping)
        condition.lock()
        defer { condition.unlock() }
        let merged = handed[id, default: Intervals()].insert(offset, end)
        let block = Self.block
        let (lo, hi) = part ? ((merged.lo + block - 1) / block * block, merged.hi / block * block) : (offset, end)
        guard lo < hi else { return }
        for (a, b) in queued[id, default: Intervals()].gaps(lo, hi) {
            queued[id, default: Intervals()].insert(a, b)
            queue.append(Piece(mapping: mapping, offset: a, end: b))
        }
        condition.broadcast()
    }

    /// Bytes retired and not yet evicted.
    public var pendingBytes: Int { condition.withLock { queue.reduce(0) { $0 + $1.end - $1.offset } } }

    /// Seconds ``admit(_:offset:count:)`` has waited for room, in all.
    public var waitedSeconds: Double { condition.withLock { Double(waited) / 1e9 } }

    /// Bytes admitted (``admit(_:offset:count:)``) and not evicted since.
    public var admittedBytes: Int { condition.withLock { footprint } }

    /// Evicts at least `bytes` of the oldest retired ranges (all of them when fewer are left): unmapped and dropped
    /// from the page cache (``MappedFile/evict(offset:count:)``). A range is cut at a 2 MiB boundary of its file.
    public func evict(atLeast bytes: Int) {
        var left = bytes
        condition.lock()
        while left > 0, let count = evictNext(left) { left -= count }
        condition.unlock()
    }

    /// Evicts everything retired.
    public func evictAll() { evict(atLeast: .max) }

    /// Makes room for a range of `mapping` about to be read into the page cache: evicts at least as many retired
    /// bytes (all there are when fewer), and with a ``budget`` waits, evicting whatever is retired meanwhile, until
    /// the range's bytes not admitted before fit in it beside those admitted and not evicted since; or until
    /// ``close()``. Counting ranges, not calls, keeps a 2 MiB block read as the end of one span and the start of
    /// the next from counting twice. Only a background reader may call this: the computation that retires pages
    /// must never wait for it.
    public func admit(_ mapping: MappedFile, offset: Int, count: Int) {
        let id = ObjectIdentifier(mapping)
        var freed = 0
        condition.lock()
        while true {
            let new = count - admitted[id, default: Intervals()].covered(offset, offset + count)
            let over = budget.map { footprint + new > $0 } ?? false
            if freed < count || over, let evicted = evictNext(max(1, count - freed)) {
                freed += evicted
                continue
            }
            if !over || closed { break }
            let t0 = DispatchTime.now().uptimeNanoseconds
            condition.wait()
            waited += DispatchTime.now().uptimeNanoseconds - t0
        }
        footprint += count - admitted[id, default: Intervals()].covered(offset, offset + count)
        admitted[id, default: Intervals()].insert(offset, offset + count)
        condition.unlock()
    }

    /// Ends the waiting of ``admit(_:offset:count:)``, now and later: nothing more will be retired (the computation
    /// is done, or failed).
    public func close() {
        condition.withLock {
            closed = true
            condition.broadcast()
        }
    }

    /// Evicts the next piece of at least `bytes` (``take(_:)``) and returns its size; nil when nothing is retired.
    /// Called and returns with the lock held; the eviction itself runs without it.
    private func evictNext(_ bytes: Int) -> Int? {
        guard let (mapping, offset, count) = take(bytes) else { return nil }
        condition.unlock()
        mapping.evict(offset: offset, count: count)
        condition.lock()
        footprint -= admitted[ObjectIdentifier(mapping), default: Intervals()].remove(offset, offset + count)
        return count
    }

    /// The next piece to evict: the front range, or its first `bytes` rounded up to a 2 MiB boundary. Under the lock.
    private func take(_ bytes: Int) -> (MappedFile, Int, Int)? {
        guard let front = queue.first else { return nil }
        let block = Self.block
        let end = bytes >= front.end - front.offset ? front.end : min(front.end, (front.offset + bytes + block - 1) / block * block)
        if end >= front.end { queue.removeFirst() } else { queue[0].offset = end }
        return (front.mapping, front.offset, end - front.offset)
    }
}

/// Disjoint half-open ranges of one file, merged where they touch, in order.
private struct Intervals {
    private var ranges: [(lo: Int, hi: Int)] = []

    /// Adds [lo, hi); returns the merged range that now contains it.
    @discardableResult
    mutating func insert(_ lo: Int, _ hi: Int) -> (lo: Int, hi: Int) {
        var lo = lo, hi = hi
        // Ranges that overlap or touch [lo, hi) form one run of the sorted array.
        let first = ranges.firstIndex { $0.hi >= lo } ?? ranges.count
        var last = first
        while last < ranges.count && ranges[last].lo <= hi {
            lo = min(lo, ranges[last].lo)
            hi = max(hi, ranges[last].hi)
            last += 1
        }
        ranges.replaceSubrange(first..<last, with: [(lo, hi)])
        return (lo, hi)
    }

    /// Removes [lo, hi) from the ranges; returns how many bytes were covered.
    mutating func remove(_ lo: Int, _ hi: Int) -> Int {
        let removed = covered(lo, hi)
        guard removed > 0 else { return 0 }
        ranges = ranges.flatMap { r -> [(lo: Int, hi: Int)] in
            guard r.hi > lo && r.lo < hi else { return [r] }
            return [(r.lo, lo), (hi, r.hi)].filter { $0.lo < $0.hi }
        }
        return removed
    }

    /// How many bytes of [lo, hi) the ranges cover.
    func covered(_ lo: Int, _ hi: Int) -> Int { hi - lo - gaps(lo, hi).reduce(0) { $0 + $1.1 - $1.0 } }

    /// The parts of [lo, hi) no range covers, in order.
    func gaps(_ lo: Int, _ hi: Int) -> [(Int, Int)] {
        var out: [(Int, Int)] = [], at = lo
        for r in ranges where r.hi > lo && r.lo < hi {
            if r.lo > at { out.append((at, r.lo)) }
            at = max(at, r.hi)
        }
        if at < hi { out.append((at, hi)) }
        return out
    }
}
