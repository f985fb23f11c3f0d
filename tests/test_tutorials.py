"""Tutorials stay true, and their exercises are checked.

The numbered tutorials in tutorials/ are jupytext percent scripts (NN_name.py: `# %%` code
cells, `# %% [markdown]` text cells) or, for those not yet converted, Markdown (NN_name.md,
whose ```python blocks are the code). Each runs here as a notebook runs it: its code cells in
order, in one fresh namespace, with tutorials/ as the working directory and on the import path
(where `checks` and `helpers` live). The asserts in them are the tutorials' own claims.

Every exercise's solution (tutorials/solutions/) passes its checker (tutorials/checks.py), and
an obviously wrong answer fails it. A tutorial that needs an OpenCL device says so with
`<!-- needs: device -->` (or "device"/"opencl"/"gpu" in its file name) and is skipped where
pyopencl finds no platform.
"""
import importlib
import os
import re
import sys
from pathlib import Path

import numpy as np
import pytest

ROOT = Path(__file__).resolve().parent.parent / "tutorials"
TUTORIALS = sorted(p for p in ROOT.iterdir() if re.match(r"\d\d_\w+\.(py|md)$", p.name))
FENCE = re.compile(r"^```python[^\n]*\n(.*?)^```", re.DOTALL | re.MULTILINE)


def code_cells(path: Path) -> list[str]:
    """The code a notebook would run, cell by cell."""
    text = path.read_text(encoding="utf-8")
    if path.suffix == ".md":
        return FENCE.findall(text)
    import jupytext

    notebook = jupytext.reads(text, fmt="py:percent")
    return [cell.source for cell in notebook.cells if cell.cell_type == "code"]


def needs_device(path: Path, text: str) -> bool:
    return "<!-- needs: device -->" in text or any(
        word in path.stem.lower() for word in ("device", "opencl", "gpu"))


def have_opencl() -> bool:
    try:
        import pyopencl
        return bool(pyopencl.get_platforms())
    except Exception:  # no pyopencl, no ICD loader, or no platform: all mean "no device"
        return False


@pytest.fixture
def in_tutorials(monkeypatch):
    """Run as a notebook opened in tutorials/ would: that folder is the cwd and importable."""
    monkeypatch.chdir(ROOT)
    monkeypatch.syspath_prepend(str(ROOT))
    monkeypatch.setenv("MPLBACKEND", "Agg")  # no window opens while the tests run


def test_the_path_starts_with_a_value_and_its_graph():
    assert TUTORIALS[0].name == "01_a_value_and_its_graph.py"
    numbers = [int(p.name[:2]) for p in TUTORIALS]
    assert numbers == sorted(set(numbers)), "two tutorials share a number"


@pytest.mark.parametrize("path", [p for p in TUTORIALS if p.suffix == ".py"], ids=lambda p: p.name)
def test_a_tutorial_is_a_notebook_with_text_and_code(path: Path):
    import jupytext

    notebook = jupytext.reads(path.read_text(encoding="utf-8"), fmt="py:percent")
    kinds = [cell.cell_type for cell in notebook.cells]
    assert kinds.count("markdown") >= 3 and kinds.count("code") >= 3
    assert notebook.cells[0].cell_type == "markdown" and notebook.cells[0].source.startswith(f"# {path.name[:2]} ")


@pytest.mark.parametrize("path", TUTORIALS, ids=[p.name for p in TUTORIALS])
def test_tutorial_runs_top_to_bottom(path: Path, in_tutorials):
    text = path.read_text(encoding="utf-8")
    if needs_device(path, text) and not have_opencl():
        pytest.skip(f"{path.name} needs an OpenCL device and none was found")
    cells = code_cells(path)
    assert any(cell.strip() for cell in cells), f"{path.name} has no code"
    namespace = {"__name__": f"tutorial_{path.stem}"}
    for number, cell in enumerate(cells, 1):
        exec(compile(cell, f"{path.name} (code cell {number})", "exec"), namespace)


@pytest.mark.parametrize("path", TUTORIALS, ids=[p.name for p in TUTORIALS])
def test_tutorials_use_only_public_names(path: Path):
    """A tutorial teaches what a user can rely on: no `_private` name of the library."""
    text = path.read_text(encoding="utf-8")
    private = re.findall(r"from tinygradlike[\w.]* import [^\n]*\b_\w+|tinygradlike\.\w*\._\w+", text)
    assert not private, f"{path.name} uses private names: {private}"


# --- exercises: each solution passes its checker, and a wrong answer fails it -------------------

def _wrong_count_nodes(root):
    """Counts paths, not nodes: a node read twice is counted twice."""
    return 1 + sum(_wrong_count_nodes(src) for src in root.srcs)


def _wrong_topo_sort(root):
    """Recursive: right on small graphs, RecursionError on deep ones."""
    order, seen = [], set()

    def visit(node):
        if id(node) not in seen:
            seen.add(id(node))
            for src in node.srcs:
                visit(src)
            order.append(node)
    visit(root)
    return order


def _wrong_hinge_loss(scores, labels):
    """Forgets the max(0, .): points far on the right side reward the loss."""
    total = 0.0
    for score, label in zip(scores, labels):
        total = (1 - score * label) + total
    return total * (1.0 / len(scores))


