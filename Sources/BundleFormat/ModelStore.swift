internal import CKernels
public import Checkpoint
public import Foundation
public import TensorIO

/// Where a model's tensors live: a Hugging Face checkpoint or an ingot bundle, read in place through mmap.
///
/// The one answer to "is this a checkpoint or a bundle?" (docs/model-store.md): the engine, the GGUF exporter and
/// the CLI ask a store for config, companion files, tensors and expert projections by ``TensorAddress``, and never
/// learn which of the two they read or how a bundle lays out its folder.
public protocol ModelStore: AnyObject, Sendable {
    /// The model's config.json.
    var config: ModelConfig { get }
    /// The folder with config.json, the tokenizer files and the chat template: the checkpoint's folder, or the
    /// bundle's copy of them.
    var filesFolder: String { get }
    /// A description for messages (the folder).
    var origin: String { get }

    /// Every tensor as the source checkpoint names it, sorted by name. A bundle lists its expert projections as the
    /// `weight_packed` / `weight_scale` / `weight_shape` they were tiled from, with offsets 0.
    ///
    /// - Throws: ``BundleError`` when a bundle lists a source tensor that nothing holds.
    func inventory() throws(BundleError) -> [TensorInfo]

    /// A tensor stored as it is (dense weights, norms, scales), a view of the mapping; nil when the store has no such
    /// tensor. Routed-expert projections of a bundle are not tensors: ask ``expert(_:keep:)``.
    func tensor(_ address: TensorAddress) -> TensorView?

    /// A routed-expert projection in its stored form; nil when the store keeps it as plain tensors (``tensor(_:)``)
    /// or does not have it.
    ///
    /// - Parameters:
    ///   - address: a routed-expert address; the part is ignored.
    ///   - keep: for compressed bundles, keep the decompressed copy until ``release(layer:)`` of its layer (the
    ///     engine reads each expert many times); false hands out a copy that lives as long as the returned value.
    /// - Throws: ``ZstdError`` for a corrupt extent.
    func expert(_ address: TensorAddress, keep: Bool) throws -> ExpertProjection?

    /// The mapped bytes a routed-expert projection is read from (to prefetch it).
    func expertPages(_ address: TensorAddress) -> [PageSpan]
    /// The mapped bytes of one layer's tensors and experts; `nil` = the global tensors.
    func layerPages(_ layer: Int?) -> [PageSpan]

    /// Reads one layer's weights into the page cache without mapping them (blocking: a background thread's job);
    /// `nil` = the global tensors. `room`: pages to evict as the new ones are read (``RetiredPages``).
    func prefetch(layer: Int?, room: RetiredPages?)
    /// Drops the resident pages of one layer's weights (and anything kept for it); `nil` = the global tensors.
    func release(layer: Int?)
    /// ``release(layer:)``, and hands the layer's pages to `retired`, to be dropped from the page cache when new data
    /// needs the room (layer streaming).
    func retire(layer: Int?, to retired: RetiredPages)
}

extension ModelStore {
    public func prefetch(layer: Int?, room: RetiredPages? = nil) {
        for span in readOrder(layer: layer) { span.prefetch(room: room) }
    }

    /// A layer's pages in the order the engine computes with them (docs/engine.md, "Layer streaming"): its own
    /// tensors (norms, attention, router, shared expert) first, then each routed expert in index order; each part
    /// coalesced. A checkpoint stores a layer's attention after its experts, and expert 10 before expert 2 (names
    /// sorted as text), so reading in file order made the computation that trails the reader fault pages the reader
    /// had not reached yet.
    public func readOrder(layer: Int?) -> [PageSpan] {
        guard let layer else { return PageSpan.coalesced(layerPages(nil)) }
        let experts = (0..<config.nRoutedExperts).map { expertSpans(layer: layer, expert: $0) }
        // A bundle's expert is one extent; a checkpoint's is its weight_packed and weight_scale tensors, coalesced
        // above: a tensor of the layer is the layer's own unless it lies inside one of those ranges.
        let expertRanges = Dictionary(grouping: experts.joined(), by: \.mapping.path)
        let own = layerPages(layer).filter { span in
            !(expertRanges[span.mapping.path] ?? []).contains {
                span.offset >= $0.offset && span.offset + span.count <= $0.offset + $0.count
            }
        }
        return PageSpan.coalesced(own) + experts.joined()
    }
    /// One routed expert's pages (its three projections), coalesced.
    public func expertSpans(layer: Int, expert: Int) -> [PageSpan] {
        let components: [TensorAddress.Component] = [.expertGate, .expertUp, .expertDown]
        return PageSpan.coalesced(components.flatMap { expertPages(TensorAddress(layer: layer, component: $0, expert: expert)) })
    }

