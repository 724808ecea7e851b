import BundleFormat
import Checkpoint
import Foundation
import TensorIO
import TestSupport
import Testing

/// Layer streaming's page handling (docs/engine.md, "Layer streaming"): read-ahead ranges are coalesced per file,
/// and reading ahead, releasing and evicting never change what the mapping reads.
@Suite("bundle: page spans")
struct PageSpanTests {
    /// A file of `count` bytes with a position-dependent pattern, mapped.
    func mapped(_ name: String, count: Int) throws -> MappedFile {
        let path = temporaryFolder() + "/" + name
        var data = Data(count: count)
        for i in stride(from: 0, to: count, by: 4093) { data[i] = UInt8(truncatingIfNeeded: i / 4093 + 1) }
        FileManager.default.createFile(atPath: path, contents: data)
        return try MappedFile(path: path)
    }

    @Test("coalesced merges ranges of one file less than 2 MiB apart and keeps files and far ranges apart")
    func coalesced() throws {
        let a = try mapped("a.bin", count: 8 << 20), b = try mapped("b.bin", count: 8 << 20)
        let spans = [
            PageSpan(mapping: a, offset: 5 << 20, count: 1 << 20),  // far from the first two
            PageSpan(mapping: a, offset: 4096, count: 100),
            PageSpan(mapping: b, offset: 0, count: 10),
            PageSpan(mapping: a, offset: 0, count: 200),  // overlaps the next-but-one after sorting
            PageSpan(mapping: a, offset: 1 << 20, count: 1000),  // a gap under 2 MiB
            PageSpan(mapping: a, offset: 7 << 20, count: 0),  // empty: dropped
        ]
        let out = PageSpan.coalesced(spans).map { [$0.mapping === a ? 0 : 1, $0.offset, $0.count] }
        #expect(out.sorted { $0.lexicographicallyPrecedes($1) } == [[0, 0, (1 << 20) + 1000], [0, 5 << 20, 1 << 20], [1, 0, 10]])
    }

    @Test("read-ahead, release and evict leave the mapped bytes as they are")
    func readAheadKeepsBytes() throws {
        let count = (5 << 20) + 12_345
        let m = try mapped("c.bin", count: count)
        let before = Data(m.bytes)
        m.readAhead(offset: 3 << 20, count: 100)  // widened to whole 2 MiB blocks
        m.readAhead(offset: 0, count: count)
        #expect(Data(m.bytes) == before)
        m.release(offset: 4096, count: 3 << 20)
        m.evict(offset: 0, count: count)
        #expect(Data(m.bytes) == before)
        m.readAhead(offset: count - 10, count: 10)
        #expect(Data(m.bytes) == before)
    }

    @Test("a layer is read in compute order: its own tensors first, then each expert by index; nothing left out", arguments: [false, true])
    func readOrder(bundle: Bool) throws {
        // 12 experts: a checkpoint stores expert 10 before expert 2 (names sorted as text).
        var path = try tinyCheckpoint(experts: 12, seed: 5)
        if bundle {
            path = temporaryFolder("ingot-bundle") + "/m.bundle"
            _ = try BundleRepacker.run(source: try tinyCheckpoint(experts: 12, seed: 5), output: path, options: .init())
        }
        let store = try openModelStore(path)
        let layer = store.config.firstKDenseReplace
        let order = store.readOrder(layer: layer)
        let experts = (0..<12).map { e in
            PageSpan.coalesced(
                [TensorAddress.Component.expertGate, .expertUp, .expertDown].flatMap {
                    store.expertPages(TensorAddress(layer: layer, component: $0, expert: e))
                })
        }
        let key = { (s: PageSpan) in [s.mapping.path.hashValue, s.offset, s.count] }
        let tail = Array(order.suffix(experts.joined().count))
        #expect(tail.map(key) == experts.joined().map(key))
        let own = order.dropLast(tail.count)
        #expect(!own.isEmpty)
        // Every byte of the layer is covered by the order, and the layer's own tensors by its head.
        func covered(_ s: PageSpan, by spans: some Sequence<PageSpan>) -> Bool {
            spans.contains { $0.mapping === s.mapping && $0.offset <= s.offset && s.offset + s.count <= $0.offset + $0.count }
        }
        for s in store.layerPages(layer) { #expect(covered(s, by: order), "\(s.offset)") }
        let attention = try #require(store.tensor(TensorAddress(layer: layer, component: .oProj, part: .weight))?.pages)
        #expect(covered(attention, by: own))
        #expect(!covered(attention, by: experts.joined()))
    }
}
