"""Tensor kernels against numpy and hand-written pyopencl, as ratios taken in one run.

    python benchmarks/tensor.py            # the default device (TGL_DEVICE picks another)

Reports: matmul float32 GFLOPS at 1024 and 2048 against numpy; an 8-op elementwise chain
on 16M floats against numpy and against one hand-written pyopencl kernel of the same
expression; a sum of 16M floats against numpy and pyopencl.array.sum. Every timing is the
best of several runs after a warm-up (compiles excluded), with the device synchronized, and
our times include building the graph, scheduling and rendering: what a user waits for.
Targets (CPU OpenCL device): matmul >= 40% of numpy at 1024, >= 30% at 2048; the chain
>= 80% of the hand-written kernel and faster than numpy; the sum at least as fast as
pyopencl.array.sum.
"""
from __future__ import annotations

import argparse
import time

import numpy as np
import pyopencl as cl
import pyopencl.array as cla

from tinygradlike import Tensor, runtime

N_ELEMENTWISE = 16 * 1024 * 1024


def best_time(fn, repeats: int) -> float:
    fn()  # warm-up: compiles, first launch, buffer pool
    best = float("inf")
    for _ in range(repeats):
        start = time.perf_counter()
        fn()
        best = min(best, time.perf_counter() - start)
    return best


def ours(build):
    def run():
        build().realize()
        runtime.synchronize()
    return run


def verdict(ok: bool) -> str:
    return "PASS" if ok else "FAIL"


def bench_matmul(size: int, repeats: int, target: float) -> bool:
    rng = np.random.default_rng(0)
    a_np, b_np = (rng.standard_normal((size, size)).astype(np.float32) for _ in range(2))
    a, b = Tensor(a_np), Tensor(b_np)
    flops = 2 * size**3
    t_ours = best_time(ours(lambda: a @ b), repeats)
    t_np = best_time(lambda: a_np @ b_np, repeats)
    ratio = t_np / t_ours
    print(f"matmul {size}x{size}x{size} float32: ours {flops / t_ours / 1e9:7.1f} GFLOPS, "
          f"numpy {flops / t_np / 1e9:7.1f} GFLOPS -> {ratio:6.1%} of numpy "
          f"(target >= {target:.0%}) {verdict(ratio >= target)}")
    return ratio >= target


CHAIN_C = "(((a[i]*b[i] + c[i])*d[i] - a[i] > 0 ? (a[i]*b[i] + c[i])*d[i] - a[i] : 0) * b[i] + c[i]) * 0.5f"


def chain(a, b, c, d):
    """8 elementwise ops: mul, add, mul, sub, max, mul, add, mul (numpy arrays or Tensors)."""
    t = (a * b + c) * d - a
    t = np.maximum(t, np.float32(0)) if isinstance(t, np.ndarray) else t.maximum(0)
    return (t * b + c) * 0.5


def bench_chain(repeats: int) -> bool:
    rng = np.random.default_rng(1)
    host = [rng.standard_normal(N_ELEMENTWISE).astype(np.float32) for _ in range(4)]
    tensors = [Tensor(x) for x in host]
    t_ours = best_time(ours(lambda: chain(*tensors)), repeats)
    t_np = best_time(lambda: chain(*host), repeats)

    device = runtime.get_device()
    source = f"""__kernel void chain(__global float* restrict out, __global const float* restrict a,
        __global const float* restrict b, __global const float* restrict c, __global const float* restrict d) {{
      const int i = get_global_id(0);
      out[i] = {CHAIN_C};
    }}"""
    program = cl.Program(device.ctx, source).build()
    kernel = program.chain
    mf = cl.mem_flags
    bufs = [cl.Buffer(device.ctx, mf.READ_ONLY | mf.COPY_HOST_PTR, hostbuf=x) for x in host]
    out = cl.Buffer(device.ctx, mf.WRITE_ONLY, host[0].nbytes)

    def hand_written():
        kernel(device.queue, (N_ELEMENTWISE,), None, out, *bufs)
        device.queue.finish()

    t_hand = best_time(hand_written, repeats)
    check = np.empty_like(host[0])
    cl.enqueue_copy(device.queue, check, out)
    np.testing.assert_allclose(chain(*tensors).numpy(), check, rtol=1e-6, atol=1e-6)
    vs_hand, vs_np = t_hand / t_ours, t_np / t_ours
    print(f"8-op chain on 16M floats: ours {t_ours * 1e3:7.2f} ms, hand-written pyopencl {t_hand * 1e3:7.2f} ms, "
          f"numpy {t_np * 1e3:7.2f} ms -> {vs_hand:6.1%} of hand-written (target >= 80%) "
          f"{verdict(vs_hand >= 0.8)}, {vs_np:5.2f}x numpy's speed (target > 1) {verdict(vs_np > 1)}")
    return vs_hand >= 0.8 and vs_np > 1


def bench_sum(repeats: int) -> bool:
    x_np = np.random.default_rng(2).random(N_ELEMENTWISE, dtype=np.float32)
    x = Tensor(x_np)
    t_ours = best_time(ours(lambda: x.sum()), repeats)
    t_np = best_time(lambda: x_np.sum(), repeats)
    device = runtime.get_device()
    x_cl = cla.to_device(device.queue, x_np)
    t_cla = best_time(lambda: cla.sum(x_cl, queue=device.queue).get(), repeats)
    ref = x_np.astype(np.float64).sum()
    assert abs(x.sum().item() - ref) <= 1e-5 * ref
    vs_cla, vs_np = t_cla / t_ours, t_np / t_ours
    print(f"sum of 16M floats: ours {t_ours * 1e3:7.2f} ms, pyopencl.array.sum {t_cla * 1e3:7.2f} ms, "
          f"numpy {t_np * 1e3:7.2f} ms -> {vs_cla:5.2f}x pyopencl's speed (target >= 1) {verdict(vs_cla >= 1)}, "
          f"{vs_np:5.2f}x numpy's")
    return vs_cla >= 1


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--quick", action="store_true", help="skip the 2048 matmul")
    args = parser.parse_args()
    device = runtime.get_device()
    print(f"device: {device.name} | {device.platform_name} {device.platform_version} | {device.kind}")
    results = [bench_matmul(1024, args.repeats, 0.40)]
    if not args.quick:
        results.append(bench_matmul(2048, max(2, args.repeats // 2), 0.30))
    results.append(bench_chain(args.repeats))
    results.append(bench_sum(args.repeats))
    print(f"targets met: {sum(results)}/{len(results)}")


if __name__ == "__main__":
    main()
