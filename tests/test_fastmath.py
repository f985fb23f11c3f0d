"""TGL_FASTMATH=1 swaps in OpenCL's native_* functions (fast on CPUs, less exact); exact math
stays the default, so gradient checks stay sharp."""
import os
import subprocess
import sys

CHECK = r"""
import numpy as np
from tinygradlike import Tensor, runtime
from tinygradlike.codegen import render_group
from tinygradlike.schedule import group_kernels
x = np.linspace(-5, 5, 1001).astype(np.float32)
y = Tensor(x).exp().sin()
src = render_group(group_kernels([y.node])[0], lambda n: n.buffer is not None, runtime.get_device()).source
np.testing.assert_allclose(y.numpy(), np.sin(np.exp(x.astype(np.float64))), rtol=1e-3, atol=1e-3)
print("native" if "native_exp" in src else "exact")
"""


def run(fastmath: str) -> str:
    env = {**os.environ, "TGL_FASTMATH": fastmath}
    done = subprocess.run([sys.executable, "-c", CHECK], env=env, capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stdout + done.stderr
    return done.stdout.strip()


def test_fast_math_uses_native_functions_within_tolerance():
    assert run("1") == "native"


def test_exact_math_is_the_default():
    assert run("0") == "exact"
