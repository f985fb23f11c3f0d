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
# # 07 · Reductions on a device: from a naive loop to a fast kernel
# <!-- needs: device -->
#
# An elementwise kernel is easy to parallelize: every output element is independent. A sum is
# not: every element feeds one result. This tutorial writes sum kernels by hand in OpenCL C,
# measures them in GB/s (a reduction reads each element once, so memory bandwidth is its speed
# limit), and compares them with numpy and with tinygradlike's own generated reduction.

# %%
import matplotlib.pyplot as plt
import numpy as np

import checks
from helpers import median_seconds as seconds, show_figure
from tinygradlike import Tensor, runtime

device = runtime.get_device()
print("device:", device.name)

# %% [markdown]
# ## Running a hand-written kernel
#
# `runtime.compile_kernel(source, name)` builds OpenCL C for the current device (cached in memory
# and on disk, like every generated kernel); calling the kernel enqueues it with a global size
# (how many work-items) and its arguments: `runtime.Buffer`s and numpy scalars. Launches return
# at once; `runtime.synchronize()` waits for the device.

# %%
N = 1 << 22                      # 4M floats: 16 MB
x_host = np.random.default_rng(0).random(N, dtype=np.float32)
x = runtime.Buffer.from_numpy(x_host)
expected = x_host.astype(np.float64).sum()

# %% [markdown]
# ## 1. Naive: one work-item does everything
#
# The simplest correct kernel: a single work-item loops over all N elements. It uses one core
# of a CPU (one thread of thousands on a GPU), and every addition waits for the one before.

# %%
NAIVE = """
__kernel void sum_naive(__global const float* x, __global float* out, const int n) {
    float total = 0.0f;
    for (int i = 0; i < n; i++) total += x[i];
    out[0] = total;
}
"""
naive = runtime.compile_kernel(NAIVE, "sum_naive")
out = runtime.Buffer(4)
t_naive = seconds(lambda: naive((1,), None, x, out, np.int32(N)), repeats=2)
assert np.isclose(out.to_numpy(np.float32, (1,))[0], expected, rtol=1e-3)

# %% [markdown]
# ## 2. Chunks: many work-items, then a small second pass
#
# Split the array into chunks; work-item i sums chunk i into `partial[i]`. Thousands of chunks
# keep every core busy. The partial sums (a few thousand numbers) are then summed again, here by
# a second launch of the same kernel with one chunk. Inside a chunk, four independent
# accumulators let the processor overlap additions instead of waiting for each one, and also
# make float rounding errors smaller (pairwise-style summation).

# %%
CHUNKS = """
__kernel void chunk_sums(__global const float* x, __global float* out, const int n, const int chunk) {
    const int i = get_global_id(0);
    const int start = i * chunk, end = min(start + chunk, n);
    float a0 = 0.0f, a1 = 0.0f, a2 = 0.0f, a3 = 0.0f;
    int j = start;
    for (; j + 3 < end; j += 4) { a0 += x[j]; a1 += x[j + 1]; a2 += x[j + 2]; a3 += x[j + 3]; }
    for (; j < end; j++) a0 += x[j];
    out[i] = (a0 + a1) + (a2 + a3);
}
"""
chunked = runtime.compile_kernel(CHUNKS, "chunk_sums")
CHUNK = 1024
groups = N // CHUNK
partial = runtime.Buffer(groups * 4)


def sum_chunked():
    chunked((groups,), None, x, partial, np.int32(N), np.int32(CHUNK))
    chunked((1,), None, partial, out, np.int32(groups), np.int32(groups))


t_chunked = seconds(sum_chunked)
assert np.isclose(out.to_numpy(np.float32, (1,))[0], expected, rtol=1e-5)

# %% [markdown]
# ## 3. tinygradlike's generated reduction, and numpy
#
# `Tensor.sum()` generates its reduction kernel from `kernels/reduce.cl`: the same ideas (many
# work-items, contiguous chunks, several accumulators, vector loads, a compensated sum across
# blocks) with the sizes baked in. The tensor is uploaded once; we time the sum and the
# read-back of one number.

# %%
xt = Tensor(x_host).realize()
t_ours = seconds(lambda: xt.sum().numpy())
assert np.isclose(xt.sum().numpy(), expected, rtol=1e-5)
t_numpy = seconds(lambda: x_host.sum())

rows = [("naive (one work-item)", t_naive), ("chunked, 4 accumulators", t_chunked),
        ("tinygradlike Tensor.sum", t_ours), ("numpy", t_numpy)]
for name, t in rows:
    print(f"{name:26s} {t * 1e3:8.2f} ms  {N * 4 / t / 1e9:6.2f} GB/s")
# parallel chunks beat one serial loop: by about the number of cores on a CPU (3.7x on a 2-core
# machine), by far more on a GPU. Claims are ratios measured in this run, never absolute times.
assert t_naive > 2 * t_chunked and t_naive > 2 * t_ours

# %% [markdown]
# ## GB/s against size
#
# Small arrays cannot reach full bandwidth: a launch and a read-back cost tens of microseconds
# whatever the size. The curve shows where the fixed cost stops mattering.

# %%
sizes = [1 << k for k in range(12, 23, 2)]
curve = []
for n in sizes:
    t = Tensor(x_host[:n]).realize()
    curve.append(n * 4 / seconds(lambda: t.sum().numpy(), repeats=3) / 1e9)
fig, ax = plt.subplots(figsize=(6, 3.5))
ax.semilogx(sizes, curve, "o-", base=2)
ax.set_xlabel("elements")
ax.set_ylabel("GB/s")
ax.set_title("Tensor.sum() on " + device.name[:40])
show_figure(fig, "07_sum_bandwidth")
plt.close(fig)
assert curve[-1] > curve[0]            # bigger arrays amortize the fixed cost

# %% [markdown]
# ## Exercises
#
# **07.1 `chunk_max`**: a max reduction's first pass, as a source string: work-item i writes the
# largest of `x[i*chunk : min((i+1)*chunk, n)]` to `out[i]`, with the signature
# `__kernel void chunk_max(__global const float* x, __global float* out, const int n, const int chunk)`.
# What must the running maximum start from? Mind the last chunk, which may be short.
#
# **07.2 `bandwidth_gbps(n_elements, itemsize, seconds)`**: the bandwidth of a reduction, in GB/s.
#
# Solutions: `tutorials/solutions/s07.py`.

# %%
CHUNK_MAX = None    # your kernel source, as a string


def bandwidth_gbps(n_elements, itemsize, seconds):
    raise NotImplementedError


print(checks.chunk_max(CHUNK_MAX))
print(checks.bandwidth_gbps(bandwidth_gbps))
