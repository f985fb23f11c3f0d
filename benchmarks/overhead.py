"""The host cost of eager code, against its baselines, in one run.

    python benchmarks/overhead.py              # the default device (TGL_DEVICE picks another)
    python benchmarks/overhead.py --quick      # fewer repeats (a smoke run)

Four figures, each a ratio to a baseline measured in the same run (these machines are noisy):

1. a tiny op, `(s * 2 + 1).numpy()` on 16 floats, against a hand-written pyopencl launch of a
   prebuilt kernel with the same read-back. Goal: at most 2x.
2. one training step of the digits MLP (batch 32, Adam), written as a plain PyTorch-style loop:
   forward, cross-entropy, zero_grad, backward, step, then read the loss and the logits. Ours
   without jit, ours under jit, and PyTorch eager on the CPU (all its threads). Goal: no-jit at
   most 2x PyTorch.
3. graph building: nodes created per second by an eager expression (`y = y * 1.5 + x`).
4. the cold start: the first training step with empty program caches (ours and PoCL's, in a
   fresh process) against one cold compile of a trivial kernel in the same state. Goal: at
   most 10x.

Times are medians of repeated runs after a warm-up (figures 1-3) or single runs in fresh
processes (figure 4, each the median of three).
"""
from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time

import numpy as np

TINY = 16
BATCH = 32
GOALS = {"tiny": 2.0, "step": 2.0, "cold": 10.0}


def median_time(fn, repeats: int, inner: int = 1) -> float:
    fn()
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        for _ in range(inner):
            fn()
        times.append((time.perf_counter() - start) / inner)
    return statistics.median(times)


# -- 1. the tiny op ------------------------------------------------------------------------

def tiny_op(repeats: int) -> tuple[float, float]:
    import pyopencl as cl

    from tinygradlike import Tensor, runtime

    s = Tensor(np.arange(TINY, dtype=np.float32)).realize()
    ours = median_time(lambda: (s * 2 + 1).numpy(), repeats, 200)

    device = runtime.get_device()
    program = cl.Program(device.ctx, """
        __kernel void tiny(__global float* out, __global const float* a) {
          const int i = get_global_id(0);
          out[i] = a[i] * 2.0f + 1.0f;
        }""").build()
    kernel = program.tiny
    src = cl.Buffer(device.ctx, cl.mem_flags.READ_ONLY | cl.mem_flags.COPY_HOST_PTR,
                    hostbuf=np.arange(TINY, dtype=np.float32))
    dst = cl.Buffer(device.ctx, cl.mem_flags.WRITE_ONLY, TINY * 4)

    def by_hand():
        host = np.empty(TINY, np.float32)  # a new array per call, as .numpy() returns
        kernel(device.queue, (TINY,), None, dst, src)
        cl.enqueue_copy(device.queue, host, dst)  # blocking: waits for the kernel
        return host

    assert np.array_equal(by_hand(), (s * 2 + 1).numpy())
    hand = median_time(by_hand, repeats, 200)
    return ours, hand


# -- 2. a training step ---------------------------------------------------------------------

def _batches(n_train: int, steps: int, seed: int = 0) -> list[np.ndarray]:
    rng = np.random.default_rng(seed)
    return [rng.integers(0, n_train, BATCH) for _ in range(steps)]


def ours_step(use_jit: bool, repeats: int, steps: int) -> float:
    from tinygradlike import datasets, jit, nn, optim, train
    from tinygradlike.tensor import Tensor

    data = datasets.load_digits()
    Tensor.manual_seed(0)
    model = train.build_model("mlp", data.image_shape, data.classes)
    opt = optim.Adam(model.parameters(), lr=0.001)
    x_all, y_all = data.x_train, data.y_train.astype(np.int32)

    def step(x: Tensor, y: Tensor):
        logits = model(x)
        loss = nn.cross_entropy(logits, y)
        opt.zero_grad()
        loss.backward()
        opt.step(loss, logits) if use_jit else opt.step()
        return loss, logits

    run = jit(step) if use_jit else step
    order = _batches(len(x_all), steps)

    def epoch():
        for idx in order:
            loss, logits = run(Tensor(x_all[idx]), Tensor(y_all[idx]))
            loss.item()
            logits.numpy()

    return median_time(epoch, repeats) / steps


def torch_step(repeats: int, steps: int) -> float:
    import torch

    from tinygradlike import datasets

    torch.set_num_threads(os.cpu_count() or 1)
    data = datasets.load_digits()
    features = int(np.prod(data.image_shape))
    model = torch.nn.Sequential(torch.nn.Flatten(), torch.nn.Linear(features, 128), torch.nn.ReLU(),
                                torch.nn.Linear(128, data.classes))
    opt = torch.optim.Adam(model.parameters(), lr=0.001)
    x_all, y_all = torch.from_numpy(data.x_train), torch.from_numpy(data.y_train).long()
    order = [torch.from_numpy(idx) for idx in _batches(len(x_all), steps)]

    def epoch():
        for idx in order:
            logits = model(x_all[idx])
            loss = torch.nn.functional.cross_entropy(logits, y_all[idx])
            opt.zero_grad()
            loss.backward()
            opt.step()
            loss.item()
            logits.detach().numpy()

    return median_time(epoch, repeats) / steps


