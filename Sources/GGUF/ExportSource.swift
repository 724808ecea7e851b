import BundleFormat
import Checkpoint
import Foundation
import TensorIO

/// Where an export reads its tensors: a safetensors checkpoint or an ingot bundle made from one. Both present the
/// checkpoint's tensors (the bundle's expert extents as the `weight_packed` / `weight_scale` / `weight_shape` they
/// were tiled from), so the plan and the output bytes do not depend on which one is read.
protocol ExportSource: AnyObject {
    /// The folder with config.json and the tokenizer files (a bundle's `files/`).
    var filesFolder: String { get }
    /// Every source tensor, sorted by name; begin/end are meaningless for a bundle.
    var tensors: [TensorInfo] { get }
    /// Calls `body` with a non-expert tensor's bytes, its entry, and a function that drops the pages of the first
    /// n bytes (for tensors larger than memory should hold: a K2 embedding is 2.3 GB); then drops all its pages.
    func dense(_ name: String, _ body: (UnsafeRawBufferPointer, TensorInfo, _ consumed: (Int) -> Void) throws -> Void) throws
    /// Calls `body` with one routed expert projection as compressed-tensors bytes: packed `q + 8` nibbles
    /// ([rows, columns/2] bytes, column 2m in the low nibble of byte m) and BF16 scales ([rows, columns/32]).
    func expert(
        layer: Int, component: TensorAddress.Component, expert: Int, rows: Int, columns: Int,
        _ body: (_ packed: UnsafeRawBufferPointer, _ scales: UnsafeRawBufferPointer) throws -> Void) throws
    /// Asks the kernel to start reading an expert projection that ``expert(layer:component:expert:rows:columns:_:)``
    /// will want next (`madvise(MADV_WILLNEED)`), so reading overlaps converting and writing.
    func prefetch(layer: Int, component: TensorAddress.Component, expert: Int)
}

/// Opens `path` as a bundle (a folder with manifest.json) or a checkpoint.
func openExportSource(_ path: String) throws -> any ExportSource {
    BundleReader.isBundle(path) ? try BundleExportSource(folder: path) : try CheckpointExportSource(path: path)
}

/// Drops the process's mapping of `count` bytes at `offset` and of everything within ``faultAroundSpan`` of them.
///
/// Reading a page of a file mapping also maps up to 16 neighbours already in the page cache (Linux "fault-around",
/// `fault_around_bytes`, 64 KiB by default, within one 2 MiB page table). Those neighbours belong to tensors read
/// earlier or later; dropping only a tensor's own pages left them behind, so resident memory grew by up to a window
/// per tensor boundary (measured: 35 MB on a 91 MB, 13,800-tensor checkpoint). Dropping the aligned span around the
/// tensor removes whatever its reads mapped; a neighbour still to be read faults its pages back in from the cache.
func releaseWholePages(_ mapping: MappedFile, offset: Int, count: Int) {
    let span = faultAroundSpan
    let start = offset / span * span
    let end = min(mapping.length, (offset + count + span - 1) / span * span)
    mapping.release(offset: start, count: end - start)
}

/// The largest span fault-around can map in one fault: one page table (512 × 4 KiB).
let faultAroundSpan = 2 << 20
