public import Foundation

/// A bundle that cannot be written or read as asked; each case names the file, layer, expert or key.
public enum BundleError: Error, Equatable, Sendable {
    /// The source checkpoint failed the checks repack makes before reading data (verify's structure checks).
    case inputHasFindings(model: String, findings: [String])
    /// The source is not in a form the bundle layout stores (for example an asymmetric or non-group-32 scheme).
    case unsupportedSource(model: String, reason: String)
    /// The folder has no manifest.json (an incomplete or interrupted bundle).
    case missingManifest(folder: String)
    /// manifest.json is malformed: bad JSON, unknown key or version, missing field.
    case invalidManifest(file: String, reason: String)
    /// The manifest names a layout this reader does not know.
    case unknownLayout(file: String, layout: String)
    /// A stored extent, file or manifest does not match its SHA-256.
    case checksumMismatch(file: String, what: String, expected: String, actual: String)
    /// A data file's size differs from the manifest.
    case sizeMismatch(file: String, expected: Int, actual: Int)
    /// An extent lies outside its data file or overlaps another.
    case extentOutOfBounds(file: String, what: String, offset: Int, bytes: Int, fileBytes: Int)
    /// Non-zero bytes where the format puts padding.
    case nonZeroPadding(file: String, offset: Int)
    /// An output folder already holds a different job (other source or options).
    case folderHoldsOtherJob(folder: String, reason: String)
    /// `--shard i/n` slices that do not form one whole bundle.
    case slicesDoNotMatch(reason: String)
    /// A usage profile (`--expert-order`) that does not fit the model.
    case invalidExpertOrder(file: String, reason: String)
}

extension BundleError: LocalizedError {
    public var errorDescription: String? {
        switch self {
        case .inputHasFindings(let m, let f):
            "\(m): refusing to repack a checkpoint with \(f.count) findings; first: \(f.first ?? "")"
        case .unsupportedSource(let m, let r): "\(m): \(r)"
        case .missingManifest(let f): "\(f): no manifest.json; not a bundle, or an interrupted repack (re-run it to resume)"
        case .invalidManifest(let f, let r): "\(f): \(r)"
        case .unknownLayout(let f, let l): "\(f): layout \(l) is not one this ingot reads"
        case .checksumMismatch(let f, let w, let e, let a): "\(f): \(w) has SHA-256 \(a), the manifest says \(e)"
        case .sizeMismatch(let f, let e, let a): "\(f): \(a) bytes, the manifest says \(e)"
        case .extentOutOfBounds(let f, let w, let o, let b, let n):
            "\(f): \(w) at offset \(o), \(b) bytes, does not fit the \(n)-byte file"
        case .nonZeroPadding(let f, let o): "\(f): non-zero byte at offset \(o), where the format has padding"
        case .folderHoldsOtherJob(let f, let r): "\(f): \(r); use a new folder"
        case .slicesDoNotMatch(let r): "slices do not form one bundle: \(r)"
        case .invalidExpertOrder(let f, let r): "\(f): \(r)"
        }
    }
}
