import Checkpoint
import TensorIO

/// What to compute over one piece of one tensor.
struct WorkItem: Sendable {
    enum Role: Sendable { case packed, scale, dense }
    let file: Int
    let tensor: TensorInfo
    let role: Role
    /// Byte range within the tensor's data.
    let range: Range<Int>
    let chunk: Int
}

/// Per-item results, written by exactly one worker.
struct ItemResult: Sendable {
    var histogram = [Int](repeating: 0, count: 16)
    var scales = ScaleStatistics()
    var hash: UInt64 = 0
    var nan = 0
    var infinite = 0
}

/// The verify pass: every packed, scale and float tensor cut into ≤ 64 MiB pieces, in file order.
struct WorkPlan {
    let model: ModelFolder
    let items: [WorkItem]
    let totalBytes: Int

    init(_ model: ModelFolder) {
        self.model = model
        var items: [WorkItem] = []
        var total = 0
        for (f, file) in model.tensors.files.enumerated() {
            for t in file.tensors.sorted(by: { $0.begin < $1.begin }) {
                let part = TensorAddress(name: t.name)?.part
                let role: WorkItem.Role
                if part == .weightPacked && t.dtype == .i32 {
                    role = .packed
                } else if part == .weightScale && t.dtype == .bf16 {
                    role = .scale
                } else if [.bf16, .f16, .f32, .f64].contains(t.dtype) {
                    role = .dense
                } else {
                    continue
                }
                var start = 0, chunk = 0
                repeat {
                    // Pieces of whole elements (8-byte multiples) so scale and float boundaries stay aligned.
                    let end = min(t.byteCount, start + Verification.chunkBytes)
                    items.append(WorkItem(file: f, tensor: t, role: role, range: start..<end, chunk: chunk))
                    start = end
                    chunk += 1
                } while start < t.byteCount
                total += t.byteCount
            }
        }
        self.items = items
        totalBytes = total
    }

    /// Runs every item on `threads` workers that take items in order.
    func execute(threads: Int, progress: ByteProgress) -> [ItemResult] {
        let results = UnsafeTransfer(UnsafeMutableBufferPointer<ItemResult>.allocate(capacity: items.count))
        results.value.initialize(repeating: ItemResult())
        defer {
            results.value.deinitialize()  // the elements own arrays: release them before the memory
            results.value.deallocate()
        }
        let items = self.items
        let files = model.tensors.files
        // The items do not throw.
        try? parallelItems(count: items.count, workers: threads) { _, i in
            let item = items[i]
            let whole = files[item.file].bytes(of: item.tensor)
            let bytes = UnsafeRawBufferPointer(rebasing: whole[item.range])
            var r = ItemResult()
            switch item.role {
            case .packed:
                var histogram = [Int](repeating: 0, count: 16)
                r.hash = histogram.withUnsafeMutableBufferPointer {
                    Int4Statistics.addHistogram(bytes, into: $0.baseAddress!, seed: UInt64(item.chunk))
                }
                r.histogram = histogram
            case .scale:
                r.scales.add(bf16: bytes)
                r.hash = Int4Statistics.contentHashFast(bytes, seed: UInt64(item.chunk))
            case .dense:
                (r.nan, r.infinite) = DenseStatistics.nonFinite(bytes, dtype: item.tensor.dtype)
            }
            results.value[i] = r
            let file = files[item.file]
            file.mapping.release(offset: file.header.dataStart + item.tensor.begin + item.range.lowerBound, count: item.range.count)
            progress.add(bytes.count)
        }
        return Array(results.value)
    }
}
