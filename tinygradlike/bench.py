"""`python -m tinygradlike bench`: portable benchmarks, ours against numpy and PyTorch, in one run.

    python -m tinygradlike bench                   # the default device (TGL_DEVICE or --device picks another)
    python -m tinygradlike bench --all-devices     # every OpenCL device found
    python -m tinygradlike bench --quick           # small sizes, few repetitions (a smoke run)

The work, each figure a throughput (higher is better) at sizes N (--sizes):

  elementwise   a + b over N*N float32        GB/s     (3 * 4 * N*N bytes: two reads, one write)
  sum           a.sum() over N*N float32      GB/s     (4 * N*N bytes read)
  matmul        (N x N) @ (N x N) float32     GFLOPS   (2 * N^3 flops)
  train step    the digits MLP, batch 32      steps/s  (Adam; ours under jit, PyTorch eager)

A figure is the median of --repeats timed samples after a warm-up (which pays for compiles);
a sample repeats a fast call until it lasts a few ms, above the clock's noise. Our calls
include building the graph and scheduling it: what a user waits for. Every result of ours is
checked against numpy once before it is timed: a fast wrong answer is a failure, not a figure.

The peers run on the host in the same run: numpy always, PyTorch on the CPU and tinygrad when
they are importable. Machines differ, so the ratio ours/peer is the figure that travels between
them (GUIDE.md: speed targets are ratios taken in the same run).

Each device is measured in a child process, so a device whose driver cannot build kernels, gives
wrong results or even crashes becomes a row that says why, and the run goes on. The results go
to --out (default bench-results/): bench.md (the table), bench.json (the same rows with the
machine: CPU, OpenCL devices and drivers, versions, date) and bench.png (the figures against N).
"""
from __future__ import annotations

import argparse
import datetime
import json
import os
import platform
import statistics
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Callable, Iterator

import numpy as np

DEFAULT_SIZES = (128, 256, 512, 1024)
QUICK_SIZES = (64, 128, 256)
TRAIN_BATCH = 32
SAMPLE_SECONDS = 0.005  # a timed sample lasts at least this long: the clock's noise is microseconds
DEVICE_TIMEOUT = 900    # seconds for one device's measurements before its child process is stopped


@dataclass(frozen=True)
class Work:
    """One benchmark: its unit, and how many units one call does at size N."""

    unit: str
    amount: Callable[[int], float]
    what: str


WORKS = {
    "elementwise": Work("GB/s", lambda n: 3 * 4 * n * n / 1e9, "a + b over N*N float32"),
    "sum": Work("GB/s", lambda n: 4 * n * n / 1e9, "a.sum() over N*N float32"),
    "matmul": Work("GFLOPS", lambda n: 2 * n**3 / 1e9, "(N x N) @ (N x N) float32"),
    "train step": Work("steps/s", lambda n: 1.0, f"digits MLP 64-128-10, batch {TRAIN_BATCH}, Adam"),
}


def add_bench_arguments(p: argparse.ArgumentParser) -> None:
    """Add the bench options to `p` (the CLI's `bench` subcommand, or a parser of its own)."""
    p.add_argument("--device", default=None, help="OpenCL device, as TGL_DEVICE: 'P:D' or a name substring "
                                                  "(default: TGL_DEVICE, else the preferred device)")
    p.add_argument("--all-devices", action="store_true", help="every OpenCL device found, one after another")
    p.add_argument("--sizes", type=sizes_list, default=None,
                   help=f"comma-separated N (default {','.join(map(str, DEFAULT_SIZES))}; "
                        f"--quick: {','.join(map(str, QUICK_SIZES))})")
    p.add_argument("--quick", action="store_true", help="small sizes and 3 repetitions: a smoke run")
    p.add_argument("--repeats", type=int, default=None, help="timed samples per figure (default 7; --quick: 3)")
    p.add_argument("--out", default="bench-results", help="folder for bench.md, bench.json, bench.png")
    # the child process that measures one device (run_bench starts it; not for users)
    p.add_argument("--measure-device", default=None, help=argparse.SUPPRESS)


