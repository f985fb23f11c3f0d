"""Data parallelism on MPI (tinygradlike.distributed): real `mpiexec -n 2` jobs on this machine
(loopback), each a subprocess, against numpy sums of what every rank held and against one
process training on the same global batches. Skipped where pip's MPI (mpich, mpi4py) is not
installed beside this Python."""
import json
import os
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import numpy as np
import pytest

from tinygradlike import Tensor, distributed, dtypes, nn, optim, parallel

ROOT = Path(__file__).resolve().parent.parent
MPIEXEC = Path(sys.executable).parent / "mpiexec"  # where `pip install mpich` puts it
# the digits MLP, small and cheap: one epoch of 44 steps of 32 images
TINY_TRAIN = ["--epochs", "1", "--hidden", "16", "--optimizer", "sgd", "--batch-size", "32", "--quiet"]
FAULT_SECONDS = 30  # a failing rank must end the job well within this


def mpi_missing() -> str:
    if not MPIEXEC.exists():
        return f"no mpiexec beside {sys.executable} (pip install mpich mpi4py, or the [dev] extra)"
    try:
        import mpi4py  # noqa: F401
    except ImportError:
        return "mpi4py is not installed (pip install mpi4py, or the [dev] extra)"
    return ""


needs_mpi = pytest.mark.skipif(bool(mpi_missing()), reason=mpi_missing() or "MPI found")


def mpiexec(*args: str, processes: int = 2, timeout: float = 60) -> subprocess.CompletedProcess:
    """`mpiexec -n processes python ARGS` in the repository root."""
    return subprocess.run([str(MPIEXEC), "-n", str(processes), sys.executable, *args], capture_output=True,
                          text=True, timeout=timeout, cwd=ROOT, env=os.environ.copy())


def script(tmp_path: Path, source: str) -> str:
    path = tmp_path / "job.py"
    path.write_text(textwrap.dedent(source))
    return str(path)


# ------------------------------------------------------------------------------ one process

def test_a_process_not_started_by_mpiexec_is_a_world_of_one():
    assert distributed.world() == (0, 1)


def test_all_reduce_of_one_process_leaves_the_values_unchanged():
    g, p = Tensor([1.0, -2.0]) * 3, Tensor([[4, 5]], dtype=dtypes.int32)
    distributed.all_reduce([g], "mean")
    distributed.all_reduce([p], "sum")
    assert g.numpy().tolist() == [3.0, -6.0] and p.numpy().tolist() == [[4, 5]]


def test_the_mean_of_integer_tensors_is_refused():
    with pytest.raises(TypeError, match=r"op='mean' needs floating-point tensors, got int32\[2\]"):
        distributed.all_reduce([Tensor([1, 2])], "mean")


def test_an_unknown_reduction_is_refused():
    with pytest.raises(ValueError, match="must be one of"):
        distributed.all_reduce([Tensor([1.0])], "max")


def test_tensors_are_packed_into_few_buckets_of_one_dtype():
    arrays = [np.zeros(1000, np.float32)] * 50 + [np.zeros(3, np.int32), np.zeros(2, np.float16)]
    assert distributed.pack_buckets(arrays) == [[*range(50), 51], [50]]  # float16 travels as float32


def test_a_bucket_stops_at_its_byte_limit():
    arrays = [np.zeros(256, np.float32)] * 5  # 1 KiB each
    assert distributed.pack_buckets(arrays, limit=2048) == [[0, 1], [2, 3], [4]]


def test_a_shape_mismatch_names_the_rank_and_the_parameter():
    ranks = [[("0.weight", (16, 64), "float32")], [("0.weight", (8, 64), "float32")]]
    assert distributed.describe_mismatch(ranks) == (
        "rank 1 has parameter '0.weight' of shape (8, 64) float32 where rank 0 has (16, 64) float32")


# ------------------------------------------------------------------------------ all_reduce on 2 processes

