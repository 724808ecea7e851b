import Synchronization

/// Ranges of mapped files a computation is done with, dropped from the page cache only when new data needs the room
/// (docs/engine.md, "Layer streaming").
///
/// Why not drop them at once: on a virtual machine whose guest hands freed memory back to its host (free page
/// reporting, a couple of seconds after the memory is freed), the first touch of a page that was handed back faults
/// into the host. Reading into memory freed a moment earlier skips that: 9.8 GB took about 5 s instead of 24–26 s.
/// So a reader evicts a retired piece right before it reads a piece of the same size, and the page allocator hands
/// the just-freed pages to the new data. Pages are cut at 2 MiB boundaries so a huge folio is dropped whole.
///
/// Thread-safe: a computation retires ranges while a background reader evicts them.
public final class RetiredPages: Sendable {
    private struct Range {
        let mapping: MappedFile
        var offset: Int
        let end: Int
    }

    private let queue = Mutex<[Range]>([])

    /// An empty list.
    public init() {}

    /// Adds a range (oldest first out); its mapping must not be read from again before it is evicted.
    public func retire(_ mapping: MappedFile, offset: Int, count: Int) {
        guard count > 0 else { return }
        queue.withLock { $0.append(Range(mapping: mapping, offset: offset, end: offset + count)) }
    }

    /// Bytes retired and not yet evicted.
    public var pendingBytes: Int { queue.withLock { $0.reduce(0) { $0 + $1.end - $1.offset } } }

    /// Evicts at least `bytes` of the oldest retired ranges (all of them when fewer are left): unmapped and dropped
    /// from the page cache (``MappedFile/evict(offset:count:)``). A range is cut at a 2 MiB boundary of its file.
    public func evict(atLeast bytes: Int) {
        var left = bytes
        while left > 0, let (mapping, offset, count) = take(left) {
            mapping.evict(offset: offset, count: count)
            left -= count
        }
    }

    /// Evicts everything retired.
    public func evictAll() { evict(atLeast: .max) }

    /// The next piece to evict: the front range, or its first `bytes` rounded up to a 2 MiB boundary.
    private func take(_ bytes: Int) -> (MappedFile, Int, Int)? {
        queue.withLock { q in
            guard let front = q.first else { return nil }
            let block = 2 << 20
            let end = bytes >= front.end - front.offset ? front.end : min(front.end, (front.offset + bytes + block - 1) / block * block)
            if end >= front.end { q.removeFirst() } else { q[0].offset = end }
            return (front.mapping, front.offset, end - front.offset)
        }
    }
}
