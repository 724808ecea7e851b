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
    /// A file of `count` bytes with a position-dependent pattern, written to disk (so its pages can leave the page
    /// cache) and mapped.
    func mapped(_ name: String, count: Int) throws -> MappedFile {
        let path = temporaryFolder() + "/" + name
        var data = Data(count: count)
        for i in stride(from: 0, to: count, by: 4093) { data[i] = UInt8(truncatingIfNeeded: i / 4093 + 1) }
        FileManager.default.createFile(atPath: path, contents: data)
        let handle = try #require(FileHandle(forUpdatingAtPath: path))
        try handle.synchronize()
        try handle.close()
        return try MappedFile(path: path)
    }

    /// How many of a range's 4 KiB pages are in the page cache (`mincore`).
    func cachedPages(_ m: MappedFile, offset: Int, count: Int) -> Int {
        let page = 4096, start = offset / page * page
        var flags = [UInt8](repeating: 0, count: (offset + count - start + page - 1) / page)
        let p = UnsafeMutableRawPointer(mutating: m.bytes.baseAddress! + start)
        guard mincore(p, offset + count - start, &flags) == 0 else { return -1 }
        return flags.filter { $0 & 1 != 0 }.count
    }

    @Test("retired pages leave oldest first, cut at 2 MiB boundaries, as a read-ahead with room reads")
    func retiredPages() throws {
        let a = try mapped("ra.bin", count: 6 << 20), b = try mapped("rb.bin", count: 3 << 20)
        let before = (Data(a.bytes), Data(b.bytes))
        let retired = RetiredPages()
        retired.retire(a, offset: 0, count: 5 << 20)
        retired.retire(b, offset: (1 << 20) + 100, count: 1 << 20)
        #expect(retired.pendingBytes == 6 << 20)
        retired.evict(atLeast: 1)  // up to the first 2 MiB boundary
        #expect(retired.pendingBytes == 4 << 20)
        retired.evict(atLeast: (2 << 20) + 1)  // the rest of the first range: 3 MiB
        #expect(retired.pendingBytes == 1 << 20)
        retired.evict(atLeast: 4096)  // from 1 MiB + 100 up to 2 MiB
        #expect(retired.pendingBytes == 100)
        retired.evictAll()
        #expect(retired.pendingBytes == 0)
        retired.evict(atLeast: 1 << 20)  // nothing left: a no-op
        // Data is what it was; pages dropped from the cache are read back from the file.
        #expect(Data(a.bytes) == before.0 && Data(b.bytes) == before.1)

        // A read-ahead with room evicts as many retired bytes as it reads, before it reads them.
        a.readAhead(offset: 0, count: 6 << 20)
        a.release(offset: 0, count: 6 << 20)
        let cached = cachedPages(a, offset: 0, count: 6 << 20)
        let room = RetiredPages()  // a list serves one pass: a range already queued in `retired` would not be again
        room.retire(a, offset: 0, count: 6 << 20)
        b.readAhead(offset: 0, count: 3 << 20, room: room)  // one 3 MiB piece: evicts 3 MiB, cut up to 4 MiB
        #expect(room.pendingBytes == 2 << 20)
        #expect(room.admittedBytes == 3 << 20)
        if cached == 1536 {  // the file system keeps pages in a page cache that can drop them (not tmpfs)
            #expect(cachedPages(a, offset: 0, count: 4 << 20) == 0)
            #expect(cachedPages(a, offset: 4 << 20, count: 2 << 20) == 512)
        }
        #expect(Data(a.bytes) == before.0 && Data(b.bytes) == before.1)
    }

    @Test("a part of a range leaves in the 2 MiB blocks it covers, a shared one with its neighbour, the rest with the whole range")
    func retiredParts() throws {
        let mb = 1 << 20
        let a = try mapped("rp.bin", count: 10 * mb)
        let before = Data(a.bytes)
        let retired = RetiredPages()
        retired.retirePart(a, offset: mb, count: 4 * mb)  // [1, 5) MiB: the block [2, 4) is whole
        #expect(retired.pendingBytes == 2 * mb)
        retired.retirePart(a, offset: 5 * mb, count: 2 * mb)  // [1, 7) retired: [4, 6) is whole now
        #expect(retired.pendingBytes == 4 * mb)
        retired.retirePart(a, offset: 8 * mb + 10, count: 100)  // inside one block: nothing yet
        #expect(retired.pendingBytes == 4 * mb)
        retired.retire(a, offset: 0, count: 9 * mb + 100)  // the whole range: [0, 2) and [6, 9 MiB + 100) are left
        #expect(retired.pendingBytes == 9 * mb + 100)
        retired.retire(a, offset: mb, count: 2 * mb)  // queued already
        retired.retirePart(a, offset: 0, count: 4 * mb)
        #expect(retired.pendingBytes == 9 * mb + 100)
        retired.evictAll()
        #expect(retired.pendingBytes == 0)
        #expect(Data(a.bytes) == before)
    }

    @Test("with a budget, a read waits for room until pages are retired or the list is closed; ranges count once")
    func admitWaitsForRoom() throws {
        let mb = 1 << 20
        let a = try mapped("ba.bin", count: 8 * mb), b = try mapped("bb.bin", count: 8 * mb)
        let retired = RetiredPages(budget: 4 * mb)
        retired.admit(a, offset: 0, count: 2 * mb)
        retired.admit(a, offset: 0, count: 4 * mb)  // overlaps the first: 2 MiB new
        #expect(retired.admittedBytes == 4 * mb && retired.waitedSeconds == 0)
        let started = DispatchSemaphore(value: 0), done = DispatchSemaphore(value: 0)
        DispatchQueue.global().async {
            started.signal()  // the window below opens once the reader runs, however late a loaded machine starts it
            retired.admit(b, offset: 0, count: 2 * mb)
            done.signal()
        }
        #expect(started.wait(timeout: .now() + 10) == .success)
        #expect(done.wait(timeout: .now() + 0.3) == .timedOut, "admitted beyond the budget")
        retired.retire(a, offset: 0, count: 2 * mb)  // evicted to make room
        #expect(done.wait(timeout: .now() + 10) == .success)
        #expect(retired.admittedBytes == 4 * mb && retired.pendingBytes == 0)
        // About 0.3 s; the lower bound leaves room for a reader preempted between its two lines on a busy machine.
        let waited = retired.waitedSeconds
        #expect(waited >= 0.05 && waited < 10, "the wait for room is counted in seconds (streaming reports it apart)")
        DispatchQueue.global().async {
            started.signal()
            retired.admit(b, offset: 2 * mb, count: 2 * mb)
            done.signal()
        }
        #expect(started.wait(timeout: .now() + 10) == .success)
        #expect(done.wait(timeout: .now() + 0.3) == .timedOut, "admitted beyond the budget")
        retired.close()  // nothing more will be retired: the read goes ahead
        #expect(done.wait(timeout: .now() + 10) == .success)
        #expect(retired.admittedBytes == 6 * mb)
        retired.admit(b, offset: 4 * mb, count: 2 * mb)  // closed: no waiting
        #expect(retired.admittedBytes == 8 * mb)
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
