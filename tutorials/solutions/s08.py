"""Solutions to tutorial 08's exercises."""

# 08.1: C[i, j] = sum_k A[i, k] * B[j, k]: with B stored N x K, both loads walk k
# contiguously (row i of A, row j of B), which is why linear layers keep weights this way.
MATMUL_BT = """
__kernel void matmul_bt(__global const float* A, __global const float* B, __global float* C,
                        const int M, const int N, const int K) {
    const int i = get_global_id(0), j = get_global_id(1);
    float acc = 0.0f;
    for (int k = 0; k < K; k++) acc += A[i * K + k] * B[j * K + k];
    C[i * N + j] = acc;
}
"""


def matmul_gflops(m: int, k: int, n: int, seconds: float) -> float:
    """An (m x k) @ (k x n) product does m*n dot products of length k: one multiply and one add
    each, 2*m*k*n floating-point operations."""
    return 2 * m * k * n / seconds / 1e9