def sizes_list(text: str) -> tuple[int, ...]:
    """argparse type: "64,128" -> (64, 128), every size >= 1."""
    try:
        sizes = tuple(int(part) for part in text.split(",") if part.strip())
    except ValueError:
        sizes = ()
    if not sizes or min(sizes) < 1:
        raise argparse.ArgumentTypeError(f"expected comma-separated sizes >= 1 such as 128,256, got {text!r}")
    return sizes


def run_bench(args: argparse.Namespace) -> dict:
    """Measure, write bench.md / bench.json / bench.png into args.out, print the table; returns
    the results as written to bench.json. (With --measure-device: one device's rows, a JSON
    line each on stdout as they are measured, for the parent process.)"""
    sizes = args.sizes or (QUICK_SIZES if args.quick else DEFAULT_SIZES)
    repeats = args.repeats or (3 if args.quick else 7)
    if args.measure_device is not None:
        for row in measure_device(args.measure_device, sizes, repeats):
            print(json.dumps(row), flush=True)  # a crash later keeps the rows before it
        return {}
    targets = chosen_devices(args.device, args.all_devices)
    machine = describe_machine(targets)  # before measuring: the load average is the others' work
    rows = []
    for info in targets:
        print(f"measuring {device_label(info)} ...", file=sys.stderr, flush=True)
        rows += [{"device": device_label(info), "device_index": info["index"], **row}
                 for row in measure_in_child(info["index"], sizes, repeats)]
    print("measuring the peers on the host ...", file=sys.stderr, flush=True)
    measured = list(dict.fromkeys((row["work"], row["size"]) for row in rows if row["error"] is None))
    peers, notes = measure_peers(measured, repeats)  # only what one of ours can be compared with
    notes += busy_machine_notes(machine)
    results = {"machine": machine, "sizes": list(sizes), "repeats": repeats,
               "rows": [with_peers(row, peers) for row in rows], "notes": notes}
    written = write_results(results, Path(args.out))
    print(render_markdown(results))
    print("wrote " + ", ".join(str(path) for path in written))
    return results


# ------------------------------------------------------------------------------ devices

def chosen_devices(spec: str | None, all_devices: bool) -> list[dict]:
    """The device descriptions to measure: all of them, or the one `spec` (else TGL_DEVICE,
    else the preference) selects. Exits with the runtime's message when there is none."""
    from tinygradlike.devices import choose_device, enumerate_devices

    infos = [info for info, _ in enumerate_devices()]
    try:
        index = choose_device(infos, spec if spec is not None else os.environ.get("TGL_DEVICE"))
    except (RuntimeError, ValueError) as e:
        if not (all_devices and infos):
            sys.exit(f"bench: {e}")
        index = None
    return infos if all_devices else [info for info in infos if info["index"] == index]


def device_label(info: dict) -> str:
    return f"{info['index']} {info['name']} ({info['platform_version'].split('  ')[0]})"


def measure_in_child(index: str, sizes: tuple[int, ...], repeats: int) -> list[dict]:
    """Our rows for one device, measured by `python -m tinygradlike bench --measure-device` in a
    child process: a driver that crashes or hangs takes only its child down, and becomes a row."""
    command = [sys.executable, "-m", "tinygradlike", "bench", "--measure-device", index,
               "--sizes", ",".join(map(str, sizes)), "--repeats", str(repeats)]
    try:
        done = subprocess.run(command, capture_output=True, text=True, timeout=DEVICE_TIMEOUT,
                              env={**os.environ, "TGL_DEVICE": index})
    except subprocess.TimeoutExpired:
        return [failure_row(None, None, f"no result in {DEVICE_TIMEOUT} s: the measuring process was stopped")]
    rows = [json.loads(line) for line in done.stdout.splitlines() if line.startswith("{")]
    if done.returncode == 0 and rows:
        return rows
    how = f"killed by signal {-done.returncode}" if done.returncode < 0 else f"exit code {done.returncode}"
    last = (done.stderr.strip().splitlines() or ["no message"])[-1]
    return rows + [failure_row(None, None, f"the measuring process died ({how}): {last}")]


def failure_row(work: str | None, size: int | None, error: str) -> dict:
    return {"work": work, "size": size, "ours": None, "unit": WORKS[work].unit if work else None, "error": error}


