"""The tools for looking inside: a picture of the tensor graph, a per-kernel profile (ops, user's
line, total, Chrome trace), TGL_DEBUG's schedule and source levels, and stats' compile counters."""
import inspect
import json
import re
import uuid

import numpy as np
import pytest

from tinygradlike import Tensor, jit, profile, runtime, sites
from tinygradlike.preprocess import compiled_source


def test_to_dot_draws_every_node_with_op_and_shape():
    x = Tensor([[1.0, 2.0], [3.0, 4.0]])
    y = (x.T * 2).sum(axis=0)
    dot = y.to_dot()
    assert dot.startswith("digraph") and dot.rstrip().endswith("}")
    for label in ("buffer", "view permute", "mul", "reduce add axes=(0,)", "(2, 2) float32"):
        assert label in dot, label
    assert dot.count("->") >= 4


def test_profile_totals_time_per_kernel():
    x = Tensor(np.random.default_rng(0).standard_normal((256, 256)).astype(np.float32))
    with profile() as report:
        for _ in range(3):
            (x @ x).relu().realize()
        x.exp().sum().realize()
    names = [row[0] for row in report.rows]
    assert any(n.startswith("matmul") for n in names) and any(n.startswith("R") for n in names)
    matmul = next(row for row in report.rows if row[0].startswith("matmul"))
    assert matmul[1] == 3 and matmul[2] > 0 and matmul[3] > 0  # launches, seconds, GFLOPS
    assert report.rows == sorted(report.rows, key=lambda row: -row[2])
    assert "launches" in str(report) and "matmul" in str(report)


def test_profile_counts_the_flops_of_a_reused_schedule():
    x = Tensor(np.random.default_rng(0).standard_normal((128, 128)).astype(np.float32))
    (x @ x).realize()  # built and cached here; inside the profile every launch is a replay
    with profile() as report:
        for _ in range(2):
            (x @ x).realize()
    matmul = next(row for row in report.rows if row[0].startswith("matmul"))
    assert matmul[1] == 2 and matmul[3] > 0 and matmul[4] > 0  # GFLOPS and GB/s, not 0.00


def test_to_dot_frames_each_kernel_and_shows_the_names_given():
    x = Tensor(np.ones((2, 3), np.float32))
    h = (x * 2 + 1).relu()
    y = h / h.sum(axis=1, keepdim=True)  # a reduce kernel, then an elementwise one
    dot = y.to_dot(names={x: "x", h: "hidden", y: "y"}, kernels=True)
    assert dot.count("subgraph cluster_") == 2
    assert 'label="kernel 1: reduce"' in dot and 'label="kernel 2: elementwise"' in dot
    assert '"x: buffer' in dot and '"hidden: ' in dot and '"y: div' in dot
    frames = re.findall(r"subgraph cluster_\d+ \{(.*?)\n  \}", dot, re.DOTALL)
    assert len(frames) == 2 and '"hidden: ' in frames[0] and '"y: div' in frames[1]
    assert '"x: buffer' not in "".join(frames)  # memory the kernels read stays outside the frames
    assert "cluster" not in y.to_dot()  # frames only when asked


# ---------------------------------------------------------------- TGL_DEBUG=3: the schedule

@pytest.fixture
def debug_level():
    """set_debug for one test; schedules cached by earlier tests are forgotten, so this test's
    graphs are scheduled (and printed) anew."""
    from tinygradlike.realize import clear_schedules

    before = runtime.debug_level()
    clear_schedules()
    yield runtime.set_debug
    runtime.set_debug(before)


def _schedule_lines(err: str) -> list[str]:
    return [line for line in err.splitlines() if line.startswith("tgl   kernel")]


