import Dispatch
import Foundation
import TensorIO

/// Hashes dense extents on their own serial queue, in write order, so SHA-256 runs while the writer thread copies the
/// next pieces. At most `limit` pieces held in memory wait, which bounds the memory they hold; pieces of the source
/// mapping (`mapped`) may wait up to `mappedLimit`: they are page-cache pages that are only mapped in while being
/// hashed, so the writer can run ahead of SHA-256 and finish reading the source before writeback competes with the
/// reads (the disk serves mixed reads and writes far slower than either alone). Expert extents are hashed by the
/// workers that build them; the data file itself is not hashed (its digest is the extent table's, format version 2).
final class StreamHasher: @unchecked Sendable {
    // Sendable: `extent` and `extentDigests` are touched only on `queue`.
    private let queue = DispatchQueue(label: "ingot.repack.hash.extent")
    private let slots: DispatchSemaphore
    private let mappedSlots: DispatchSemaphore
    private var extent = SHA256Stream()
    private var extentDigests: [Int: String] = [:]

    init(limit: Int = 3, mappedLimit: Int = 64) {
        slots = DispatchSemaphore(value: limit)
        mappedSlots = DispatchSemaphore(value: mappedLimit)
    }

    /// Adds bytes (kept alive by `owner` until hashed) to the current extent's hash, then runs `after` (releasing
    /// source pages).
    func add(
        _ bytes: UnsafeRawBufferPointer, owner: (any AnyObject & Sendable)?, mapped: Bool = false, after: (@Sendable () -> Void)? = nil
    ) {
        let slots = mapped ? mappedSlots : slots
        slots.wait()
        let piece = UnsafeTransfer(bytes)
        queue.async { [self] in
            withExtendedLifetime(owner) { extent.update(piece.value) }
            after?()
            slots.signal()
        }
    }

    /// Closes extent `k`'s hash.
    func finishExtent(_ k: Int) {
        queue.async { [self] in
            extentDigests[k] = extent.finalize()
            extent = SHA256Stream()
        }
    }

    /// The extent digests finished so far (waits for everything queued).
    func extentDigestsSoFar() -> [Int: String] { queue.sync { extentDigests } }
}
