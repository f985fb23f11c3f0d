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
# # 12 · Devices, profiling and the portable benchmarks
# <!-- needs: device -->
#
# The last step turns from how the engine works to how you find out what it is doing on *your*
# machine: which OpenCL devices there are, where a program spends its device time, what a slow
# kernel looks like, and how to make it faster. Then the benchmarks that compare devices fairly.

# %%
import numpy as np

import checks
from tinygradlike import Tensor, nn, optim, profile, reset_stats, runtime, stats

# %% [markdown]
# ## Devices
#
# Every OpenCL platform on the machine offers devices: PoCL (a CPU, from pip or from your
# distribution), NVIDIA, AMD, Intel. `describe_devices()` lists them; `TGL_DEVICE=P:D` (or a name
# substring such as `nvidia` or `debian`) picks one before the program starts, and
# `runtime.set_device` switches while it runs. A tensor lives on the device that made it; an
# expression mixing devices is refused when it is built, with both devices named.

# %%
print(runtime.describe_devices())
device = runtime.get_device()
print(f"running on {device.index}: {device.name} ({device.kind}), {device.compute_units} compute units, "
      f"float64 {'yes' if device.has_fp64 else 'no'}")
assert any(d["default"] for d in runtime.list_devices())

# %% [markdown]
# ## More than one device
#
# `runtime.on_device(d)` makes `d` the default inside a `with` block: tensors made there live on
# `d` and the kernels that compute from them run there. `t.to(d)` copies a tensor over, and
# `parallel.replicate(model, d)` a whole model. Data parallelism is then a step that splits each
# batch over the replicas, runs forward and backward on every device at once, sums the
# gradients and takes the same update everywhere: `parallel.DataParallel`. Below, two replicas
# share this one device, which shows the mechanics; `python -m tinygradlike --devices 0:0,1:0`
# trains the digits job on two real ones, and `mpiexec -n 2` adds processes (docs/scaling.md).

# %%
from tinygradlike import parallel

rng = np.random.default_rng(0)
x, y = rng.standard_normal((8, 4)).astype(np.float32), rng.integers(0, 3, 8).astype(np.int32)
model = nn.Linear(4, 3)
replicas = [model, parallel.replicate(model, runtime.get_device())]
step = parallel.DataParallel(replicas, [optim.SGD(m.parameters(), lr=0.5) for m in replicas])
for _ in range(5):
    loss, logits = step(x, y)  # each replica takes 4 of the 8 rows
print(f"loss after 5 steps {loss:.4f}")
assert np.array_equal(replicas[0].weight.numpy(), replicas[1].weight.numpy())  # the replicas stay equal

# %% [markdown]
# ## Where does the time go? `profile()`
#
# Inside `with profile() as report:` every kernel is timed on the device (its own start and end,
# so launch overhead is not counted), and `report` totals them per kernel and per line of your
# code, slowest first, with GFLOPS and GB/s and a total row. Each row names the ops fused into
# the kernel (`matmul+add+...`) and the line that made its result (`12_devices_and_profiling.py:58`);
# its last column is the kernel's own name, which says its kind and shape: `matmul_...` for a
# matmul (its M x N x K), `R_...` for a reduction, `E_...` for an elementwise kernel; `TGL_DEBUG=4`
# prints each kernel's source under that name. `report.save("trace.json")` writes the launches as
# a Chrome trace: open it in https://ui.perfetto.dev to see them on a time line.

# %%
Tensor.manual_seed(0)
model = nn.Sequential(nn.Linear(256, 512), nn.ReLU(), nn.Linear(512, 512), nn.ReLU(), nn.Linear(512, 10))
opt = optim.SGD(model.parameters(), lr=0.01)
x = Tensor(np.random.default_rng(0).normal(size=(128, 256)).astype(np.float32))
y = Tensor(np.random.default_rng(1).integers(0, 10, 128).astype(np.int32))


def train_step():
    loss = nn.cross_entropy(model(x), y)
    opt.zero_grad()
    loss.backward()
    opt.step(loss)
    return loss


train_step()                      # the first step compiles; profile the ones after
with profile() as report:
    for _ in range(3):
        train_step()
print(report)
slowest = report.rows[0]
print(f"slowest: {slowest[0]}, {slowest[2] / report.total_seconds:.0%} of the device time")
matmul_share = sum(row[2] for row in report.rows if row[0].startswith("matmul")) / report.total_seconds
print(f"all matmuls together: {matmul_share:.0%}")
assert matmul_share > 0.5                   # in an MLP, the matmuls are where the time goes