def _wrong_softsign():
    """Registers the derivative of x / (1 + x) instead: wrong wherever x < 0."""
    from tinygradlike import CustomOp

    return CustomOp("softsign", forward=lambda x: x / (x.abs() + 1), backward=lambda g, x: [g / (x.abs() + 1)])


# starts the running maximum at 0: wrong for a chunk of negative numbers
_WRONG_CHUNK_MAX = """
__kernel void chunk_max(__global const float* x, __global float* out, const int n, const int chunk) {
    const int i = get_global_id(0);
    float best = 0.0f;
    for (int j = i * chunk; j < min((i + 1) * chunk, n); j++) best = fmax(best, x[j]);
    out[i] = best;
}
"""
# reads B as K x N (a plain A @ B): right only when B happens to be square and symmetric
_WRONG_MATMUL_BT = """
__kernel void matmul_bt(__global const float* A, __global const float* B, __global float* C,
                        const int M, const int N, const int K) {
    const int i = get_global_id(0), j = get_global_id(1);
    float acc = 0.0f;
    for (int k = 0; k < K; k++) acc += A[i * K + k] * B[k * N + j];
    C[i * N + j] = acc;
}
"""


EXERCISES = {
    # checker name: (solution module, wrong answer)
    "count_nodes": ("s01", _wrong_count_nodes),
    "sub": ("s01", lambda a, b: a + b),
    "tanh_local_grad": ("s02", lambda x: 1 - x * x),
    "pow_local_grad": ("s02", lambda x, n: n * x ** n),
    "mul_backward": ("s02", lambda a, b, g: (g * a, g * b)),
    "topo_sort": ("s03", _wrong_topo_sort),
    "hinge_loss": ("s04", _wrong_hinge_loss),
    "count_parameters": ("s04", lambda sizes: sum(a * b for a, b in zip(sizes, sizes[1:]))),
    "contiguous_strides": ("s05", lambda shape: tuple(1 for _ in shape)),
    "permute_view": ("s05", lambda shape, strides, order: (tuple(shape[k] for k in order), tuple(strides))),
    "broadcast_shape": ("s05", lambda a, b: tuple(max(x, y) for x, y in zip(a, b))),
    "kernel_counts": ("s06", {"chain": 5, "sum_of_squares": 2, "normalize": 2, "softmax": 3, "two_outputs": 2}),
    "fused_softsign": ("s06", lambda x: (x / (x.abs() + 1)).realize() * 1),
    "hvp": ("s09", lambda f, x, v: v),
    "log_softmax_backward": ("s09", lambda x, g: g),
    "custom_softsign": ("s10", _wrong_softsign),
    "chunk_max": ("s07", _WRONG_CHUNK_MAX),
    "bandwidth_gbps": ("s07", lambda n, itemsize, seconds: n * itemsize / seconds),
    "matmul_bt": ("s08", _WRONG_MATMUL_BT),
    "matmul_gflops": ("s08", lambda m, k, n, seconds: m * k * n / seconds / 1e9),
    "accuracy": ("s11", lambda logits, labels: float((np.argmin(logits, axis=1) == labels).mean())),
    "momentum_step": ("s11", lambda p, g, buf, lr, momentum: (p - lr * g, momentum * buf + g)),
    "share_of_time": ("s12", lambda report, prefix: report.rows[0][2] / report.total_seconds),
    "fused_scale_shift": ("s12", lambda x, mean, std: ((x - mean).realize() / std * 2 + 1)),
}
# exercises whose answer is a value (a dict of predictions), not a function
ANSWER_NAMES = {"kernel_counts": "KERNEL_COUNTS", "custom_softsign": "make_softsign", "fused_softsign": "softsign",
                "chunk_max": "CHUNK_MAX", "matmul_bt": "MATMUL_BT"}


@pytest.mark.parametrize("name", sorted(EXERCISES))
def test_an_exercise_solution_passes_and_a_wrong_answer_fails(name, in_tutorials):
    checks = importlib.import_module("checks")
    module, wrong = EXERCISES[name]
    solution = getattr(importlib.import_module(f"solutions.{module}"), ANSWER_NAMES.get(name, name))
    checker = getattr(checks, name)
    passed = checker(solution)
    assert passed.ok, passed
    failed = checker(wrong)
    assert not failed.ok and "NOT YET" in repr(failed)


def test_every_checker_has_a_tested_exercise():
    sys.path.insert(0, str(ROOT))
    try:
        checks = importlib.import_module("checks")
    finally:
        sys.path.remove(str(ROOT))
    names = {n for n, f in vars(checks).items()
             if callable(f) and not n.startswith("_") and getattr(f, "__module__", None) == checks.__name__
             and n != "Checked" and not n.isupper()}
    assert names == set(EXERCISES)


def test_an_unanswered_exercise_says_so(in_tutorials):
    checks = importlib.import_module("checks")

    def not_yet(x):
        raise NotImplementedError

    result = checks.tanh_local_grad(not_yet)
    assert not result.ok and "not answered yet" in result.message