ALL_REDUCE_JOB = """
    import json, sys
    import numpy as np
    from tinygradlike import Tensor, distributed, dtypes

    rank, size = distributed.world()
    rng = np.random.default_rng(100 + rank)
    inputs = {"f32": rng.standard_normal((2, 5)).astype(np.float32),
              "f64": rng.standard_normal((4, 3, 2)),
              "i32": rng.integers(-50, 50, 7).astype(np.int32),
              "i64": rng.integers(-2**40, 2**40, (2, 2)),
              "f16": rng.standard_normal(6).astype(np.float16),
              "scalar": np.array(rng.standard_normal(), np.float32),
              "big": rng.standard_normal((600, 500)).astype(np.float32)}  # 1.2 MB: alone, reduced where it lies
    np.savez(sys.argv[1] + f"/inputs{rank}.npz", **inputs)
    owned = {k: Tensor(v, dtype=dtypes.int64 if k == "i64" else None) for k, v in inputs.items()}  # own memory
    lazy = {k: Tensor(v) * 1 for k, v in inputs.items() if k in ("f32", "f64", "f16", "big")}  # no memory yet
    memory = {k: t.node.buffer for k, t in owned.items()}
    before = dict(distributed.counters)
    distributed.all_reduce(list(owned.values()), "sum")
    sum_messages = distributed.counters["messages"] - before["messages"]
    distributed.all_reduce(list(lazy.values()), "mean")
    many = [Tensor(np.full(100, rank + i, np.float32)) for i in range(40)]
    before = dict(distributed.counters)
    distributed.all_reduce(many, "mean")
    many_messages = distributed.counters["messages"] - before["messages"]
    np.savez(sys.argv[1] + f"/sums{rank}.npz", **{k: t.numpy() for k, t in owned.items()})
    np.savez(sys.argv[1] + f"/means{rank}.npz", **{k: t.numpy() for k, t in lazy.items()})
    np.save(sys.argv[1] + f"/many{rank}.npy", np.stack([t.numpy() for t in many]))
    if rank == 0:
        json.dump({"sum_messages": sum_messages, "many_messages": many_messages, "world": [rank, size],
                   "still_own_memory": all(t.node.buffer is memory[k] for k, t in owned.items())},
                  open(sys.argv[1] + "/counts.json", "w"))
"""


@pytest.fixture(scope="module")
def all_reduced(tmp_path_factory):
    """One 2-process job: each rank all-reduces tensors of several shapes and dtypes."""
    if mpi_missing():
        pytest.skip(mpi_missing())
    folder = tmp_path_factory.mktemp("all_reduce")
    out = mpiexec(script(folder, ALL_REDUCE_JOB), str(folder))
    assert out.returncode == 0, out.stderr
    inputs = [dict(np.load(folder / f"inputs{r}.npz")) for r in range(2)]
    return folder, inputs, json.loads((folder / "counts.json").read_text())


@needs_mpi
def test_mpiexec_gives_each_process_its_rank_and_the_world_size(all_reduced):
    _, _, counts = all_reduced
    assert counts["world"] == [0, 2]


@needs_mpi
@pytest.mark.parametrize("rank", [0, 1])
def test_all_reduce_sum_equals_numpy_on_every_rank(all_reduced, rank):
    folder, inputs, _ = all_reduced
    sums = np.load(folder / f"sums{rank}.npz")
    for name, first in inputs[0].items():
        expected = first.astype(np.float64) + inputs[1][name].astype(np.float64)
        assert sums[name].dtype == first.dtype and sums[name].shape == first.shape, name
        if name in ("i32", "i64"):
            np.testing.assert_array_equal(sums[name], expected.astype(first.dtype), err_msg=name)
        else:
            tolerance = 2e-3 if name == "f16" else 1e-6
            np.testing.assert_allclose(sums[name], expected, rtol=tolerance, atol=tolerance, err_msg=name)


@needs_mpi
def test_all_reduce_mean_equals_numpy_for_lazy_tensors(all_reduced):
    folder, inputs, _ = all_reduced
    for rank in (0, 1):
        means = np.load(folder / f"means{rank}.npz")
        for name in ("f32", "f64", "f16", "big"):
            expected = (inputs[0][name].astype(np.float64) + inputs[1][name].astype(np.float64)) / 2
            tolerance = 2e-3 if name == "f16" else 1e-6
            np.testing.assert_allclose(means[name], expected, rtol=tolerance, atol=tolerance, err_msg=name)


@needs_mpi
def test_all_reduce_writes_into_the_memory_a_tensor_owns(all_reduced):
    assert all_reduced[2]["still_own_memory"]


@needs_mpi
def test_all_reduce_sends_one_message_per_dtype_not_per_tensor(all_reduced):
    folder, _, counts = all_reduced
    # float32 (with float16, sent as float32), float64, int32, int64, and the large float32 alone
    assert counts["sum_messages"] == 5
    assert counts["many_messages"] == 1  # 40 float32 tensors, one bucket
    many = np.load(folder / "many0.npy")
    np.testing.assert_array_equal(many, np.arange(40, dtype=np.float32)[:, None].repeat(100, 1) + 0.5)


