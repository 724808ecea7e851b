internal import COpenBLAS

/// Single-precision matrix products through OpenBLAS's CBLAS interface.
public enum BLAS {
    /// C (m×n) = A (m×k) · Bᵀ where B is stored n×k, all row-major f32: the shape of `x · Wᵀ` for a
    /// batch of activations x (m tokens × k) and a PyTorch weight W (n out × k in).
    /// The corresponding C function is `cblas_sgemm`.
    ///
    /// - Precondition: buffer sizes match the dimensions.
    public static func matmulTransposedB(
        _ a: UnsafeBufferPointer<Float>, _ b: UnsafeBufferPointer<Float>,
        into c: UnsafeMutableBufferPointer<Float>, m: Int, n: Int, k: Int
    ) {
        precondition(m >= 0 && n >= 0 && k >= 0)
        precondition(a.count >= m * k && b.count >= n * k && c.count >= m * n, "sgemm buffers too small")
        guard m > 0, n > 0, let ap = a.baseAddress, let bp = b.baseAddress, let cp = c.baseAddress else { return }
        sgemm(ap, lda: k, bp, ldb: k, transposeB: true, cp, ldc: n, m: m, n: n, k: k)
    }

    /// C (m×n, row stride ldc) = A (m×k, stride lda) · op(B), op(B) = Bᵀ (B stored n×k) or B (stored k×n), row-major
    /// f32: the engine's one sgemm entry point (the attention's score and context products).
    static func sgemm(
        _ a: UnsafePointer<Float>, lda: Int, _ b: UnsafePointer<Float>, ldb: Int, transposeB: Bool, _ c: UnsafeMutablePointer<Float>,
        ldc: Int, m: Int, n: Int, k: Int
    ) {
        cblas_sgemm(
            CblasRowMajor, CblasNoTrans, transposeB ? CblasTrans : CblasNoTrans, blasint(m), blasint(n), blasint(k), 1, a, blasint(lda),
            b, blasint(ldb), 0, c, blasint(ldc))
    }

    /// ingot parallelises itself: OpenBLAS threads inside its workers would oversubscribe the cores.
    static func useOneThread() { openblas_set_num_threads(1) }
}