# %% [markdown]
# `TGL_DEBUG=2` prints one line per launch as it happens (name, global and local size, time,
# GFLOPS, GB/s), and `TGL_DEBUG=4` adds each kernel's source when it compiles. `stats()` counts
# what the engine did: kernels launched and compiled, schedules built and reused, bytes moved.

# %%
reset_stats()
train_step().item()
counts = stats()
print({k: counts[k] for k in ("kernels_launched", "kernels_compiled", "schedules_reused", "schedules_built")})
assert counts["kernels_compiled"] == 0 and counts["schedules_built"] == 0

# %% [markdown]
# ## Making a slow program faster
#
# A common slowdown has nothing to do with any one kernel: it is kernels that need not exist.
# Reading a value in the middle of an expression (`.numpy()`, `.item()`, `print`) or calling
# `.realize()` forces everything before it into memory, and what follows cannot fuse with it.
# Here is a normalization written that way, profiled, and then written lazily:

# %%
data = Tensor(np.random.default_rng(2).normal(size=(2048, 2048)).astype(np.float32))
mean, std = data.mean(axis=0), data.std(axis=0)
mean.realize(std)


def eager_style(x):
    centred = (x - mean).realize()          # each realize() stores a full 16 MB intermediate
    scaled = (centred / std).realize()
    return (scaled * 2 + 1).realize()


def lazy_style(x):
    return ((x - mean) / std * 2 + 1).realize()


for fn in (eager_style, lazy_style):
    fn(data)                                 # compile outside the profile
CALLS = 10
with profile() as eager_report:
    for _ in range(CALLS):
        eager_style(data)
with profile() as lazy_report:
    for _ in range(CALLS):
        lazy_style(data)
print(f"eager style: {sum(r[1] for r in eager_report.rows) // CALLS} kernels a call, "
      f"{eager_report.total_seconds / CALLS * 1e3:.2f} ms; lazy: {sum(r[1] for r in lazy_report.rows) // CALLS} kernel, "
      f"{lazy_report.total_seconds / CALLS * 1e3:.2f} ms")
assert sum(r[1] for r in lazy_report.rows) == CALLS and sum(r[1] for r in eager_report.rows) == 3 * CALLS
assert lazy_report.total_seconds < eager_report.total_seconds
assert np.allclose(eager_style(data).numpy(), lazy_style(data).numpy())

# %% [markdown]
# Each stored intermediate is written once and read once more, so the three kernels move about
# three times the memory of the one; on a memory-bound elementwise chain that is most of their
# device time (compare the two totals above on your device).
#
# ## The portable benchmarks
#
# Speeds differ across machines by more than the differences we care about, so every benchmark
# in `benchmarks/` reports **ratios against a baseline measured in the same run**:
#
# | script | measures | baseline |
# |---|---|---|
# | `benchmarks/scalar.py` | the scalar `Value` engine: build and backward | micrograd |
# | `benchmarks/tensor.py` | elementwise, reduction and matmul kernels | numpy, hand-written pyopencl |
# | `benchmarks/overhead.py` | the host cost of eager code: a tiny op, a training step with and without jit, the cold start | a hand-written launch, PyTorch eager |
# | `benchmarks/train.py` | an epoch of the digits job | the same model in PyTorch on the CPU |
# | `benchmarks/compile_scaling.py` | cold compile time of a long backward | a 10x shorter one |
# | `benchmarks/scale.py` | data-parallel training on 2 processes (or 2 devices) | 1 process |
#
# Run them with `TGL_DEVICE` set to compare devices: `TGL_DEVICE=nvidia python
# benchmarks/tensor.py`. Every figure quoted in this project's notes came from these scripts.
#
# ## Exercises
#
# **12.1 `share_of_time(report, prefix)`**: the fraction of a profile's device time spent in
# kernels whose names start with `prefix` (`report.rows` are (name, launches, seconds, GFLOPS,
# GB/s)).
#
# **12.2 `fused_scale_shift(x, mean, std)`**: `(x - mean) / std * 2 + 1` so that it runs as one
# kernel when its result is read.
#
# Solutions: `tutorials/solutions/s12.py`.

# %%
def share_of_time(report, prefix):
    raise NotImplementedError


def fused_scale_shift(x, mean, std):
    raise NotImplementedError


print(checks.share_of_time(share_of_time))
print(checks.fused_scale_shift(fused_scale_shift))