def test_debug_3_prints_a_matmul_with_its_fused_bias_and_relu_and_the_users_line(debug_level, capfd):
    rng = np.random.default_rng(1)
    x, w, b = (Tensor(rng.standard_normal(s).astype(np.float32)) for s in ((7, 13), (13, 5), (5,)))
    debug_level(3)
    y = (x @ w + b).relu(); line = inspect.currentframe().f_lineno  # noqa: E702
    y.realize()
    (kernel,) = _schedule_lines(capfd.readouterr().err)  # matmul, bias and relu: one kernel
    ops = re.search(r"\[(.*?)\]", kernel).group(1).split("+")
    assert " matmul [" in kernel and ops[:2] == ["matmul", "add"] and len(ops) > 2  # relu's ops follow
    assert kernel.endswith(f"-> (7, 5) float32  test_debugging_aids.py:{line}")
    np.testing.assert_allclose(y.numpy(), np.maximum(x.numpy() @ w.numpy() + b.numpy(), 0), rtol=1e-5, atol=1e-5)


def test_debug_3_prints_a_reduce_with_its_fused_prologue(debug_level, capfd):
    x = Tensor(np.ones((6, 11), np.float32))
    debug_level(3)
    s = x.exp().sum(axis=1); line = inspect.currentframe().f_lineno  # noqa: E702
    s.realize()
    (kernel,) = _schedule_lines(capfd.readouterr().err)
    assert re.search(r" R_\w+ reduce \[exp\+sum\] -> \(6, 1\) float32  test_debugging_aids.py:(\d+)$", kernel)
    assert kernel.endswith(f":{line}")


def test_debug_below_3_prints_no_schedule_and_notes_no_lines(debug_level, capfd):
    debug_level(2)
    (Tensor(np.ones(5, np.float32)) * 3 - 1).realize()
    assert not _schedule_lines(capfd.readouterr().err) and not sites.recording


def test_a_long_kernel_is_named_by_its_first_ops_a_count_and_its_last():
    from tinygradlike.realize import plan
    from tinygradlike.schedule import kernel_ops

    y = Tensor(np.ones(4, np.float32))
    for _ in range(10):
        y = (y * 1.5).exp()
    groups, is_load = plan([y.sqrt().node])  # one kernel of 21 ops; nothing is compiled
    assert len(groups) == 1
    assert kernel_ops(groups[0], is_load) == "mul+exp+mul+exp+mul+exp+...(14 more)+sqrt"


# ---------------------------------------------------------------- TGL_DEBUG=4: the source compiled

def test_compiled_source_keeps_the_branch_a_D_option_selects():
    source = "a\n#ifdef FAST\nfast\n#else\nslow\n#endif\nb"
    assert compiled_source(source, ("-DFAST",)) == "a\nfast\nb"
    assert compiled_source(source, ()) == "a\nslow\nb"
    assert compiled_source(source.replace("#ifdef", "#ifndef"), ("-D", "FAST=2")) == "a\nslow\nb"


def test_compiled_source_evaluates_if_and_elif_with_the_sources_own_defines():
    source = "\n".join(["#define K_BLOCKS 3", "#define WIDE (K_BLOCKS * 2)",
                        "#if defined(MISSING) || WIDE < 6", "one", "#elif K_BLOCKS > 1 && !defined MISSING", "two",
                        "#elif 1", "three", "#else", "four", "#endif  // a comment", "end"])
    assert compiled_source(source) == "#define K_BLOCKS 3\n#define WIDE (K_BLOCKS * 2)\ntwo\nend"


def test_compiled_source_drops_nested_blocks_and_defines_of_a_branch_not_taken():
    source = "\n".join(["#if 0", "#define X 1", "#if 1", "inner", "#endif", "#endif",
                        "#ifdef X", "x defined", "#endif", "#if -7 / 2 == -3 && -7 % 2 == -1 && (1 << 4) == 16", "c", "#endif"])
    assert compiled_source(source) == "c"  # C division truncates toward zero


def test_compiled_source_leaves_a_condition_it_cannot_read_as_it_is():
    source = "#define F(x) x\n#if F(1)\nf\n#endif\n"
    assert compiled_source(source) == source
    assert compiled_source("#if A ? 1 : 0\n#endif") == "#if A ? 1 : 0\n#endif"


def _matmul_source(M: int, N: int, K: int):
    from tinygradlike.matmul_kernel import MatmulSpec, render_matmul

    spec = MatmulSpec(batch_shape=(), M=M, N=N, K=K, a_offset=0, a_strides=(K, 1), b_offset=0, b_strides=(N, 1))
    return render_matmul(spec, runtime.get_device())