# ------------------------------------------------------------------------------ the training job

@pytest.fixture(scope="module")
def trained(tmp_path_factory):
    """The digits MLP trained for one epoch by one process and by `mpiexec -n 2` on the same
    global batches, with the weights each saved and what each printed."""
    if mpi_missing():
        pytest.skip(mpi_missing())
    folder = tmp_path_factory.mktemp("trained")
    one = subprocess.run([sys.executable, "-m", "tinygradlike", *TINY_TRAIN, "--save", str(folder / "one.npz")],
                         capture_output=True, text=True, timeout=120, cwd=ROOT)
    assert one.returncode == 0, one.stderr
    two = mpiexec("-m", "tinygradlike", *TINY_TRAIN, "--save", str(folder / "two.npz"), timeout=120)
    assert two.returncode == 0, two.stderr
    return np.load(folder / "one.npz"), np.load(folder / "two.npz"), two.stdout


@needs_mpi
def test_two_processes_train_the_weights_one_process_trains(trained):
    one, two, _ = trained
    assert sorted(one) == sorted(two)
    for name in one:
        np.testing.assert_allclose(two[name], one[name], rtol=1e-5, atol=1e-5, err_msg=name)


@needs_mpi
def test_rank_0_alone_prints_the_report_with_the_world_size(trained):
    printed = trained[2]
    assert printed.count("test accuracy") == 1, printed
    assert printed.count("weights saved to") == 1, printed
    assert "data parallel over 2 processes" in printed and "s communicating" in printed


@needs_mpi
def test_a_batch_that_does_not_split_evenly_is_refused():
    out = mpiexec("-m", "tinygradlike", "--epochs", "1", "--batch-size", "33", "--quiet")
    assert out.returncode != 0
    assert "--batch-size 33 is not a multiple of the 2 processes" in out.stderr


# ------------------------------------------------------------------------------ several devices in one process

TWO_DEVICES_ENV = {"POCL_DEVICES": "pthread pthread"}  # PoCL lists its CPU device twice: two devices
PROBE = """
import json, pyopencl as cl
from tests.opencl_drivers import build_failure
print(json.dumps([[f"{p}:{d}", p] for p, platform in enumerate(cl.get_platforms())
                  for d, device in enumerate(platform.get_devices()) if build_failure(device) is None]))
"""


@pytest.fixture(scope="module")
def two_devices():
    """Two device indices that build kernels, under TWO_DEVICES_ENV: two platforms where two
    work (the system and the pip PoCL, a GPU and a PoCL), else one PoCL's CPU listed twice."""
    env = {**os.environ, **TWO_DEVICES_ENV}
    out = subprocess.run([sys.executable, "-c", PROBE], capture_output=True, text=True, cwd=ROOT, env=env, timeout=60)
    assert out.returncode == 0, out.stderr
    working = json.loads(out.stdout)
    platforms = {}
    for index, platform in working:
        platforms.setdefault(platform, index)
    chosen = list(platforms.values())[:2] if len(platforms) >= 2 else [index for index, _ in working[:2]]
    if len(chosen) < 2:
        pytest.skip(f"fewer than two OpenCL devices here build kernels, even with POCL_DEVICES: {working}")
    return chosen, env


def run_job(args: list[str], env: dict, processes: int = 0) -> subprocess.CompletedProcess:
    launcher = [str(MPIEXEC), "-n", str(processes), sys.executable] if processes else [sys.executable]
    out = subprocess.run([*launcher, "-m", "tinygradlike", *args], capture_output=True, text=True, timeout=120,
                         cwd=ROOT, env=env)
    assert out.returncode == 0, out.stderr
    return out


@pytest.fixture(scope="module")
def trained_on_devices(two_devices, tmp_path_factory):
    """The digits MLP trained for one epoch on the first device alone and on both, split."""
    (first, second), env = two_devices
    folder = tmp_path_factory.mktemp("devices")
    run_job([*TINY_TRAIN, "--device", first, "--save", str(folder / "one.npz")], env)
    two = run_job([*TINY_TRAIN, "--devices", f"{first},{second}", "--save", str(folder / "two.npz")], env)
    return np.load(folder / "one.npz"), np.load(folder / "two.npz"), two.stdout


def test_two_devices_in_one_process_train_the_weights_one_device_trains(trained_on_devices):
    one, two, _ = trained_on_devices
    assert sorted(one) == sorted(two)
    for name in one:
        np.testing.assert_allclose(two[name], one[name], rtol=1e-5, atol=1e-5, err_msg=name)


