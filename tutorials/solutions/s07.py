"""Solutions to tutorial 07's exercises."""

# 07.1: work-item i sums x[i*chunk : min((i+1)*chunk, n)] into out[i]. Four accumulators break
# the chain of dependent additions, so the CPU can keep several adds in flight.
CHUNK_SUMS = """
__kernel void chunk_sums(__global const float* x, __global float* out, const int n, const int chunk) {
    const int i = get_global_id(0);
    const int start = i * chunk;
    const int end = min(start + chunk, n);
    float a0 = 0.0f, a1 = 0.0f, a2 = 0.0f, a3 = 0.0f;
    int j = start;
    for (; j + 3 < end; j += 4) {
        a0 += x[j]; a1 += x[j + 1]; a2 += x[j + 2]; a3 += x[j + 3];
    }
    for (; j < end; j++) a0 += x[j];
    out[i] = (a0 + a1) + (a2 + a3);
}
"""


def bandwidth_gbps(n_elements: int, itemsize: int, seconds: float) -> float:
    """A reduction reads every element once: bytes read per second, in GB/s (10^9 bytes)."""
    return n_elements * itemsize / seconds / 1e9
