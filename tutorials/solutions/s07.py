"""Solutions to tutorial 07's exercises."""

# 07.1: work-item i writes the max of x[i*chunk : min((i+1)*chunk, n)] to out[i]. The running
# maximum starts at -INFINITY, the identity of max (0 would be wrong for a chunk of negatives).
CHUNK_MAX = """
__kernel void chunk_max(__global const float* x, __global float* out, const int n, const int chunk) {
    const int i = get_global_id(0);
    const int end = min((i + 1) * chunk, n);
    float best = -INFINITY;
    for (int j = i * chunk; j < end; j++) best = fmax(best, x[j]);
    out[i] = best;
}
"""


def bandwidth_gbps(n_elements: int, itemsize: int, seconds: float) -> float:
    """A reduction reads every element once: bytes read per second, in GB/s (10^9 bytes)."""
    return n_elements * itemsize / seconds / 1e9
