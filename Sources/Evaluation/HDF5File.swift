internal import CHDF5

/// An HDF5 call failed (negative return).
public struct HDF5Error: Error, Equatable, Sendable, CustomStringConvertible {
    /// The C function that failed.
    public let call: String
    /// The file.
    public let path: String
    /// The dataset or attribute involved, if any.
    public let object: String
    public var description: String { "\(path): \(call) failed\(object.isEmpty ? "" : " for '\(object)'")" }
}

/// An HDF5 file holding report arrays: 1-D/2-D datasets of f32, f64 or i64 and string attributes.
///
/// Owns the file handle and closes it in `deinit`. HDF5's own error printing is silenced once; failures
/// become ``HDF5Error``.
public final class HDF5File {
    /// The path.
    public let path: String
    private let id: hid_t
    private static let silence: Void = { H5Eset_auto2(CHDF5_e_default(), nil, nil) }()

    /// Creates (truncating) a file. The corresponding C function is `H5Fcreate`.
    public init(creating path: String) throws(HDF5Error) {
        _ = Self.silence
        self.path = path
        id = H5Fcreate(path, CHDF5_acc_trunc(), CHDF5_p_default(), CHDF5_p_default())
        guard id >= 0 else { throw HDF5Error(call: "H5Fcreate", path: path, object: "") }
    }

    /// Opens a file read-only. The corresponding C function is `H5Fopen`.
    public init(reading path: String) throws(HDF5Error) {
        _ = Self.silence
        self.path = path
        id = H5Fopen(path, CHDF5_acc_rdonly(), CHDF5_p_default())
        guard id >= 0 else { throw HDF5Error(call: "H5Fopen", path: path, object: "") }
    }

    deinit { H5Fclose(id) }

    /// Writes a dataset of f32 with the given shape (row-major). The C function is `H5Dcreate2`.
    public func write(_ values: [Float], shape: [Int], name: String) throws(HDF5Error) {
        try writeDataset(values, shape: shape, name: name, type: CHDF5_native_float())
    }

    /// Writes a dataset of f64.
    public func write(_ values: [Double], shape: [Int], name: String) throws(HDF5Error) {
        try writeDataset(values, shape: shape, name: name, type: CHDF5_native_double())
    }

    /// Writes a dataset of i64.
    public func write(_ values: [Int64], shape: [Int], name: String) throws(HDF5Error) {
        try writeDataset(values, shape: shape, name: name, type: CHDF5_native_int64())
    }

    private func writeDataset<T>(_ values: [T], shape: [Int], name: String, type: hid_t) throws(HDF5Error) {
        precondition(shape.reduce(1, *) == values.count, "dataset \(name): shape \(shape) holds \(values.count) values?")
        let dims = shape.map { hsize_t($0) }
        let space = H5Screate_simple(Int32(dims.count), dims, nil)
        guard space >= 0 else { throw HDF5Error(call: "H5Screate_simple", path: path, object: name) }
        defer { H5Sclose(space) }
        let dataset = H5Dcreate2(id, name, type, space, CHDF5_p_default(), CHDF5_p_default(), CHDF5_p_default())
        guard dataset >= 0 else { throw HDF5Error(call: "H5Dcreate2", path: path, object: name) }
        defer { H5Dclose(dataset) }
        let status = values.withUnsafeBytes { H5Dwrite(dataset, type, CHDF5_s_all(), CHDF5_s_all(), CHDF5_p_default(), $0.baseAddress) }
        guard status >= 0 else { throw HDF5Error(call: "H5Dwrite", path: path, object: name) }
    }

    /// Reads a dataset as f32 with its shape. The corresponding C function is `H5Dread`.
    public func readFloats(_ name: String) throws(HDF5Error) -> (values: [Float], shape: [Int]) {
        let dataset = H5Dopen2(id, name, CHDF5_p_default())
        guard dataset >= 0 else { throw HDF5Error(call: "H5Dopen2", path: path, object: name) }
        defer { H5Dclose(dataset) }
        let space = H5Dget_space(dataset)
        guard space >= 0 else { throw HDF5Error(call: "H5Dget_space", path: path, object: name) }
        defer { H5Sclose(space) }
        let rank = Int(H5Sget_simple_extent_ndims(space))
        guard rank >= 0 else { throw HDF5Error(call: "H5Sget_simple_extent_ndims", path: path, object: name) }
        var dims = [hsize_t](repeating: 0, count: max(rank, 1))
        H5Sget_simple_extent_dims(space, &dims, nil)
        let shape = dims.prefix(rank).map { Int($0) }
        let count = shape.reduce(1, *)
        var values = [Float](repeating: 0, count: count)
        let status = values.withUnsafeMutableBytes {
            H5Dread(dataset, CHDF5_native_float(), CHDF5_s_all(), CHDF5_s_all(), CHDF5_p_default(), $0.baseAddress)
        }
        guard status >= 0 else { throw HDF5Error(call: "H5Dread", path: path, object: name) }
        return (values, shape)
    }

    /// Sets a string attribute on the file's root group. The corresponding C function is `H5Acreate2`.
    public func setAttribute(_ name: String, _ value: String) throws(HDF5Error) {
        let type = H5Tcopy(CHDF5_c_s1())
        defer { H5Tclose(type) }
        let bytes = Array(value.utf8)
        H5Tset_size(type, max(1, bytes.count))
        let space = CHDF5_s_scalar_create()
        defer { H5Sclose(space) }
        let attribute = H5Acreate2(id, name, type, space, CHDF5_p_default(), CHDF5_p_default())
        guard attribute >= 0 else { throw HDF5Error(call: "H5Acreate2", path: path, object: name) }
        defer { H5Aclose(attribute) }
        let padded = bytes.isEmpty ? [UInt8(0)] : bytes
        guard padded.withUnsafeBytes({ H5Awrite(attribute, type, $0.baseAddress) }) >= 0 else {
            throw HDF5Error(call: "H5Awrite", path: path, object: name)
        }
    }

    /// Reads a string attribute of the root group. The corresponding C function is `H5Aread`.
    public func attribute(_ name: String) throws(HDF5Error) -> String {
        let attribute = H5Aopen(id, name, CHDF5_p_default())
        guard attribute >= 0 else { throw HDF5Error(call: "H5Aopen", path: path, object: name) }
        defer { H5Aclose(attribute) }
        let type = H5Aget_type(attribute)
        defer { H5Tclose(type) }
        let size = H5Tget_size(type)
        var bytes = [UInt8](repeating: 0, count: size)
        guard bytes.withUnsafeMutableBytes({ H5Aread(attribute, type, $0.baseAddress) }) >= 0 else {
            throw HDF5Error(call: "H5Aread", path: path, object: name)
        }
        if let end = bytes.firstIndex(of: 0) { bytes.removeSubrange(end...) }
        return String(decoding: bytes, as: UTF8.self)
    }
}