    /// Hands one routed expert's pages to `retired` as a part of its layer (``RetiredPages/retirePart(_:offset:count:)``),
    /// once the layer's computation is done with that expert; ``retire(layer:to:)`` hands over the rest later. The
    /// process's mapping is left as it is until the pages are evicted: a neighbour still in use may share a 2 MiB
    /// block with them.
    public func retire(layer: Int, expert: Int, to retired: RetiredPages) {
        for span in expertSpans(layer: layer, expert: expert) {
            retired.retirePart(span.mapping, offset: span.offset, count: span.count)
        }
    }

    /// The bytes of one layer's tensors and experts (`nil` = the global tensors).
    public func layerBytes(_ layer: Int?) -> Int { layerPages(layer).reduce(0) { $0 + $1.count } }

    /// Reads one layer's pages now (`nil` = the global tensors).
    public func load(layer: Int?) { for span in layerPages(layer) { span.read() } }
    public func release(layer: Int?) { releasePages(layer: layer) }
    public func retire(layer: Int?, to retired: RetiredPages) {
        release(layer: layer)
        for span in PageSpan.coalesced(layerPages(layer)) { span.retire(to: retired) }
    }

    /// Drops the whole pages around every tensor of a layer (``PageSpan/release()``).
    public func releasePages(layer: Int?) { for span in layerPages(layer) { span.release() } }
}

/// Opens `path` as a bundle (a folder with manifest.json) or a checkpoint (file, folder or HF cache repository).
///
/// - Throws: ``BundleError``, ``SafetensorsError``, ``CheckpointError`` or ``FileError``.
public func openModelStore(_ path: String) throws -> any ModelStore {
    switch ModelStoreKind(path: path) {
    case .bundle: try BundleStore(folder: path)
    case .checkpoint: try CheckpointStore(path: path)
    }
}

/// Which of the two stores a path holds: for the few commands whose work differs (`verify` checks a bundle's
/// extents, a checkpoint's quantization) and for questions that need no open store.
public enum ModelStoreKind: Sendable, Equatable {
    /// A Hugging Face checkpoint: a safetensors file, a folder or an HF cache repository.
    case checkpoint
    /// An ingot bundle (docs/bundle-format.md).
    case bundle

    /// Looks at `path` (a bundle is a folder with manifest.json). The only place that decides.
    public init(path: String) { self = BundleReader.isBundle(path) ? .bundle : .checkpoint }
}

/// The folder with a model's config.json and tokenizer files, without opening its tensors.
///
/// - Throws: ``FileError`` when `path` is neither a bundle nor a checkpoint location.
public func modelFilesFolder(_ path: String) throws -> String {
    switch ModelStoreKind(path: path) {
    case .bundle: BundleReader.filesFolder(of: path)
    case .checkpoint: try ModelLocation.resolve(path).folder
    }
}

/// The model's own name: the checkpoint folder's, or the bundle folder's without a `.bundle` suffix (so a bundle
/// made with `repack X -o X.bundle` names itself X).
///
/// - Throws: ``FileError`` when `path` is neither a bundle nor a checkpoint location.
public func modelName(_ path: String) throws -> String {
    guard ModelStoreKind(path: path) == .bundle else { return (try ModelLocation.resolve(path).folder as NSString).lastPathComponent }
    let last = (ModelLocation.realPath(path) as NSString).lastPathComponent
    return last.hasSuffix(".bundle") ? String(last.dropLast(".bundle".count)) : last
}

/// A tensor as stored: its entry, its bytes and the pages they lie on.
public struct TensorView: @unchecked Sendable {
    // Sendable: a read-only view of a mapping the store keeps open.
    /// Name, dtype and shape (offsets are the file's, or 0 for a bundle).
    public let info: TensorInfo
    /// The stored bytes.
    public let bytes: UnsafeRawBufferPointer
    /// Where the bytes are mapped; nil for owned copies.
    public let pages: PageSpan?

    /// Creates a view.
    public init(info: TensorInfo, bytes: UnsafeRawBufferPointer, pages: PageSpan?) {
        self.info = info
        self.bytes = bytes
        self.pages = pages
    }

    /// The mapping the bytes lie in (nil for owned copies).
    public var mapping: MappedFile? { pages?.mapping }
}

/// A routed-expert projection in the form its store holds it.
public enum ExpertProjection: @unchecked Sendable {
    // Sendable: views of mappings or of the owned copy the payload keeps alive.
    /// compressed-tensors pack-quantized INT4: I32 words [rows, columns/8] and BF16 scales [rows, columns/32].
    case packed(words: TensorView, scales: TensorView)
    /// A bundle's `int4-tiles` bytes (docs/bundle-format.md).
    case tiles(TiledProjection)
}

