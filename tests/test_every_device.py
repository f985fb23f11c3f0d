"""The tensor layer works the same on every OpenCL device present (here: Debian's PoCL and the
PyPI one). Each device runs in its own process, selected with TGL_DEVICE as a user would.
A driver that cannot build at all is skipped (tests/opencl_drivers.py)."""
import os
import subprocess
import sys

import pytest
from opencl_drivers import build_failure_at

from tinygradlike import runtime

CHECK = r"""
import numpy as np
from tinygradlike import Tensor, runtime
rng = np.random.default_rng(0)
a, b = rng.standard_normal((37, 29)).astype(np.float32), rng.standard_normal((29, 41)).astype(np.float32)
c = rng.standard_normal(41).astype(np.float32)
x, w, bias = Tensor(a, requires_grad=True), Tensor(b), Tensor(c)
y = (x @ w + bias).relu()
np.testing.assert_allclose(y.numpy(), np.maximum(a.astype(np.float64) @ b + c, 0), rtol=1e-4, atol=1e-5)
np.testing.assert_allclose(x.exp().sum(axis=1).numpy(), np.exp(a.astype(np.float64)).sum(1), rtol=1e-5)
np.testing.assert_allclose(x.T[::2].softmax(-1).numpy().sum(-1), 1.0, rtol=1e-5)
big = rng.random(1_000_003).astype(np.float32)
assert abs(Tensor(big).sum().item() - big.astype(np.float64).sum()) < 1e-5 * big.sum()
y.sum().backward()
np.testing.assert_allclose(x.grad.numpy(), ((a @ b + c) > 0) @ b.T, rtol=1e-4, atol=1e-5)
print("OK", runtime.get_device().name)
"""


def device_indices():
    try:
        return [d["index"] for d in runtime.list_devices()]
    except Exception:  # no platform at all: the runtime's own tests cover the error message
        return []


@pytest.mark.parametrize("index", device_indices())
def test_core_ops_on_each_device(index):
    failure = build_failure_at(index)
    if failure is not None:
        pytest.skip(f"the OpenCL driver of device {index} cannot build a trivial kernel: {failure}")
    env = {**os.environ, "TGL_DEVICE": index}
    done = subprocess.run([sys.executable, "-c", CHECK], env=env, capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stdout + done.stderr
    assert "OK" in done.stdout