# -- 3. graph building ----------------------------------------------------------------------

def nodes_per_second(repeats: int, ops: int = 2000) -> float:
    from tinygradlike import Tensor
    from tinygradlike.scheduler import toposort

    x = Tensor(np.ones((4, 8), np.float32)).realize()

    def build():
        y = x
        for _ in range(ops):
            y = y * 1.5 + x
        return y

    nodes = len(toposort([build().node]))
    return nodes / median_time(build, repeats)


# -- 4. the cold start -----------------------------------------------------------------------

COLD_CHILD = r"""
import json, sys, time
import numpy as np
what = sys.argv[1]
start = time.perf_counter()
from tinygradlike import runtime
if what == "compile":
    runtime.get_device()
    start = time.perf_counter()
    k = runtime.compile_kernel("__kernel void one(__global float* a) { a[get_global_id(0)] += 1.0f; }", "one")
    buf = runtime.Buffer.from_numpy(np.zeros(4, np.float32))
    k((4,), None, buf)
    buf.to_numpy(np.float32, (4,))
else:
    from tinygradlike import datasets, nn, optim, train
    from tinygradlike.tensor import Tensor
    data = datasets.load_digits()
    runtime.get_device()
    start = time.perf_counter()
    Tensor.manual_seed(0)
    model = train.build_model("mlp", data.image_shape, data.classes)
    opt = optim.Adam(model.parameters(), lr=0.001)
    x, y = Tensor(data.x_train[:32]), Tensor(data.y_train[:32].astype(np.int32))
    logits = model(x)
    loss = nn.cross_entropy(logits, y)
    opt.zero_grad(); loss.backward(); opt.step()
    loss.item(); logits.numpy()
s = runtime.stats()
print(json.dumps({"seconds": time.perf_counter() - start, "compiled": s["kernels_compiled"]}))
"""


def cold(what: str) -> dict:
    """One run in a fresh process with empty caches (ours and PoCL's)."""
    with tempfile.TemporaryDirectory() as ours, tempfile.TemporaryDirectory() as pocl:
        env = dict(os.environ, TGL_CACHE_DIR=ours, POCL_CACHE_DIR=pocl)
        out = subprocess.run([sys.executable, "-c", COLD_CHILD, what], env=env, check=True,
                             capture_output=True, text=True).stdout
    return json.loads(out.strip().splitlines()[-1])


def cold_start(runs: int) -> tuple[float, float, int]:
    one = statistics.median(cold("compile")["seconds"] for _ in range(runs))
    steps = [cold("step") for _ in range(runs)]
    return statistics.median(s["seconds"] for s in steps), one, steps[0]["compiled"]


def main(argv: list[str] | None = None) -> dict:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--quick", action="store_true", help="fewer repeats: a smoke run, not a measurement")
    p.add_argument("--skip-cold", action="store_true", help="leave out figure 4 (it compiles from nothing)")
    args = p.parse_args(argv)
    repeats, steps, cold_runs = (3, 20, 1) if args.quick else (7, 100, 3)

    from tinygradlike import runtime

    print(f"device: {runtime.get_device().name} ({runtime.get_device().index})")
    results = {}
    ours, hand = tiny_op(repeats)
    results["tiny"] = ours / hand
    print(f"1. tiny op (s * 2 + 1).numpy(), {TINY} floats: ours {ours * 1e6:.0f} us, hand-written pyopencl "
          f"{hand * 1e6:.0f} us: {ours / hand:.2f}x (goal <= {GOALS['tiny']:.0f}x)")

    plain, jitted, torch_ = ours_step(False, repeats, steps), ours_step(True, repeats, steps), torch_step(repeats, steps)
    results["step"] = plain / torch_
    print(f"2. digits MLP step (batch {BATCH}, Adam, loss and logits read): torch eager {torch_ * 1e3:.2f} ms; "
          f"ours without jit {plain * 1e3:.2f} ms ({plain / torch_:.2f}x, goal <= {GOALS['step']:.0f}x); "
          f"ours with jit {jitted * 1e3:.2f} ms ({jitted / torch_:.2f}x)")

    rate = nodes_per_second(repeats)
    results["nodes_per_second"] = rate
    print(f"3. graph building: {rate / 1e3:.0f}k nodes per second (y = y * 1.5 + x, eager)")

    if not args.skip_cold:
        first, one, compiled = cold_start(cold_runs)
        results["cold"] = first / one
        print(f"4. cold first step (empty caches): {first:.2f} s, {compiled} programs built; one cold compile of "
              f"a trivial kernel: {one:.2f} s: {first / one:.1f}x (goal <= {GOALS['cold']:.0f}x)")

    met = {k: results[k] <= goal for k, goal in GOALS.items() if k in results}
    print("goals: " + ", ".join(f"{k} {'PASS' if ok else 'FAIL'}" for k, ok in met.items()))
    return results


if __name__ == "__main__":
    main()