def test_the_report_names_the_devices(trained_on_devices):
    assert "data parallel over 2 devices:" in trained_on_devices[2]


@needs_mpi
def test_two_processes_of_two_devices_train_the_weights_one_device_trains(two_devices, trained_on_devices, tmp_path):
    (first, second), env = two_devices
    out = run_job([*TINY_TRAIN, "--devices", f"{first},{second}", "--save", str(tmp_path / "four.npz")], env,
                  processes=2)
    assert "data parallel over 2 processes of 2 devices each" in out.stdout
    one, four = trained_on_devices[0], np.load(tmp_path / "four.npz")
    for name in one:
        np.testing.assert_allclose(four[name], one[name], rtol=1e-5, atol=1e-5, err_msg=name)


REPLICAS_JOB = """
    import json, sys
    import numpy as np
    from tinygradlike import Tensor, distributed, dtypes, runtime

    rng = np.random.default_rng(7)
    values = [{"f32": rng.standard_normal((3, 4)).astype(np.float32), "i32": rng.integers(-9, 9, 5).astype(np.int32),
               "f16": rng.standard_normal(3).astype(np.float16), "big": rng.standard_normal(300_000).astype(np.float32)}
              for _ in range(2)]
    replicas, devices = [], sys.argv[2].split(",")
    for device, arrays in zip(devices, values):
        with runtime.on_device(device):
            # memory of their own, and one lazy result (no memory yet)
            replicas.append([Tensor(arrays["f32"]) * 1, Tensor(arrays["i32"]), Tensor(arrays["f16"]), Tensor(arrays["big"])])
    distributed.all_reduce_replicas(replicas, "sum")
    out = {f"{d}_{name}": t.numpy() for d, group in enumerate(replicas) for name, t in zip(values[0], group)}
    np.savez(sys.argv[1] + "/out.npz", **out)
    np.savez(sys.argv[1] + "/in.npz", **{f"{d}_{k}": v for d, arrays in enumerate(values) for k, v in arrays.items()})
    where = [[t.node.buffer.device.index for t in group] for group in replicas]
    json.dump(where, open(sys.argv[1] + "/where.json", "w"))
"""


def test_all_reduce_replicas_sums_every_device_and_leaves_each_result_on_its_device(two_devices, tmp_path):
    devices, env = two_devices
    out = subprocess.run([sys.executable, script(tmp_path, REPLICAS_JOB), str(tmp_path), ",".join(devices)],
                         capture_output=True, text=True, cwd=ROOT, env=env, timeout=60)
    assert out.returncode == 0, out.stderr
    given, got = np.load(tmp_path / "in.npz"), np.load(tmp_path / "out.npz")
    for name in ("f32", "i32", "f16", "big"):
        expected = given[f"0_{name}"].astype(np.float64) + given[f"1_{name}"].astype(np.float64)
        for d in (0, 1):
            assert got[f"{d}_{name}"].dtype == given[f"0_{name}"].dtype
            np.testing.assert_allclose(got[f"{d}_{name}"], expected, rtol=2e-3 if name == "f16" else 1e-6,
                                       atol=1e-6, err_msg=f"{d}_{name}")
    assert json.loads((tmp_path / "where.json").read_text()) == [[devices[0]] * 4, [devices[1]] * 4]


OVERLAP_JOB = """
    import sys
    import numpy as np
    from tinygradlike import Tensor, nn, optim, parallel, runtime, train

    devices = [runtime.open_device(spec) for spec in sys.argv[2].split(",")]
    rng = np.random.default_rng(3)
    batches = [(rng.standard_normal((8, 5)).astype(np.float32), rng.integers(0, 3, 8).astype(np.int32))
               for _ in range(6)]

    class Project(nn.Module):  # w's gradient comes out of the jit as a view that is not contiguous
        def __init__(self):
            self.w = Tensor(np.random.default_rng(1).standard_normal((3, 16)).astype(np.float32) / 4,
                            requires_grad=True)

        def forward(self, x):
            return (x.reshape(2, -1, 16) @ self.w.T).reshape(-1, 3)

    def build():
        Tensor.manual_seed(0)
        runtime.set_device(devices[0])
        return nn.Sequential(nn.Linear(5, 16), nn.ReLU(), Project())

    results = {}
    for name in ("one", "overlap", "after", "no_jit"):
        model = build()
        if name == "one":
            step = train.make_train_step(model, optim.Adam(model.parameters(), lr=0.01))
            for x, y in batches:
                step(Tensor(x), Tensor(y))
        else:
            models = [model, parallel.replicate(model, devices[1])]
            step = parallel.DataParallel(models, [optim.Adam(m.parameters(), lr=0.01) for m in models], devices,
                                         overlap=name == "overlap", use_jit=name != "no_jit")
            for x, y in batches:
                step(x, y)
            results[name + "_replica"] = np.concatenate([p.numpy().ravel() for p in models[1].parameters()])
        results[name] = np.concatenate([p.numpy().ravel() for p in model.parameters()])
    np.savez(sys.argv[1] + "/weights.npz", **results)
"""