def test_the_printed_matmul_source_holds_one_kernel_and_no_conditionals():
    r = _matmul_source(9, 10, 300)  # K past one K slice on the CPU: the K_BLOCKS > 1 branches are taken
    printed = compiled_source(r.source, r.options)
    assert r.source.count(f"void {r.name}(") == 3 and printed.count(f"void {r.name}(") == 1
    directives = [line.split()[0] for line in printed.splitlines() if line.lstrip().startswith("#")]
    assert not {"#if", "#ifdef", "#ifndef", "#elif", "#else", "#endif"} & set(directives)
    assert len(printed.splitlines()) < len(r.source.splitlines()) * 3 // 4


def test_the_printed_matmul_source_compiles_to_the_same_kernel():
    M, N, K = 9, 10, 300
    r = _matmul_source(M, N, K)
    rng = np.random.default_rng(2)
    a, b = rng.standard_normal((M, K)).astype(np.float32), rng.standard_normal((K, N)).astype(np.float32)
    results = []
    for source in (r.source, compiled_source(r.source, r.options)):
        kernel = runtime.compile_kernel(source, r.name, r.options)
        out = runtime.Buffer(M * N * 4)
        kernel(r.global_size, r.local_size, out, runtime.Buffer.from_numpy(a), runtime.Buffer.from_numpy(b))
        results.append(out.to_numpy(np.float32, (M, N)))
    np.testing.assert_array_equal(results[0], results[1])
    np.testing.assert_allclose(results[1], a @ b, rtol=1e-4, atol=1e-4)


def test_debug_4_prints_a_new_matmuls_source_once_without_other_configurations(debug_level, capfd):
    x, w = Tensor(np.ones((5, 300), np.float32)), Tensor(np.ones((300, 3), np.float32))
    runtime.clear_program_cache()  # compiled by an earlier test or not, it is loaded (and printed) now
    debug_level(4)
    for _ in range(2):
        (x @ w).realize()  # the second time the schedule is reused: nothing is compiled or printed
    err = capfd.readouterr().err
    assert err.count("__kernel") == 1 and "#if" not in err and "#endif" not in err


# ---------------------------------------------------------------- profile: ops, lines, total, trace

def _x(n: int = 24) -> Tensor:
    return Tensor(np.random.default_rng(0).standard_normal((n, n)).astype(np.float32))


def test_profile_rows_name_the_ops_and_the_users_line():
    x, b = _x(), Tensor(np.ones(24, np.float32))
    with profile() as report:
        y = (x @ x + b).relu(); line = inspect.currentframe().f_lineno  # noqa: E702
        y.realize()
    (row,) = report.rows
    assert row.kernel.startswith("matmul") and row.ops.startswith("matmul+add+")
    assert row.line == f"test_debugging_aids.py:{line}" and row.name == f"{row.ops}  {row.line}"
    assert row.name in str(report) and row.kernel in str(report)


def test_profile_total_row_is_the_sum_of_the_rows():
    x = _x()
    with profile() as report:
        for _ in range(2):
            (x @ x).relu().realize()
        x.exp().sum().realize()
    total = report.total
    assert len(report.rows) == 2 and total.launches == sum(row.launches for row in report.rows) == 3
    assert total.seconds == pytest.approx(sum(row.seconds for row in report.rows))
    assert total.flops == sum(row.flops for row in report.rows) and total.nbytes == sum(row.nbytes for row in report.rows)
    last = str(report).splitlines()[-1].split()
    assert last[:3] == ["total", "3", f"{total.seconds * 1e3:.3f}"]


def test_profile_of_a_graph_made_before_it_says_the_line_is_unknown():
    y = _x().exp() * 3  # made while nobody was looking
    with profile() as report:
        y.realize()
    (row,) = report.rows
    assert row.ops == "exp+mul" and row.line is None and "exp+mul  (line unknown)" in str(report)


