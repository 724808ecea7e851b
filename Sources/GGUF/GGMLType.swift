/// A ggml tensor type as GGUF stores it (`enum ggml_type` in ggml/include/ggml.h); only the types ingot writes
/// and reads back.
public enum GGMLType: UInt32, Sendable, CaseIterable, CustomStringConvertible {
    case f32 = 0
    case f16 = 1
    case q4_0 = 2
    case q8_0 = 8
    case bf16 = 30

    /// Elements per block (1 for plain floats).
    public var blockSize: Int {
        switch self {
        case .f32, .f16, .bf16: 1
        case .q4_0, .q8_0: 32
        }
    }

    /// Bytes per block: Q4_0 is an F16 scale and 16 nibble bytes, Q8_0 an F16 scale and 32 int8.
    public var blockBytes: Int {
        switch self {
        case .f32: 4
        case .f16, .bf16: 2
        case .q4_0: 18
        case .q8_0: 34
        }
    }

    /// Bytes of a row of `elements` values; nil when `elements` is not a whole number of blocks.
    public func rowBytes(_ elements: Int) -> Int? {
        elements % blockSize == 0 ? elements / blockSize * blockBytes : nil
    }

    /// The name llama.cpp prints ("q4_0", "bf16").
    public var description: String {
        switch self {
        case .f32: "f32"
        case .f16: "f16"
        case .q4_0: "q4_0"
        case .q8_0: "q8_0"
        case .bf16: "bf16"
        }
    }

    /// `general.file_type` (`enum llama_ftype`) for a file whose bulk is this type.
    public var fileType: UInt32 {
        switch self {
        case .f32: 0
        case .f16: 1
        case .q4_0: 2
        case .q8_0: 7
        case .bf16: 32
        }
    }
}
