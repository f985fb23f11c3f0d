"""The command line: `python -m tinygradlike [train|demo|devices|bench]`, run as a user runs it
(a subprocess), with the settings that keep it cheap: one epoch, batch 64, --quick benchmarks."""
import json
import os
import re
import statistics
import subprocess
import sys
import tomllib
from datetime import datetime
from pathlib import Path

import numpy as np
import pytest

import tinygradlike
from tinygradlike import bench, datasets, train
from tinygradlike.state import save_state

ROOT = Path(__file__).resolve().parent.parent
COMMANDS = ("train", "demo", "devices", "bench")
CHEAP_TRAIN = ["--epochs", "1", "--batch-size", "64"]
COLD_START_MESSAGE = "building the kernels for the first step"


def cli(*args: str, env: dict | None = None, timeout: float = 120) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "tinygradlike", *args], capture_output=True, text=True,
                          timeout=timeout, env={**os.environ, **(env or {})}, cwd=ROOT)


# ------------------------------------------------------------------------------ the commands

def test_help_lists_every_command_with_a_description():
    out = cli("--help")
    assert out.returncode == 0
    for command in COMMANDS:
        assert re.search(rf"^\s+{command}\s+\w+", out.stdout, re.MULTILINE), f"{command} missing:\n{out.stdout}"
    assert "--version" in out.stdout


def test_train_help_shows_the_training_options():
    out = cli("train", "--help")
    assert out.returncode == 0
    for option in ("--epochs", "--batch-size", "--lr", "--optimizer", "--model", "--device", "--save", "--quiet"):
        assert option in out.stdout


def test_version_prints_the_version_in_pyproject():
    version = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["version"]
    out = cli("--version")
    assert out.returncode == 0 and out.stdout == f"tinygradlike {version}\n"


def test_an_unknown_command_is_refused_with_the_list_of_commands():
    out = cli("trian")
    assert out.returncode == 2
    assert "invalid choice: 'trian'" in out.stderr
    assert all(f"'{command}'" in out.stderr for command in COMMANDS)


def test_options_without_a_command_run_the_training():
    out = cli(*CHEAP_TRAIN, "--quiet")
    assert out.returncode == 0, out.stderr
    assert "test accuracy" in out.stdout and "time for the one epoch" in out.stdout


def test_demo_graph_labels_its_values_with_their_names():
    out = cli("demo")
    assert out.returncode == 0, out.stderr
    dot = out.stdout[out.stdout.index("digraph"):]
    labels = re.findall(r'label="\{ (\w+) \| data', dot)
    assert sorted(labels) == ["b", "out", "w1", "w2", "x1", "x2"]


def test_to_dot_refuses_names_keyed_by_id():
    x = tinygradlike.Value(2.0)
    y = x * x
    with pytest.raises(TypeError, match=r"names=\{x: 'x'\}, not names=\{id\(x\): 'x'\}"):
        y.to_dot(names={id(x): "x"})


# ------------------------------------------------------------------------------ saving

def test_save_state_refuses_an_unknown_extension_and_writes_nothing(tmp_path):
    path = tmp_path / "w.pt"
    with pytest.raises(ValueError) as e:
        save_state({"w": np.zeros(3, np.float32)}, path)
    assert str(path) in str(e.value) and ".npz" in str(e.value) and ".safetensors" in str(e.value)
    assert "w.safetensors" in str(e.value)  # how to fix it
    assert not path.exists()


def test_a_bad_save_path_is_refused_before_training(tmp_path):
    path = tmp_path / "w.pt"
    out = cli("--epochs", "1000", "--save", str(path), timeout=60)  # 1000 epochs would outlast the timeout
    assert out.returncode == 2
    assert "argument --save" in out.stderr and str(path) in out.stderr and ".safetensors" in out.stderr
    assert "test accuracy" not in out.stdout and not path.exists()


# ------------------------------------------------------------------------------ the training report

