# ---
# jupyter:
#   jupytext:
#     formats: py:percent
#   kernelspec:
#     display_name: Python 3
#     language: python
#     name: python3
# ---

# %% [markdown]
# # 08 · Matmul: from the naive kernel to a blocked one
# <!-- needs: device -->
#
# Matrix multiplication is where a deep-learning engine spends its time, and the kernel where
# how you touch memory matters most. An (M x K) @ (K x N) product does 2·M·K·N floating-point
# operations on only (M·K + K·N) inputs: each input is reused M or N times, so the question is
# how many of those reuses come from registers instead of memory. We write the naive kernel,
# then a register-blocked one, and measure both in GFLOPS against numpy (which calls an
# optimized BLAS) and tinygradlike's own generated matmul.

# %%
import matplotlib.pyplot as plt
import numpy as np

import checks
from helpers import median_seconds as seconds, show_figure
from tinygradlike import Tensor, runtime

# %% [markdown]
# ## 1. Naive: one work-item per output element
#
# Work-item (i, j) walks row i of A and column j of B. Every multiply-add loads two numbers
# from memory: 2·K loads per output. Column j of B is strided by N floats, so neighbouring k
# touch different cache lines.

# %%
NAIVE = """
__kernel void matmul_naive(__global const float* A, __global const float* B, __global float* C,
                           const int M, const int N, const int K) {
    const int i = get_global_id(0), j = get_global_id(1);
    float acc = 0.0f;
    for (int k = 0; k < K; k++) acc += A[i * K + k] * B[k * N + j];
    C[i * N + j] = acc;
}
"""
naive = runtime.compile_kernel(NAIVE, "matmul_naive")

# %% [markdown]
# ## 2. Blocked: each work-item a 4 x 4 block of C
#
# Now each work-item computes 16 outputs. For each k it loads 4 numbers of A (a column of its
# rows) and one `float4` of B (4 neighbouring columns, one vector load), and does 16
# multiply-adds on them: 16 operations per 8 loads instead of 1 per 2. The 16 running sums live
# in registers (four `float4`s). Real kernels go further (bigger blocks, K-blocking, packing
# panels into local memory); tinygradlike's `kernels/matmul.cl` does, per device type.

# %%
BLOCKED = """
__kernel void matmul_blocked(__global const float* A, __global const float* B, __global float* C,
                             const int M, const int N, const int K) {
    const int r = get_global_id(0) * 4, c = get_global_id(1) * 4;   // the block's first row, column
    float4 acc0 = 0.0f, acc1 = 0.0f, acc2 = 0.0f, acc3 = 0.0f;
    for (int k = 0; k < K; k++) {
        const float4 b = vload4(0, B + k * N + c);
        acc0 += A[(r + 0) * K + k] * b;
        acc1 += A[(r + 1) * K + k] * b;
        acc2 += A[(r + 2) * K + k] * b;
        acc3 += A[(r + 3) * K + k] * b;
    }
    vstore4(acc0, 0, C + (r + 0) * N + c);
    vstore4(acc1, 0, C + (r + 1) * N + c);
    vstore4(acc2, 0, C + (r + 2) * N + c);
    vstore4(acc3, 0, C + (r + 3) * N + c);
}
"""
blocked = runtime.compile_kernel(BLOCKED, "matmul_blocked")

# %% [markdown]
# ## Same answers first, then speed

# %%
rng = np.random.default_rng(0)
results = {"naive": [], "blocked 4x4": [], "tinygradlike a @ b": [], "numpy": []}
sizes = [64, 128, 256, 512]
for n in sizes:
    a = rng.normal(size=(n, n)).astype(np.float32)
    b = rng.normal(size=(n, n)).astype(np.float32)
    A, B, C = runtime.Buffer.from_numpy(a), runtime.Buffer.from_numpy(b), runtime.Buffer(n * n * 4)
    size = (np.int32(n), np.int32(n), np.int32(n))
    naive((n, n), None, A, B, C, *size)
    assert np.allclose(C.to_numpy(np.float32, (n, n)), a @ b, rtol=1e-3, atol=1e-3)
    blocked((n // 4, n // 4), None, A, B, C, *size)
    assert np.allclose(C.to_numpy(np.float32, (n, n)), a @ b, rtol=1e-3, atol=1e-3)
    at, bt = Tensor(a).realize(), Tensor(b).realize()
    flops = 2 * n ** 3
    results["naive"].append(flops / seconds(lambda: naive((n, n), None, A, B, C, *size)) / 1e9)
    results["blocked 4x4"].append(flops / seconds(lambda: blocked((n // 4, n // 4), None, A, B, C, *size)) / 1e9)
    results["tinygradlike a @ b"].append(flops / seconds(lambda: (at @ bt).realize()) / 1e9)
    results["numpy"].append(flops / seconds(lambda: a @ b) / 1e9)

print("GFLOPS at", sizes)
for name, gflops in results.items():
    print(f"  {name:20s}", "  ".join(f"{g:7.1f}" for g in gflops))
assert results["blocked 4x4"][-1] > 1.5 * results["naive"][-1]        # ratios measured in this run
assert results["tinygradlike a @ b"][-1] > 2 * results["naive"][-1]

fig, ax = plt.subplots(figsize=(6, 3.5))
for name, gflops in results.items():
    ax.plot(sizes, gflops, "o-", label=name)
ax.set_xlabel("n (n x n @ n x n)")
ax.set_ylabel("GFLOPS")
ax.legend()
show_figure(fig, "08_matmul_gflops")
plt.close(fig)

# %% [markdown]
# On a CPU, numpy's BLAS is far ahead: it blocks for every cache level and uses hand-tuned
# vector code. A generated OpenCL kernel closes part of that gap; `benchmarks/tensor.py`
# measures how much, per device, against numpy and hand-written pyopencl.
#
# ## Exercises
#
# **08.1 `matmul_bt`**: a naive kernel for C = A @ Bᵀ, where B is stored as an N x K row-major
# array (the layout of a linear layer's weight), as a source string with the signature
# `__kernel void matmul_bt(__global const float* A, __global const float* B, __global float* C,
# const int M, const int N, const int K)`, run with the global size (M, N). Which of the two loads
# is now contiguous in k? The checker tries non-square shapes.
#
# **08.2 `matmul_gflops(m, k, n, seconds)`**: the GFLOPS of an (m x k) @ (k x n) product that took
# `seconds`.
#
# Solutions: `tutorials/solutions/s08.py`.

# %%
MATMUL_BT = None    # your kernel source, as a string


def matmul_gflops(m, k, n, seconds):
    raise NotImplementedError


print(checks.matmul_bt(MATMUL_BT))
print(checks.matmul_gflops(matmul_gflops))
