import Foundation

/// A bounded, ordered hand-off from workers (any order) to the writer (index order).
final class ExtentQueue: @unchecked Sendable {
    // Sendable: every access holds `condition`.
    private let condition = NSCondition()
    private var items: [Int: BuiltExtent?] = [:]
    private var next = 0
    private var failed = false
    private let capacity: Int

    /// - Parameter start: the first index the writer takes (a resumed unit starts past its journaled extents).
    init(capacity: Int, start: Int) {
        self.capacity = capacity
        next = start
    }

    /// Blocks while `k` is `capacity` or more ahead of the writer; false once the queue has failed.
    func put(_ k: Int, _ item: BuiltExtent?) -> Bool {
        condition.lock()
        defer { condition.unlock() }
        while k >= next + capacity && !failed { condition.wait() }
        if failed { return false }
        items[k] = .some(item)
        condition.broadcast()
        return true
    }

    /// Blocks until item `k` is there; nil (and outer nil) when the queue has failed.
    func take(_ k: Int) -> BuiltExtent?? {
        condition.lock()
        defer { condition.unlock() }
        while items[k] == nil && !failed { condition.wait() }
        guard let item = items.removeValue(forKey: k) else { return nil }
        next = k + 1
        condition.broadcast()
        return .some(item)
    }

    func fail() {
        condition.lock()
        failed = true
        condition.broadcast()
        condition.unlock()
    }
}