@pytest.fixture(scope="module")
def cold_run(tmp_path_factory):
    """One epoch with our program cache and PoCL's both empty: the first step builds every kernel."""
    caches = tmp_path_factory.mktemp("caches")
    env = {"TGL_CACHE_DIR": str(caches / "tgl"), "POCL_CACHE_DIR": str(caches / "pocl")}
    out = cli(*CHEAP_TRAIN, env=env, timeout=300)
    assert out.returncode == 0, out.stderr
    return out


def test_a_cold_first_step_says_it_is_building_the_kernels(cold_run):
    frames = cold_run.stderr.splitlines()  # tqdm redraws its line after a "\r", which text mode reads as "\n"
    said = [i for i, frame in enumerate(frames) if COLD_START_MESSAGE in frame]
    assert said, cold_run.stderr
    # after the first step the bar shows its epoch again, with the step counted
    steps = len(datasets.load_digits().x_train) // 64
    assert any(frame.startswith("epoch 1/1:") and f" 1/{steps} " in frame for frame in frames[said[-1]:])


def test_a_one_epoch_report_gives_that_epochs_time_and_the_compiling_in_it(cold_run):
    line = next(line for line in cold_run.stdout.splitlines() if line.startswith("time "))
    found = re.fullmatch(r"time for the one epoch ([\d.]+) s, compiles included: its first step ([\d.]+) s "
                         r"\(([\d.]+) s of kernel compiling, .*\); run 2 or more epochs .*", line)
    assert found, line
    epoch, first_step, compiling = map(float, found.groups())
    assert 0 < first_step <= epoch and compiling > 0
    assert re.search(r"^epoch 1/1: .*, ([\d.]+) s$", cold_run.stdout, re.MULTILINE).group(1) == f"{epoch:.2f}"
    assert "first epoch" not in line  # one epoch is not a "first epoch" beside a per-epoch mean


def test_a_report_of_several_epochs_gives_the_mean_of_the_later_ones_and_the_first_apart(capsys):
    report = train.main(["--epochs", "3", "--batch-size", "64", "--quiet"])
    line = next(line for line in capsys.readouterr().out.splitlines() if line.startswith("time "))
    steady, first = statistics.mean(report.epoch_seconds[1:]), report.epoch_seconds[0]
    assert line.startswith(f"time per epoch {steady:.3f} s (the mean of epochs 2-3); the first epoch {first:.2f} s, "
                           f"its first step {report.first_step_seconds:.2f} s")


def test_quiet_prints_no_cold_start_message(capsys, monkeypatch):
    monkeypatch.setattr(train, "SLOW_FIRST_STEP_SECONDS", 0.0)  # any first step counts as slow
    train.main([*CHEAP_TRAIN, "--quiet"])
    captured = capsys.readouterr()
    assert captured.err == "" and COLD_START_MESSAGE not in captured.out


# ------------------------------------------------------------------------------ bench

@pytest.fixture(scope="module")
def bench_run(tmp_path_factory):
    out_dir = tmp_path_factory.mktemp("bench")
    out = cli("bench", "--quick", "--all-devices", "--out", str(out_dir), timeout=300)
    assert out.returncode == 0, out.stderr
    return out_dir, json.loads((out_dir / "bench.json").read_text())


def opencl_devices() -> list[str]:
    """Every device as "P:D", from pyopencl directly."""
    import pyopencl as cl

    found = []
    for p, platform in enumerate(cl.get_platforms()):
        try:
            found += [f"{p}:{d}" for d in range(len(platform.get_devices()))]
        except cl.Error:
            pass
    return found


def test_bench_has_a_row_for_every_device_and_every_work_on_the_default_one(bench_run):
    from tinygradlike import runtime

    _, results = bench_run
    assert {row["device_index"] for row in results["rows"]} == set(opencl_devices())
    default = [row for row in results["rows"] if row["device_index"] == runtime.get_device().index]
    measured = {(row["work"], row["size"]) for row in default if row["error"] is None}
    assert measured == {(w, n) for w in ("elementwise", "sum", "matmul") for n in bench.QUICK_SIZES} | {("train step", 32)}