def test_all_reducing_during_the_backward_pass_gives_the_weights_all_reducing_after_it_gives(two_devices, tmp_path):
    devices, env = two_devices
    out = subprocess.run([sys.executable, script(tmp_path, OVERLAP_JOB), str(tmp_path), ",".join(devices)],
                         capture_output=True, text=True, cwd=ROOT, env=env, timeout=60)
    assert out.returncode == 0, out.stderr
    w = np.load(tmp_path / "weights.npz")
    np.testing.assert_array_equal(w["overlap"], w["after"])  # the same sums in the same order
    np.testing.assert_array_equal(w["overlap_replica"], w["overlap"])  # the replicas stay equal
    np.testing.assert_allclose(w["overlap"], w["one"], rtol=1e-5, atol=1e-6)  # one device, the whole batches
    # without jit: each device's step computes its own device's lazy loss, not the other's
    np.testing.assert_allclose(w["no_jit"], w["one"], rtol=1e-5, atol=1e-6)




TO_JOB = """
    import json, sys
    from tinygradlike import Tensor, runtime

    first, second = sys.argv[2].split(",")
    with runtime.on_device(first):
        a = Tensor([1.0, -2.0, 3.0], requires_grad=True)
        lazy = a * 2  # computed on its own device by .to
    b, c = a.to(second), lazy.to(second)
    try:
        a + b
        error = ""
    except ValueError as e:
        error = str(e)
    with runtime.on_device(second):
        total = (b + c).numpy()
    json.dump({"where": [b.node.buffer.device.index, c.node.buffer.device.index], "total": total.tolist(),
               "requires_grad": [b.requires_grad, c.requires_grad], "same": a.to(first) is a, "error": error},
              open(sys.argv[1] + "/to.json", "w"))
"""


def test_to_copies_a_tensor_onto_another_device_and_mixing_devices_says_so(two_devices, tmp_path):
    devices, env = two_devices
    out = subprocess.run([sys.executable, script(tmp_path, TO_JOB), str(tmp_path), ",".join(devices)],
                         capture_output=True, text=True, cwd=ROOT, env=env, timeout=60)
    assert out.returncode == 0, out.stderr
    got = json.loads((tmp_path / "to.json").read_text())
    assert got["where"] == [devices[1], devices[1]] and got["total"] == [3.0, -6.0, 9.0]
    assert got["requires_grad"] == [True, True] and got["same"]  # as torch: a * 2 requires grad too
    assert "operands are on different devices" in got["error"] and f"t.to('{devices[0]}')" in got["error"]


def test_replicas_of_different_tensors_are_refused():
    with pytest.raises(ValueError, match=r"replica 1 has tensors \[\(\(3,\), 'float32'\)\] where replica 0 has "
                                         r"\[\(\(2,\), 'float32'\)\]"):
        distributed.all_reduce_replicas([[Tensor([1.0, 2.0])], [Tensor([1.0, 2.0, 3.0])]])


def test_a_replica_holds_the_same_values_in_memory_of_its_own():
    layer = nn.Linear(3, 2)
    twin = parallel.replicate(layer, None)  # None: the default device
    for mine, theirs in zip(layer.parameters(), twin.parameters()):
        assert theirs.node.buffer is not mine.node.buffer and theirs.requires_grad
        np.testing.assert_array_equal(theirs.numpy(), mine.numpy())
    twin.weight.assign(twin.weight * 0)
    assert np.abs(layer.weight.numpy()).sum() > 0  # the original kept its values