def measure_device(index: str, sizes: tuple[int, ...], repeats: int) -> Iterator[dict]:
    """Our figure for every work and size on one device (in this process), a row at a time. The
    first failure ends the device's rows with one that says why: a driver that fails one kernel
    fails most."""
    from tinygradlike import runtime

    work, size = None, None
    try:
        runtime.set_device(index)
        for work, size in work_items(sizes):
            call = our_call(work, size)
            yield {"work": work, "size": size, "ours": figure(work, size, call, repeats),
                   "unit": WORKS[work].unit, "error": None}
    except Exception as e:  # noqa: BLE001 - any failure of the device is the row's message
        yield failure_row(work, size, explain(e))


def work_items(sizes: tuple[int, ...]) -> list[tuple[str, int]]:
    return [(work, n) for work in ("elementwise", "sum", "matmul") for n in sizes] + [("train step", TRAIN_BATCH)]


def explain(e: Exception) -> str:
    """One line: an OpenCL build failure by its hint or its compiler log, else the first line."""
    hint, log = getattr(e, "hint", None), getattr(e, "log", "")
    if hint:
        return hint
    first = str(e).strip().splitlines()[0] if str(e).strip() else ""
    errors = [line.strip() for line in log.splitlines() if "error" in line.lower()]
    return f"{type(e).__name__}: {first}" + (f" ({errors[0]})" if errors else "")


# ------------------------------------------------------------------------------ timing

def median_seconds(call: Callable[[], object], repeats: int, warmups: int = 1) -> float:
    """Seconds per call: the median of `repeats` samples after `warmups` untimed calls (compiles,
    first launches, jit recording). A sample repeats the call until it lasts SAMPLE_SECONDS."""
    for _ in range(warmups):
        call()
    start = time.perf_counter()
    call()
    inner = max(1, min(10_000, round(SAMPLE_SECONDS / max(time.perf_counter() - start, 1e-9))))
    samples = []
    for _ in range(repeats):
        start = time.perf_counter()
        for _ in range(inner):
            call()
        samples.append((time.perf_counter() - start) / inner)
    return statistics.median(samples)


def figure(work: str, size: int, call: Callable[[], object], repeats: int) -> float:
    """The throughput of `call` in the work's unit (the train step warms up past jit's recording)."""
    warmups = 3 if work == "train step" else 1
    return WORKS[work].amount(size) / median_seconds(call, repeats, warmups)


def host_inputs(work: str, n: int) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(n)
    shape = (n, n) if work == "matmul" else (n * n,)
    return rng.standard_normal(shape, dtype=np.float32), rng.standard_normal(shape, dtype=np.float32)


