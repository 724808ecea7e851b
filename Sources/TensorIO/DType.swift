/// A safetensors element type, spelled as in the file header (the Rust `Dtype` enum).
///
/// Cases are declared in the Rust enum's order, which is increasing alignment; the reference writer
/// sorts tensors by descending position in this order, and so does ``SafetensorsWriter``.
public enum DType: String, CaseIterable, Sendable, Codable {
    case bool = "BOOL"
    case f4 = "F4"
    case f6E2M3 = "F6_E2M3"
    case f6E3M2 = "F6_E3M2"
    case u8 = "U8"
    case i8 = "I8"
    case f8E5M2 = "F8_E5M2"
    case f8E4M3 = "F8_E4M3"
    case f8E8M0 = "F8_E8M0"
    case f8E4M3FNUZ = "F8_E4M3FNUZ"
    case f8E5M2FNUZ = "F8_E5M2FNUZ"
    case i16 = "I16"
    case u16 = "U16"
    case f16 = "F16"
    case bf16 = "BF16"
    case i32 = "I32"
    case u32 = "U32"
    case f32 = "F32"
    case c64 = "C64"
    case f64 = "F64"
    case i64 = "I64"
    case u64 = "U64"

    /// Bits per element; 4 and 6 for the packed sub-byte types.
    public var bits: Int {
        switch self {
        case .f4: 4
        case .f6E2M3, .f6E3M2: 6
        case .bool, .u8, .i8, .f8E5M2, .f8E4M3, .f8E8M0, .f8E4M3FNUZ, .f8E5M2FNUZ: 8
        case .i16, .u16, .f16, .bf16: 16
        case .i32, .u32, .f32: 32
        case .c64, .f64, .i64, .u64: 64
        }
    }

    /// Position in the Rust enum, the writer's alignment rank (higher is written first).
    public var alignmentRank: Int { DType.allCases.firstIndex(of: self) ?? 0 }

    /// Bytes per element for whole-byte types; nil for the sub-byte ones.
    public var byteSize: Int? { bits % 8 == 0 ? bits / 8 : nil }

    /// True for the floating-point types whose values ``FloatConversion`` turns into `Float`.
    public var isConvertibleToFloat: Bool {
        switch self {
        case .f32, .f16, .bf16, .f8E4M3, .f64: true
        default: false
        }
    }
}
