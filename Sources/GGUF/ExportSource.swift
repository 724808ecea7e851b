import BundleFormat
import Checkpoint
import Foundation
import TensorIO

/// Where an export reads its tensors: a ``ModelStore``, checkpoint or bundle. Both present the checkpoint's tensors
/// (a bundle's expert tiles as the `weight_packed` / `weight_scale` they were tiled from), so the plan and the
/// output bytes do not depend on which one is read (docs/model-store.md).
final class ExportSource {
    let store: any ModelStore
    /// Untiled copies of one bundle expert projection, allocated once and grown as needed.
    private var packed = UnsafeMutableRawBufferPointer(start: nil, count: 0)
    private var scales = UnsafeMutableRawBufferPointer(start: nil, count: 0)

    /// Opens `path` as a bundle or a checkpoint (``openModelStore(_:)``).
    init(path: String) throws { store = try openModelStore(path) }

    deinit {
        packed.deallocate()
        scales.deallocate()
    }

    /// The folder with config.json and the tokenizer files.
    var filesFolder: String { store.filesFolder }

    /// Calls `body` with a non-expert tensor's bytes, its entry, and a function that drops the pages of the first
    /// n bytes (for tensors larger than memory should hold: a K2 embedding is 2.3 GB); then drops all its pages.
    func dense(_ name: String, _ body: (UnsafeRawBufferPointer, TensorInfo, _ consumed: (Int) -> Void) throws -> Void) throws {
        guard let address = TensorAddress(name: name), let t = store.tensor(address) else {
            throw GGUFError.unsupportedSource(tensor: name, reason: "missing")
        }
        try body(t.bytes, t.info) { n in t.pages?.release(prefix: n) }
        t.pages?.release()
    }

    /// Calls `body` with one routed expert projection as compressed-tensors bytes: packed `q + 8` nibbles
    /// ([rows, columns/2] bytes, column 2m in the low nibble of byte m) and BF16 scales ([rows, columns/32]).
    func expert(
        layer: Int, component: TensorAddress.Component, expert: Int, rows: Int, columns: Int,
        _ body: (_ packed: UnsafeRawBufferPointer, _ scales: UnsafeRawBufferPointer) throws -> Void
    ) throws {
        let address = TensorAddress(layer: layer, component: component, expert: expert)
        switch try store.expert(address, keep: false) {
        case .packed(let words, let scales):
            try checkWeightShape(address.with(part: .weightShape), rows, columns)
            try body(words.bytes, scales.bytes)
            words.pages?.release()
            scales.pages?.release()
        case .tiles(let t):
            guard t.rows == rows, t.columns == columns else {
                throw GGUFError.unsupportedSource(
                    tensor: address.moduleName, reason: "the bundle stores [\(t.rows), \(t.columns)], expected [\(rows), \(columns)]")
            }
            let packedBytes = rows * columns / 2, scaleBytes = rows * columns / t.groupSize * 2
            if packed.count < packedBytes {
                packed.deallocate()
                packed = .allocate(byteCount: packedBytes, alignment: 64)
            }
            if scales.count < scaleBytes {
                scales.deallocate()
                scales = .allocate(byteCount: scaleBytes, alignment: 64)
            }
            let pk = UnsafeMutableRawBufferPointer(rebasing: packed[0..<packedBytes])
            let sc = UnsafeMutableRawBufferPointer(rebasing: scales[0..<scaleBytes])
            t.untile(packed: pk, scales: sc)
            t.pages?.release()
            try body(UnsafeRawBufferPointer(pk), UnsafeRawBufferPointer(sc))
        case nil:
            throw GGUFError.unsupportedSource(tensor: address.with(part: .weightPacked).name, reason: "missing")
        }
    }

    /// Asks the kernel to start reading an expert projection that ``expert(layer:component:expert:rows:columns:_:)``
    /// will want next (`madvise(MADV_WILLNEED)`), so reading overlaps converting and writing.
    func prefetch(layer: Int, component: TensorAddress.Component, expert: Int) {
        for span in store.expertPages(TensorAddress(layer: layer, component: component, expert: expert)) { span.prefetch() }
    }

    /// `weight_shape` (I64 or I32, when present) must be [rows, columns]: Q4_0 has no padding to crop.
    private func checkWeightShape(_ address: TensorAddress, _ rows: Int, _ columns: Int) throws {
        guard let t = store.tensor(address) else { return }
        let (b, info, name) = (t.bytes, t.info, address.name)
        var values: [Int] = []
        switch info.dtype {
        case .i64:
            values = (0..<info.elementCount).map { Int(Int64(littleEndian: b.loadUnaligned(fromByteOffset: 8 * $0, as: Int64.self))) }
        case .i32:
            values = (0..<info.elementCount).map { Int(Int32(littleEndian: b.loadUnaligned(fromByteOffset: 4 * $0, as: Int32.self))) }
        default: throw GGUFError.unsupportedSource(tensor: name, reason: "dtype \(info.dtype.rawValue), expected I64 or I32")
        }
        guard values == [rows, columns] else {
            throw GGUFError.unsupportedSource(tensor: name, reason: "holds \(values), the packed data is [\(rows), \(columns)]")
        }
    }
}
