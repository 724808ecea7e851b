import Synchronization

/// Thread-safe progress over bytes, reported through a callback while the counter's lock is held (so calls are
/// serialized and never go backwards).
package final class ByteProgress: Sendable {
    package let total: Int
    private let counter = Mutex(0)
    private let callback: (@Sendable (Int, Int) -> Void)?

    package init(total: Int, callback: (@Sendable (Int, Int) -> Void)?) {
        self.total = total
        self.callback = callback
    }

    package func add(_ n: Int) {
        counter.withLock { done in
            done += n
            callback?(min(done, total), total)
        }
    }

    package var done: Int { counter.withLock { $0 } }
}