/// One projection in a bundle's `int4-tiles` layout, as the manifest declares it.
public struct TiledProjection: @unchecked Sendable {
    // Sendable: a read-only view of a mapping, or of `owner`'s buffer, which nobody writes after creation.
    /// Output rows.
    public let rows: Int
    /// Input columns.
    public let columns: Int
    /// Rows per tile (the manifest's `tile_rows`).
    public let tileRows: Int
    /// Columns per scale (the manifest's `group_size`).
    public let groupSize: Int
    /// The tiles.
    public let bytes: UnsafeRawBufferPointer
    /// Keeps a decompressed copy alive; nil for views of the mapping.
    public let owner: AnyObject?
    /// The stored bytes read to produce `bytes`: the projection's own for raw bundles, its whole extent for
    /// compressed ones.
    public let pages: PageSpan?

    /// Rewrites the tiles as compressed-tensors bytes: packed `q + 8` nibbles ([rows, columns/2] bytes) and BF16
    /// scales ([rows, columns/group]).
    public func untile(packed: UnsafeMutableRawBufferPointer, scales: UnsafeMutableRawBufferPointer) {
        TileLayout(tileRows: tileRows).untile(bytes, rows: rows, columns: columns, packed: packed, scales: scales)
    }
}

/// A byte range of a mapped file, and what can be done to its pages.
public struct PageSpan: Sendable {
    /// The mapping.
    public let mapping: MappedFile
    /// Start of the range in the file.
    public let offset: Int
    /// Length of the range.
    public let count: Int

    /// Creates a span.
    public init(mapping: MappedFile, offset: Int, count: Int) {
        self.mapping = mapping
        self.offset = offset
        self.count = count
    }

    /// Reads the range into the page cache without mapping it (``MappedFile/readAhead(offset:count:)``); blocks until
    /// the reads are done, so it belongs on a background thread.
    public func prefetch(room: RetiredPages? = nil) { mapping.readAhead(offset: offset, count: count, room: room) }

    /// Hands the range to `retired`, to be dropped from the page cache when new data needs the room.
    public func retire(to retired: RetiredPages) { retired.retire(mapping, offset: offset, count: count) }

    /// Reads every page of the range now (a load that only folds the bytes), so they are resident when this returns.
    public func read() {
        guard let base = mapping.bytes.baseAddress, count > 0 else { return }
        _ = ingot_read_fold(base.assumingMemoryBound(to: UInt8.self) + offset, count)
    }

    /// Drops the whole pages inside the first `bytes` of the range (a consumer streaming through a large tensor).
    public func release(prefix bytes: Int) { mapping.release(offset: offset, count: bytes) }

    /// Drops the process's mapping of the range and of everything within ``faultAroundSpan`` of it.
    ///
    /// Reading a page of a file mapping also maps up to 16 neighbours already in the page cache (Linux
    /// "fault-around", `fault_around_bytes`, 64 KiB by default, within one 2 MiB page table). Those neighbours
    /// belong to tensors read earlier or later; dropping only a tensor's own pages left them behind, so resident
    /// memory grew by up to a window per tensor boundary (measured: 35 MB on a 91 MB, 13,800-tensor checkpoint).
    /// Dropping the aligned span around the tensor removes whatever its reads mapped; a neighbour still to be read
    /// faults its pages back in from the cache.
    public func release() {
        let span = Self.faultAroundSpan
        let start = offset / span * span
        let end = min(mapping.length, (offset + count + span - 1) / span * span)
        mapping.release(offset: start, count: end - start)
    }

    /// The spans' bytes as few ranges as possible: sorted by file and offset, with ranges less than 2 MiB apart
    /// merged (reading ahead one range per layer and shard instead of one per tensor keeps huge mappings whole).
    public static func coalesced(_ spans: [PageSpan]) -> [PageSpan] {
        let sorted = spans.filter { $0.count > 0 }.sorted {
            $0.mapping === $1.mapping ? $0.offset < $1.offset : $0.mapping.path < $1.mapping.path
        }
        var out: [PageSpan] = []
        for s in sorted {
            if let last = out.last, last.mapping === s.mapping, s.offset <= last.offset + last.count + (2 << 20) {
                let end = max(last.offset + last.count, s.offset + s.count)
                out[out.count - 1] = PageSpan(mapping: last.mapping, offset: last.offset, count: end - last.offset)
            } else {
                out.append(s)
            }
        }
        return out
    }

    /// The largest span fault-around can map in one fault: one page table (512 × 4 KiB).
    public static let faultAroundSpan = 2 << 20
}
