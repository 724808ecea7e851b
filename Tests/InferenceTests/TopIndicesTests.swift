import Testing

@testable import Inference

/// The router's top-k (docs/engine.md, "Run state"): the order of a stable sort, larger first, equal values by
/// lower index.
@Suite("engine: top-k selection")
struct TopIndicesTests {
    func top(_ values: [Float], _ k: Int) -> [Int] {
        var out = [Int](repeating: -1, count: max(k, 1))
        let n = values.withUnsafeBufferPointer { v in
            out.withUnsafeMutableBufferPointer { topIndices(v.baseAddress!, count: v.count, k: k, into: $0.baseAddress!) }
        }
        return Array(out.prefix(n))
    }

    @Test("matches a stable sort on ties, −inf and k beyond the count")
    func matchesStableSort() {
        var rng = SystemRandomNumberGenerator()
        for _ in 0..<200 {
            let count = Int.random(in: 1...40, using: &rng)
            let pool: [Float] = [-1, 0, 0.5, 2, -Float.infinity, 3]
            let values: [Float] = (0..<count).map { _ in pool[Int.random(in: 0..<pool.count, using: &rng)] }
            for k in [1, 2, 8, count, count + 3] {
                let order: [Int] = values.indices.sorted { a, b in values[a] > values[b] || (values[a] == values[b] && a < b) }
                let expected = Array(order.prefix(k))
                #expect(top(values, k) == expected, "values \(values) k \(k)")
            }
        }
    }
}