def test_two_replicas_on_one_device_train_as_torch_does_on_the_whole_batches():
    import torch

    rng = np.random.default_rng(5)
    batches = [(rng.standard_normal((6, 4)).astype(np.float32), rng.integers(0, 3, 6).astype(np.int32))
               for _ in range(5)]
    model = nn.Linear(4, 3)
    reference = torch.nn.Linear(4, 3)
    with torch.no_grad():
        reference.weight.copy_(torch.from_numpy(model.weight.numpy()))
        reference.bias.copy_(torch.from_numpy(model.bias.numpy()))
    models = [model, parallel.replicate(model, None)]
    step = parallel.DataParallel(models, [optim.SGD(m.parameters(), lr=0.5, momentum=0.9) for m in models])
    torch_opt = torch.optim.SGD(reference.parameters(), lr=0.5, momentum=0.9)
    for x, y in batches:
        loss, logits = step(x, y)
        torch_logits = reference(torch.from_numpy(x))
        torch_loss = torch.nn.functional.cross_entropy(torch_logits, torch.from_numpy(y).long())
        torch_opt.zero_grad()
        torch_loss.backward()
        torch_opt.step()
        assert loss == pytest.approx(torch_loss.item(), rel=1e-5)
        np.testing.assert_allclose(logits, torch_logits.detach().numpy(), rtol=1e-5, atol=1e-6)
    for replica in models:
        np.testing.assert_allclose(replica.weight.numpy(), reference.weight.detach().numpy(), rtol=1e-5, atol=1e-6)
    with pytest.raises(ValueError, match="splits evenly over its 2 devices"):
        step(batches[0][0][:5], batches[0][1][:5])


def test_a_batch_that_does_not_split_over_the_devices_is_refused(two_devices):
    (first, second), env = two_devices
    out = subprocess.run([sys.executable, "-m", "tinygradlike", "--epochs", "1", "--batch-size", "33", "--devices",
                          f"{first},{second}", "--quiet"], capture_output=True, text=True, cwd=ROOT, env=env, timeout=60)
    assert out.returncode != 0
    assert "--batch-size 33 does not split evenly over 2 devices" in out.stderr


def test_device_lists_are_checked_when_parsed():
    from tinygradlike import train

    for bad, message in (("0:0,0:0", "named twice"), ("0:0,", "separated by commas")):
        out = subprocess.run([sys.executable, "-m", "tinygradlike", "--devices", bad], capture_output=True, text=True,
                             cwd=ROOT, timeout=60)
        assert out.returncode == 2 and message in out.stderr, out.stderr
    with pytest.raises(SystemExit):
        train.parse_args(["--device", "0:0", "--devices", "0:0,0:1"])


# ------------------------------------------------------------------------------ faults

@needs_mpi
def test_a_rank_that_raises_ends_the_job_quickly_with_its_error(tmp_path):
    job = script(tmp_path, """
        from tinygradlike import Tensor, distributed
        rank, size = distributed.world()
        if rank == 1:
            raise RuntimeError("rank 1 fails on purpose")
        distributed.all_reduce([Tensor([1.0])])  # rank 0 would wait here forever for rank 1
    """)
    start = time.perf_counter()
    out = mpiexec(job)
    took = time.perf_counter() - start
    assert out.returncode != 0
    assert "RuntimeError: rank 1 fails on purpose" in out.stderr
    assert took < FAULT_SECONDS


@needs_mpi
def test_a_rank_that_dies_ends_the_job_quickly(tmp_path):
    job = script(tmp_path, """
        import os, signal
        from tinygradlike import Tensor, distributed
        rank, size = distributed.world()
        if rank == 1:
            os.kill(os.getpid(), signal.SIGKILL)  # no traceback, no MPI Abort: the launcher must notice
        distributed.all_reduce([Tensor([1.0])])
    """)
    start = time.perf_counter()
    out = mpiexec(job)
    assert out.returncode != 0
    assert time.perf_counter() - start < FAULT_SECONDS


@needs_mpi
def test_ranks_that_build_different_models_stop_at_start_with_a_clear_error():
    # MPMD: rank 0 with 16 hidden units, rank 1 with 8
    common = ["-m", "tinygradlike", "--epochs", "1", "--quiet"]
    command = [str(MPIEXEC), "-n", "1", sys.executable, *common, "--hidden", "16",
               ":", "-n", "1", sys.executable, *common, "--hidden", "8"]
    start = time.perf_counter()
    out = subprocess.run(command, capture_output=True, text=True, timeout=60, cwd=ROOT)
    assert out.returncode != 0
    assert ("the processes built different models: rank 1 has parameter '1.weight' of shape (8, 64) float32 "
            "where rank 0 has (16, 64) float32") in out.stderr
    assert time.perf_counter() - start < FAULT_SECONDS