def test_bench_figures_are_positive_and_ratios_are_ours_over_the_peers(bench_run):
    _, results = bench_run
    measured = [row for row in results["rows"] if row["error"] is None]
    assert measured
    for row in measured:
        assert row["ours"] > 0 and row["unit"] in ("GB/s", "GFLOPS", "steps/s")
        expected_peers = {"numpy", "torch"} - ({"numpy"} if row["work"] == "train step" else set())
        assert set(row["peers"]) == expected_peers and set(row["ratio"]) == expected_peers
        for peer, figure in row["peers"].items():
            assert figure > 0 and row["ratio"][peer] == pytest.approx(row["ours"] / figure, rel=1e-12)
    for row in results["rows"]:
        assert row["error"] is None or (row["ours"] is None and row["error"].strip())  # a failure says why


def test_bench_records_the_machine(bench_run):
    _, results = bench_run
    machine = results["machine"]
    assert machine["tinygradlike"] == tinygradlike.__version__ and machine["cpu"]
    assert datetime.fromisoformat(machine["date"]).tzinfo is not None
    assert {d["index"] for d in machine["devices"]} == set(opencl_devices())
    assert all(d["driver_version"] and d["name"] for d in machine["devices"])


def test_bench_markdown_has_a_table_row_per_json_row(bench_run):
    out_dir, results = bench_run
    table = [line for line in (out_dir / "bench.md").read_text().splitlines() if line.startswith("|")]
    assert table[0].split("|")[1:6] == [" device ", " work ", " N ", " ours ", " unit "]
    assert "ours/numpy" in table[0] and "ours/torch" in table[0]
    assert len(table) == 2 + len(results["rows"])
    for line, row in zip(table[2:], results["rows"]):
        ours = f"{row['ours']:.4g}" if row["error"] is None else "failed:"
        assert line.startswith(f"| {row['device']} |") and ours in line


def test_bench_plot_is_a_png_that_matplotlib_reads(bench_run):
    import matplotlib.image

    out_dir, _ = bench_run
    png = out_dir / "bench.png"
    assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    image = matplotlib.image.imread(png)
    assert image.ndim == 3 and image.shape[0] > 100 and image.shape[1] > 100 and image.std() > 0


def test_bench_without_matplotlib_writes_the_tables_and_says_the_plot_needs_it(tmp_path, monkeypatch):
    monkeypatch.setitem(sys.modules, "matplotlib", None)  # `import matplotlib` raises ImportError
    results = {"machine": bench.describe_machine([]), "sizes": [8], "repeats": 1, "notes": [],
               "rows": [{"device": "d", "device_index": "0:0", "work": "sum", "size": 8, "ours": 2.0,
                         "unit": "GB/s", "error": None, "peers": {"numpy": 4.0}, "ratio": {"numpy": 0.5}}]}
    written = bench.write_results(results, tmp_path)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["bench.json", "bench.md"] == sorted(p.name for p in written)
    assert "needs matplotlib" in (tmp_path / "bench.md").read_text()
    assert "needs matplotlib" in json.loads((tmp_path / "bench.json").read_text())["notes"][0]


def test_bench_turns_a_crashing_device_process_into_a_row_that_says_so(tmp_path, monkeypatch):
    measured = {"work": "sum", "size": 8, "ours": 1.5, "unit": "GB/s", "error": None}
    crashing = tmp_path / "python"  # measures one row, then the driver takes the process down
    crashing.write_text(f"#!/bin/sh\necho '{json.dumps(measured)}'\necho 'driver went away' >&2\nkill -SEGV $$\n")
    crashing.chmod(0o755)
    monkeypatch.setattr(sys, "executable", str(crashing))  # the child process bench starts per device
    rows = bench.measure_in_child("0:0", (8,), 1)
    assert len(rows) == 2 and rows[0] == measured and rows[1]["ours"] is None
    assert "killed by signal 11" in rows[1]["error"] and "driver went away" in rows[1]["error"]
