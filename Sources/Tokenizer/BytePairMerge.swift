/// tiktoken's byte-pair merge (`_byte_pair_merge` in tiktoken's src/lib.rs): start from single bytes and
/// repeatedly merge the adjacent pair whose concatenation has the lowest rank, the leftmost on ties.
enum BytePairMerge {
    /// Pieces longer than this use the heap version (same result, O(n log n) instead of O(n²)).
    static let heapThreshold = 128

    /// Appends the ranks of `piece` (not itself a token, at least two bytes) to `output`.
    static func encode(
        _ piece: UnsafeBufferPointer<UInt8>, ranks: RankTable, scratch: inout [Int], output: inout [Int]
    ) {
        if piece.count > heapThreshold {
            encodeWithHeap(piece, ranks: ranks, output: &output)
        } else {
            encodeByScanning(piece, ranks: ranks, scratch: &scratch, output: &output)
        }
    }

    private static let none = Int.max

    /// The reference loop: a vector of (start, rank of the pair starting there), rescanned after each merge.
    static func encodeByScanning(
        _ piece: UnsafeBufferPointer<UInt8>, ranks: RankTable, scratch parts: inout [Int], output: inout [Int]
    ) {
        let base = piece.baseAddress!
        let n = piece.count
        // parts holds pairs (start, rank) flattened: parts[2i] = start, parts[2i + 1] = rank.
        parts.removeAll(keepingCapacity: true)
        var minRank = none
        var minIndex = -1
        for i in 0..<(n - 1) {
            let found = ranks.lookup(base + i, 2)
            let rank = found < 0 ? none : found
            if rank < minRank {
                minRank = rank
                minIndex = i
            }
            parts.append(i)
            parts.append(rank)
        }
        parts.append(n - 1)
        parts.append(none)
        parts.append(n)
        parts.append(none)
        func rank(_ i: Int) -> Int {
            let count = parts.count / 2
            guard i + 3 < count else { return none }
            let start = parts[2 * i]
            let found = ranks.lookup(base + start, parts[2 * (i + 3)] - start)
            return found < 0 ? none : found
        }
        while minRank != none {
            let i = minIndex
            if i > 0 { parts[2 * (i - 1) + 1] = rank(i - 1) }
            parts[2 * i + 1] = rank(i)
            parts.removeSubrange((2 * (i + 1))..<(2 * (i + 2)))
            minRank = none
            minIndex = -1
            var j = 0
            let last = parts.count / 2 - 1
            while j < last {
                let r = parts[2 * j + 1]
                if r < minRank {
                    minRank = r
                    minIndex = j
                }
                j += 1
            }
        }
        let count = parts.count / 2
        for i in 0..<(count - 1) {
            let start = parts[2 * i]
            output.append(ranks.lookup(base + start, parts[2 * (i + 1)] - start))
        }
    }

    /// The same merge order with a binary heap keyed by (rank, start) and a linked list of parts;
    /// stale heap entries are skipped. Equal to the scan because ties go to the smaller start.
    static func encodeWithHeap(_ piece: UnsafeBufferPointer<UInt8>, ranks: RankTable, output: inout [Int]) {
        let base = piece.baseAddress!
        let n = piece.count
        // Part i starts at byte i until merged away; next/prev link the live parts; end sentinel n.
        var next = [Int](0...n).map { $0 + 1 }
        var prev = [Int](0...n).map { $0 - 1 }
        var alive = [Bool](repeating: true, count: n + 1)
        var pairRank = [Int](repeating: none, count: n + 1)
        var heap = MinHeap()
        func rankOfPair(_ i: Int) -> Int {
            let j = next[i]
            guard j < n else { return none }
            let k = next[j]
            let found = ranks.lookup(base + i, k - i)
            return found < 0 ? none : found
        }
        for i in 0..<n {
            pairRank[i] = rankOfPair(i)
            if pairRank[i] != none { heap.push(rank: pairRank[i], start: i) }
        }
        while let top = heap.pop() {
            let i = top.start
            guard alive[i] && pairRank[i] == top.rank else { continue }
            let j = next[i]
            alive[j] = false
            next[i] = next[j]
            prev[next[j]] = i
            pairRank[i] = rankOfPair(i)
            if pairRank[i] != none { heap.push(rank: pairRank[i], start: i) }
            let p = prev[i]
            if p >= 0 {
                let r = rankOfPair(p)
                if r != pairRank[p] {
                    pairRank[p] = r
                    if r != none { heap.push(rank: r, start: p) }
                }
            }
        }
        var i = 0
        while i < n {
            output.append(ranks.lookup(base + i, next[i] - i))
            i = next[i]
        }
    }
}

/// A binary min-heap of (rank, start), ordered by rank then start.
private struct MinHeap {
    private var items: [(rank: Int, start: Int)] = []

    private static func less(_ a: (rank: Int, start: Int), _ b: (rank: Int, start: Int)) -> Bool {
        a.rank < b.rank || (a.rank == b.rank && a.start < b.start)
    }

    mutating func push(rank: Int, start: Int) {
        items.append((rank, start))
        var i = items.count - 1
        while i > 0 {
            let parent = (i - 1) / 2
            guard Self.less(items[i], items[parent]) else { break }
            items.swapAt(i, parent)
            i = parent
        }
    }

    mutating func pop() -> (rank: Int, start: Int)? {
        guard let first = items.first else { return nil }
        let last = items.removeLast()
        if !items.isEmpty {
            items[0] = last
            var i = 0
            while true {
                let l = 2 * i + 1
                let r = l + 1
                var smallest = i
                if l < items.count && Self.less(items[l], items[smallest]) { smallest = l }
                if r < items.count && Self.less(items[r], items[smallest]) { smallest = r }
                if smallest == i { break }
                items.swapAt(i, smallest)
                i = smallest
            }
        }
        return first
    }
}