def reference(work: str, a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """The exact answer in float64, what every result is checked against."""
    a, b = a.astype(np.float64), b.astype(np.float64)
    return {"elementwise": lambda: a + b, "sum": lambda: np.array(a.sum()), "matmul": lambda: a @ b}[work]()


def check_result(work: str, got: np.ndarray, a: np.ndarray, b: np.ndarray) -> None:
    """AssertionError unless `got` is within float32 rounding of the float64 answer."""
    # Adding n float32 terms of size x one after another errs by about eps * n * rms(x) / 5 (the
    # partial sums grow like sqrt(k)); chunked or tree orders err less. 2 * eps * n * rms(x)
    # passes any order, and a term left out or counted twice (about rms(x) * sqrt(n)) fails.
    terms = {"elementwise": 1, "sum": a.size, "matmul": a.shape[-1]}[work]
    scale = rms(a) * (rms(b) if work == "matmul" else 1.0)
    tolerance = 2 * np.finfo(np.float32).eps * terms * scale
    np.testing.assert_allclose(got, reference(work, a, b), rtol=1e-6, atol=tolerance, err_msg=f"{work}: wrong result")


def rms(x: np.ndarray) -> float:
    return float(np.sqrt(np.mean(np.square(x, dtype=np.float64))))


# ------------------------------------------------------------------------------ ours

def our_call(work: str, n: int) -> Callable[[], object]:
    """A call that does the work once on the current device and waits for it, checked once."""
    from tinygradlike import Tensor, runtime

    if work == "train step":
        return our_train_step(n)
    a, b = host_inputs(work, n)
    ta, tb = Tensor(a).realize(), Tensor(b).realize()
    build = {"elementwise": lambda: ta + tb, "sum": lambda: ta.sum(), "matmul": lambda: ta @ tb}[work]

    def call():
        out = build().realize()
        runtime.synchronize()
        return out

    check_result(work, call().numpy(), a, b)
    return call


def our_train_step(batch: int) -> Callable[[], object]:
    """One step of the training job (train.make_train_step, under jit), reading loss and logits."""
    from tinygradlike import datasets, optim, train
    from tinygradlike.tensor import Tensor

    data = datasets.load_digits()
    Tensor.manual_seed(0)
    model = train.build_model("mlp", data.image_shape, data.classes)
    step = train.make_train_step(model, optim.Adam(model.parameters(), lr=0.001))
    batches = training_batches(len(data.x_train), batch)

    def call():
        idx = batches[call.i % len(batches)]
        call.i += 1
        loss, logits = step(Tensor(data.x_train[idx]), Tensor(data.y_train[idx]))
        return loss.item(), logits.numpy()

    call.i = 0
    return call


def training_batches(n_train: int, batch: int, count: int = 64) -> list[np.ndarray]:
    rng = np.random.default_rng(0)
    return [rng.integers(0, n_train, batch) for _ in range(count)]


# ------------------------------------------------------------------------------ peers

def numpy_call(work: str, n: int) -> Callable[[], object] | None:
    if work == "train step":
        return None  # numpy has no autograd: nothing to compare with
    a, b = host_inputs(work, n)
    call = {"elementwise": lambda: np.add(a, b), "sum": lambda: a.sum(), "matmul": lambda: a @ b}[work]
    check_result(work, np.asarray(call()), a, b)
    return call


def torch_call(work: str, n: int) -> Callable[[], object] | None:
    import torch

    torch.set_num_threads(os.cpu_count() or 1)
    if work == "train step":
        return torch_train_step(n)
    a_np, b_np = host_inputs(work, n)
    a, b = torch.from_numpy(a_np), torch.from_numpy(b_np)
    call = {"elementwise": lambda: torch.add(a, b), "sum": lambda: a.sum(), "matmul": lambda: a @ b}[work]
    check_result(work, call().numpy(), a_np, b_np)
    return call


def torch_train_step(batch: int) -> Callable[[], object]:
    """The same MLP step in PyTorch eager: forward, cross-entropy, backward, Adam, read both."""
    import torch

    from tinygradlike import datasets

    data = datasets.load_digits()
    torch.manual_seed(0)
    model = torch.nn.Sequential(torch.nn.Flatten(), torch.nn.Linear(int(np.prod(data.image_shape)), 128),
                                torch.nn.ReLU(), torch.nn.Linear(128, data.classes))
    opt = torch.optim.Adam(model.parameters(), lr=0.001)
    x_all, y_all = torch.from_numpy(data.x_train), torch.from_numpy(data.y_train).long()
    batches = [torch.from_numpy(idx) for idx in training_batches(len(x_all), batch)]

    def call():
        idx = batches[call.i % len(batches)]
        call.i += 1
        logits = model(x_all[idx])
        loss = torch.nn.functional.cross_entropy(logits, y_all[idx])
        opt.zero_grad()
        loss.backward()
        opt.step()
        return loss.item(), logits.detach().numpy()

    call.i = 0
    return call


def tinygrad_call(work: str, n: int) -> Callable[[], object] | None:
    from tinygrad import Device
    from tinygrad import Tensor as TinyTensor

    if work == "train step":
        return None  # its training loop is not the same program: no like-for-like figure
    a_np, b_np = host_inputs(work, n)
    a, b = TinyTensor(a_np).realize(), TinyTensor(b_np).realize()
    build = {"elementwise": lambda: a + b, "sum": lambda: a.sum(), "matmul": lambda: a @ b}[work]

    def call():
        out = build().realize()
        Device[Device.DEFAULT].synchronize()
        return out

    check_result(work, call().numpy(), a_np, b_np)
    return call


PEERS = {"numpy": numpy_call, "torch": torch_call, "tinygrad": tinygrad_call}  # name: module and pip package


def measure_peers(items: list[tuple[str, int]], repeats: int) -> tuple[dict, list[str]]:
    """{(work, size): {peer: figure}} for the (work, size) items and every importable peer, and
    notes on what was skipped."""
    figures: dict = {}
    notes = []
    for peer, make_call in PEERS.items():
        try:
            __import__(peer)
        except ImportError:
            notes.append(f"{peer} is not installed: no {peer} figures (`pip install {peer}` to compare)")
            continue
        for work, size in items:
            try:
                call = make_call(work, size)
                if call is not None:
                    figures.setdefault((work, size), {})[peer] = figure(work, size, call, repeats)
            except Exception as e:  # noqa: BLE001 - a peer's failure is a note, never the end of the run
                notes.append(f"{peer} failed on {work} at N={size}: {explain(e)}")
    return figures, notes


def with_peers(row: dict, peers: dict) -> dict:
    """The row with each peer's figure for its work and size, and ours/peer (higher: ours faster)."""
    theirs = {} if row["error"] else peers.get((row["work"], row["size"]), {})
    return {**row, "peers": theirs, "ratio": {peer: row["ours"] / value for peer, value in theirs.items()}}


# ------------------------------------------------------------------------------ machine

def describe_machine(devices: list[dict]) -> dict:
    """What the figures depend on: CPU, OpenCL devices and drivers, versions, date."""
    from tinygradlike import __version__

    return {
        "cpu": cpu_name(), "cpu_count": os.cpu_count(), "os": platform.platform(),
        "load_average": load_average(),  # other work on the machine makes every figure lower and noisier
        "python": platform.python_version(), "numpy": np.__version__, "torch": module_version("torch"),
        "tinygrad": module_version("tinygrad"), "tinygradlike": __version__,
        "date": datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds"),
        "devices": [{"index": d["index"], "name": d["name"], "kind": d["kind"], "platform": d["platform_name"],
                     "platform_version": d["platform_version"], "driver_version": d["driver_version"]}
                    for d in devices],
    }


def cpu_name() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def busy_machine_notes(machine: dict) -> list[str]:
    load, cpus = (machine["load_average"] or [0.0])[0], machine["cpu_count"] or 1
    if load < cpus / 2:
        return []
    return [f"the machine was busy before the run (load average {load} on {cpus} CPUs): every figure is lower and "
            f"noisier than on an idle machine, most of all the peers' threads (OpenMP threads that spin-wait for "
            f"a busy core can make PyTorch many times slower); compare runs on idle machines"]


def load_average() -> list[float] | None:
    try:
        return [round(load, 2) for load in os.getloadavg()]
    except (AttributeError, OSError):  # not on Windows
        return None


def module_version(name: str) -> str | None:
    from importlib.metadata import PackageNotFoundError, version

    try:
        return version(name)
    except PackageNotFoundError:
        return None


# ------------------------------------------------------------------------------ output

def write_results(results: dict, out: Path) -> list[Path]:
    """bench.json, bench.md and (with matplotlib) bench.png in `out`; the paths written."""
    out.mkdir(parents=True, exist_ok=True)
    try:
        import matplotlib  # noqa: F401
    except ImportError:
        results["notes"].append("the plot needs matplotlib (`pip install matplotlib`); the tables are written")
        plotted = None
    else:
        plotted = out / "bench.png"
    (out / "bench.json").write_text(json.dumps(results, indent=1) + "\n")
    (out / "bench.md").write_text(render_markdown(results) + "\n")
    if plotted is not None:
        plot_results(results, plotted)
    return [out / "bench.md", out / "bench.json"] + ([plotted] if plotted else [])


def peer_names(results: dict) -> list[str]:
    found = {peer for row in results["rows"] for peer in row["peers"]}
    return [peer for peer in PEERS if peer in found]


def render_markdown(results: dict) -> str:
    """The results as a Markdown document: the machine, one table row per figure, the notes."""
    machine, peers = results["machine"], peer_names(results)
    lines = [f"# tinygradlike bench, {machine['date']}", "",
             f"tinygradlike {machine['tinygradlike']} on {machine['cpu']} ({machine['cpu_count']} CPUs, "
             f"load average {(machine['load_average'] or ['?'])[0]} before the run), "
             f"numpy {machine['numpy']}, torch {machine['torch'] or 'not installed'}; "
             f"median of {results['repeats']} samples after a warm-up; ours/peer > 1: ours is faster.", ""]
    lines += [f"- device {d['index']}: {d['name']} ({d['platform_version'].split('  ')[0]}), "
              f"driver {d['driver_version']}" for d in machine["devices"]]
    header = ["device", "work", "N", "ours", "unit"] + [column for p in peers for column in (p, f"ours/{p}")]
    numbers = {"N", "ours"} | set(header[5:])
    lines += ["", "| " + " | ".join(header) + " |", "|" + "|".join("---:" if c in numbers else "---" for c in header) + "|"]
    for row in results["rows"]:
        if row["error"]:
            cells = [row["device"], row["work"] or "-", str(row["size"] or "-"), f"failed: {row['error']}", ""]
            cells += [""] * (2 * len(peers))
        else:
            cells = [row["device"], row["work"], str(row["size"]), f"{row['ours']:.4g}", row["unit"]]
            for peer in peers:
                known = peer in row["peers"]
                cells += [f"{row['peers'][peer]:.4g}" if known else "-", f"{row['ratio'][peer]:.2f}" if known else "-"]
        lines.append("| " + " | ".join(cell.replace("|", "/") for cell in cells) + " |")
    if results["notes"]:
        lines += ["", "Notes:"] + [f"- {note}" for note in results["notes"]]
    return "\n".join(lines)


def plot_results(results: dict, path: Path) -> None:
    """GFLOPS (matmul) and GB/s (elementwise, sum) against N: a colour per device or peer, a
    line style per work."""
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure
    from matplotlib.ticker import ScalarFormatter

    fig = Figure(figsize=(11, 4.5))
    FigureCanvasAgg(fig)  # no pyplot: no global state, no display needed
    axes = dict(zip(("GFLOPS", "GB/s"), fig.subplots(1, 2)))
    lines = plotted_lines(results)
    colours = {source: f"C{i}" for i, source in enumerate(dict.fromkeys(source for source, _ in lines))}
    for (source, work), points in lines.items():
        sizes, values = zip(*sorted(points))
        axes[WORKS[work].unit].plot(sizes, values, ":" if work == "sum" else "-", color=colours[source],
                                    marker="s" if work == "sum" else "o", label=f"{source}: {work}")
    for unit, ax in axes.items():
        ax.set_xscale("log", base=2)
        ax.set_xticks(results["sizes"])
        ax.xaxis.set_major_formatter(ScalarFormatter())
        ax.set_xlabel("N (N x N @ N x N)" if unit == "GFLOPS" else "N (N*N float32 elements)")
        ax.set_ylabel(unit)
        ax.set_title("matmul" if unit == "GFLOPS" else "elementwise a + b (solid) and sum (dotted)")
        ax.grid(True, alpha=0.3)
        if ax.get_lines():
            ax.legend(fontsize=7)
    fig.suptitle(f"tinygradlike {results['machine']['tinygradlike']} on {results['machine']['cpu']}, "
                 f"{results['machine']['date'][:10]} (higher is better)")
    fig.tight_layout()
    fig.savefig(path, dpi=100)


def plotted_lines(results: dict) -> dict[tuple[str, str], list[tuple[int, float]]]:
    """{(source, work): [(N, figure)]}: ours per device, each peer once (it runs on the host,
    so its figures repeat on every device's rows)."""
    lines: dict = {}
    for row in results["rows"]:
        if row["error"] or WORKS[row["work"]].unit == "steps/s":
            continue
        lines.setdefault((f"ours {row['device_index']}", row["work"]), {})[row["size"]] = row["ours"]
        for peer, value in row["peers"].items():
            lines.setdefault((peer, row["work"]), {})[row["size"]] = value
    return {key: list(points.items()) for key, points in lines.items()}


def main(argv: list[str] | None = None) -> dict:
    """`python -m tinygradlike.bench [options]`, the same as `python -m tinygradlike bench`."""
    parser = argparse.ArgumentParser(prog="python -m tinygradlike bench", description=__doc__.splitlines()[0])
    add_bench_arguments(parser)
    return run_bench(parser.parse_args(argv))


if __name__ == "__main__":
    main()