def test_profile_of_a_reused_schedule_names_its_ops_and_the_new_graphs_line():
    x = _x(20)
    (x @ x).exp().realize()  # the schedule is built here, before the profile
    with profile() as report:
        y = (x @ x).exp(); line = inspect.currentframe().f_lineno  # noqa: E702
        runtime.reset_stats()
        y.realize()
    assert runtime.stats()["schedules_reused"] == 1
    (row,) = report.rows
    assert row.ops == "matmul+exp" and row.line == f"test_debugging_aids.py:{line}"


def test_profile_of_jit_replays_keeps_the_op_names_and_flops():
    w = _x(16)

    @jit
    def step(x):
        return (x @ w).exp()

    x = _x(16)
    for _ in range(3):  # runs, records, replays
        step(x).numpy()
    with profile() as report:
        step(x)
    (row,) = report.rows
    assert row.ops == "matmul+exp" and row.line is None and row.gflops > 0  # recorded before the profile


def test_profile_save_writes_a_chrome_trace_of_every_launch(tmp_path):
    x = _x()
    with profile() as report:
        for _ in range(2):
            y = (x @ x).relu().sum(); line = inspect.currentframe().f_lineno  # noqa: E702
            y.realize()
    report.save(tmp_path / "trace.json")
    with open(tmp_path / "trace.json") as f:
        trace = json.load(f)
    events = [e for e in trace["traceEvents"] if e["ph"] == "X"]
    assert len(events) == report.total.launches == 4
    assert {e["name"] for e in events} == {row.ops for row in report.rows}  # op names, not kernel names
    assert all(not e["name"].startswith(("matmul_", "E_", "R_")) for e in events)
    for e in events:
        assert isinstance(e["ts"], (int, float)) and isinstance(e["dur"], (int, float)) and e["dur"] > 0
        assert e["args"]["line"] == f"test_debugging_aids.py:{line}"
        assert e["args"]["kernel"] in {row.kernel for row in report.rows}
        assert {"global_size", "local_size", "flops", "bytes"} <= set(e["args"]) and isinstance(e["pid"], int)
    starts = [e["ts"] for e in events]
    assert starts == sorted(starts) and starts[0] == 0


# ---------------------------------------------------------------- the user's line of each node

def test_every_node_of_a_statement_is_credited_to_its_line_while_someone_looks():
    x = Tensor(np.ones(3, np.float32))
    before = x * 2  # made while nobody looks
    sites.watch()
    try:
        y = (x * 2 + 1).exp(); line = inspect.currentframe().f_lineno  # noqa: E702
        z = y - 1; next_line = inspect.currentframe().f_lineno  # noqa: E702
        inner = y.node.srcs[0].srcs[0]  # x * 2, never a Tensor of its own
        assert sites.line_of(y.node) == sites.line_of(inner) == f"test_debugging_aids.py:{line}"
        assert sites.line_of(z.node) == f"test_debugging_aids.py:{next_line}" and sites.line_of(before.node) is None
    finally:
        sites.unwatch()
    sites.watch()
    try:
        assert sites.line_of(y.node) is None  # forgotten when the last watcher left
    finally:
        sites.unwatch()
    assert not sites.recording


# ---------------------------------------------------------------- stats: compiling vs loading

def test_stats_count_disk_cache_loads_apart_from_compile_time(tmp_path, monkeypatch):
    monkeypatch.setenv("TGL_CACHE_DIR", str(tmp_path))
    source = f"// {uuid.uuid4()}\n__kernel void twice(__global float* a) {{ a[get_global_id(0)] *= 2.0f; }}\n"
    runtime.reset_stats()
    runtime.compile_kernel(source, "twice")  # built from source
    built = runtime.stats()
    assert built["kernels_compiled"] == 1 and built["compile_seconds"] > 0 and built["cache_load_seconds"] == 0
    runtime.clear_program_cache()
    runtime.compile_kernel(source, "twice")  # loaded from the disk cache
    loaded = runtime.stats()
    assert loaded["cache_hits_disk"] == 1 and loaded["kernels_compiled"] == 1
    assert loaded["cache_load_seconds"] > 0 and loaded["compile_seconds"] == built["compile_seconds"]

