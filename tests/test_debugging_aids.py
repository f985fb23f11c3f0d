"""The tools for looking inside: a picture of the tensor graph, and a per-kernel profile."""
import re

import numpy as np

from tinygradlike import Tensor, profile


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
