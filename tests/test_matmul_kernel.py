"""The matmul kernel class: rendered kernels compiled and run on every OpenCL platform present
(Debian's PoCL and PyPI's PoCL here), compared with numpy in float64.

Operands are made the way views make them: a flat buffer plus offset and strides (transposed,
negative, broadcast with stride 0). Each case is one PoCL build (0.1-0.8 s), so cases are few
and each covers several edges at once.
"""
from __future__ import annotations

import math
from dataclasses import dataclass, replace

import numpy as np
import pytest
from opencl_drivers import skip_reason

from tinygradlike.matmul_kernel import (
    CpuBlocking, MatmulSpec, cpu_blocking, cpu_local_bytes, fill_template, fit_local_memory,
    render_cpu, render_gpu, render_matmul, render_simple,
)

cl = pytest.importorskip("pyopencl")


@dataclass(frozen=True)
class DeviceInfo:
    """The device attributes render_matmul reads (the runtime's device object has them too)."""

    is_gpu: bool = False
    is_cpu: bool = True
    max_work_group_size: int = 4096
    local_mem_size: int = 1 << 20
    name: str = "pthread-skylake-avx512-AMD EPYC"
    platform_version: str = "OpenCL 3.0 PoCL 3.1+debian"


def opencl_platforms():
    try:
        return [p for p in cl.get_platforms() if p.get_devices()]
    except cl.Error:
        return []


PLATFORMS = opencl_platforms()


@pytest.fixture(scope="module", params=PLATFORMS or [None],
                ids=[p.version.split("  ")[0].replace(" ", "-") for p in PLATFORMS]
                or ["no-opencl"])
def device(request):
    """(context, queue, DeviceInfo) for the first device of each OpenCL platform."""
    if request.param is None:
        pytest.skip("no OpenCL platform")
    dev = request.param.get_devices()[0]
    reason = skip_reason(dev, request.param.version)
    if reason:
        pytest.skip(reason)
    ctx = cl.Context([dev])
    info = DeviceInfo(
        is_gpu=bool(dev.type & cl.device_type.GPU), is_cpu=bool(dev.type & cl.device_type.CPU),
        max_work_group_size=dev.max_work_group_size, local_mem_size=dev.local_mem_size,
        name=dev.name, platform_version=request.param.version)
    return ctx, cl.CommandQueue(ctx), info


# --- operands as views: flat storage + offset + strides ------------------------------------------

@dataclass
class Operand:
    storage: np.ndarray  # flat, what the kernel's buffer holds
    offset: int
    strides: tuple[int, ...]  # in elements
    shape: tuple[int, ...]

    def view(self) -> np.ndarray:
        item = self.storage.itemsize
        return np.lib.stride_tricks.as_strided(
            self.storage[self.offset:], self.shape, tuple(s * item for s in self.strides))


def contiguous_strides(shape):
    strides, acc = [], 1
    for size in reversed(shape):
        strides.append(acc if size != 1 else 0)
        acc *= size
    return tuple(reversed(strides))


def operand(rng, shape, *, dtype=np.float32, order=None, offset=0, broadcast=(), flip=()):
    """A view of `shape` into a fresh flat buffer. order: storage order of the dims (a
    permutation, e.g. (1, 0) = transposed); broadcast: dims with stride 0; flip: negative dims."""
    order = order or tuple(range(len(shape)))
    stored = tuple(1 if d in broadcast else shape[d] for d in order)
    stored_strides = contiguous_strides(stored)
    strides = [0] * len(shape)
    for pos, d in enumerate(order):
        strides[d] = 0 if d in broadcast else stored_strides[pos]
    base = offset
    for d in flip:
        base += (shape[d] - 1) * strides[d]
        strides[d] = -strides[d]
    storage = rng.standard_normal(offset + max(1, math.prod(stored)) + 3).astype(dtype)
    return Operand(storage, base, tuple(strides), tuple(shape))


def make_spec(a: Operand, b: Operand, dtype="float", **kw) -> MatmulSpec:
    *batch, M, K = a.shape
    N = b.shape[-1]
    return MatmulSpec(tuple(batch), M, N, K, a.offset, a.strides, b.offset, b.strides,
                      dtype=dtype, **kw)


def run(device, rendered, a: Operand, b: Operand, out_shape, extra=()):
    ctx, queue, _ = device
    mf = cl.mem_flags
    bufs = [cl.Buffer(ctx, mf.READ_ONLY | mf.COPY_HOST_PTR, hostbuf=x)
            for x in (a.storage, b.storage, *extra)]
    out = np.empty(out_shape, a.storage.dtype)
    c_buf = cl.Buffer(ctx, mf.WRITE_ONLY, size=max(out.nbytes, 4))
    program = cl.Program(ctx, rendered.source).build(options=list(rendered.options))
    getattr(program, rendered.name)(queue, rendered.global_size, rendered.local_size, c_buf, *bufs)
    cl.enqueue_copy(queue, out, c_buf)
    return out


def reference(a: Operand, b: Operand):
    av, bv = a.view().astype(np.float64), b.view().astype(np.float64)
    return av @ bv, np.abs(av) @ np.abs(bv)


def assert_close(out, a, b, K, rtol=1e-6):
    """Error of a K-term dot product grows like sqrt(K) rounding errors of |a|.|b|."""
    ref, scale = reference(a, b)
    tol = rtol * math.sqrt(max(K, 1)) * scale + 1e-30
    bad = np.abs(out - ref) > tol
    assert not bad.any(), f"{bad.sum()} of {bad.size} wrong, worst {np.abs(out - ref).max():.3g}"


def check_matmul(device, a, b, dtype="float", render=None, **kw):
    spec = make_spec(a, b, dtype=dtype, **kw)
    rendered = (render or render_matmul)(spec, device[2])
    out = run(device, rendered, a, b, spec.batch_shape + (spec.M, spec.N))
    assert_close(out, a, b, spec.K, rtol=1e-6 if dtype == "float" else 1e-14)
    return rendered


# --- the default (CPU) kernel on every platform -------------------------------------------------

@pytest.mark.parametrize("M,N,K", [
    (1, 1, 1),
    (1000, 999, 1001),  # edge macro and micro tiles, several K slices with a short last one
    (1, 37, 300),       # a row vector times a matrix
    (37, 1, 300),       # a matrix times a column vector
    (45, 70, 1),        # an outer product
    (33, 50, 13),       # K not a multiple of the vector width, M and N not of the tiles
])
def test_matmul_matches_numpy_for_edge_sizes(device, M, N, K):
    rng = np.random.default_rng(M * 7 + N * 3 + K)
    check_matmul(device, operand(rng, (M, K)), operand(rng, (K, N)))


def test_transposed_operands_with_unaligned_offsets(device):
    rng = np.random.default_rng(1)
    a = operand(rng, (67, 300), order=(1, 0), offset=3)  # A[m, k] at 3 + m + 300k
    b = operand(rng, (300, 41), order=(1, 0), offset=5)  # B[k, n] at n*300 + k: no vector loads
    check_matmul(device, a, b)


def test_unaligned_contiguous_operands(device):
    rng = np.random.default_rng(2)
    check_matmul(device, operand(rng, (40, 29), offset=1), operand(rng, (29, 70), offset=7))


def test_negative_strides(device):
    rng = np.random.default_rng(3)
    check_matmul(device, operand(rng, (20, 30), flip=(0,)), operand(rng, (30, 40), flip=(0, 1)))


def test_broadcast_multi_dim_batch(device):
    rng = np.random.default_rng(4)
    a = operand(rng, (2, 3, 17, 40), broadcast=(1,))  # the same A for each of the 3
    # B transposed, and shared by the 2
    b = operand(rng, (2, 3, 40, 35), broadcast=(0,), order=(0, 1, 3, 2))
    check_matmul(device, a, b)


def test_epilogue_with_bias_buffer_and_relu(device):
    rng = np.random.default_rng(5)
    M, N, K = 50, 70, 90
    a, b = operand(rng, (M, K)), operand(rng, (K, N))
    bias = rng.standard_normal(N).astype(np.float32)
    spec = make_spec(a, b, epilogue=f"max(acc + bias[oidx % {N}], 0.0f)",
                     extra_params=("__global const float* restrict bias",))
    out = run(device, render_matmul(spec, device[2]), a, b, (M, N), extra=(bias,))
    ref = np.maximum(a.view().astype(np.float64) @ b.view() + bias, 0)
    np.testing.assert_allclose(out, ref, rtol=1e-4, atol=1e-4)


def test_epilogue_sees_zero_for_empty_k(device):
    rng = np.random.default_rng(6)
    a, b = operand(rng, (5, 0)), operand(rng, (0, 9))
    spec = make_spec(a, b, epilogue="acc + 2.0f", preamble="/* helpers go here */")
    out = run(device, render_matmul(spec, device[2]), a, b, (5, 9))
    np.testing.assert_array_equal(out, np.full((5, 9), 2.0, np.float32))


def test_float64_matches_numpy_exactly_enough(device):
    rng = np.random.default_rng(7)
    a = operand(rng, (2, 13, 21), dtype=np.float64, order=(0, 2, 1))
    b = operand(rng, (2, 21, 9), dtype=np.float64, broadcast=(0,))
    check_matmul(device, a, b, dtype="double")


def test_other_cpu_blockings_are_correct_too(device):
    """The kernels chosen for other CPUs (8- vs 16-wide, several vectors per row) also work here."""
    blockings = [cpu_blocking(DeviceInfo(name="pthread-AMD EPYC")),  # 8-wide, 6 x 16
                 CpuBlocking(MR=4, NR=24, VW=8, MC=8, NC=48, KC=64)]  # 3 vectors per row
    if "PoCL 3.0" not in device[2].platform_version:  # its LLVM 14 crashes on 16-wide kernels
        blockings.append(cpu_blocking(DeviceInfo(name="pthread-skylake-avx512-AMD EPYC")))
    rng = np.random.default_rng(8)
    for blocking in blockings:
        check_matmul(device, operand(rng, (70, 300)), operand(rng, (300, 75)),
                     render=lambda spec, dev, bl=blocking: render_cpu(spec, bl))


# --- the GPU variant, run on whatever device is here --------------------------------------------

def test_gpu_tiled_kernel_is_correct(device):
    rng = np.random.default_rng(9)
    a = operand(rng, (2, 70, 37), order=(0, 2, 1), offset=2)
    b = operand(rng, (2, 37, 65), broadcast=(0,))
    check_matmul(device, a, b, render=render_gpu)


def test_gpu_tiled_kernel_with_epilogue_and_small_groups(device):
    rng = np.random.default_rng(10)
    M, N, K = 9, 130, 20
    a, b = operand(rng, (M, K)), operand(rng, (K, N), order=(1, 0))
    bias = rng.standard_normal(N).astype(np.float32)
    spec = make_spec(a, b, epilogue=f"max(acc + bias[oidx % {N}], 0.0f)",
                     extra_params=("__global const float* restrict bias",))
    small = replace(device[2], max_work_group_size=64)  # 8 x 8 work-items
    rendered = render_gpu(spec, small)
    assert rendered.local_size == (8, 8, 1)
    out = run(device, rendered, a, b, (M, N), extra=(bias,))
    ref = np.maximum(a.view().astype(np.float64) @ b.view() + bias, 0)
    np.testing.assert_allclose(out, ref, rtol=1e-4, atol=1e-4)


# --- choices made without a device --------------------------------------------------------------

def square_spec(n=64, dtype="float"):
    return MatmulSpec((), n, n, n, 0, (n, 1), 0, (n, 1), dtype=dtype)


def test_gpu_device_gets_the_tiled_kernel():
    gpu = DeviceInfo(is_gpu=True, is_cpu=False, max_work_group_size=1024)
    rendered = render_matmul(square_spec(), gpu)
    assert rendered.name == "matmul_gpu" and rendered.local_size == (16, 16, 1)


def test_cpu_device_gets_the_blocked_kernel_with_one_work_item_per_group():
    rendered = render_matmul(square_spec(1000), DeviceInfo())
    assert rendered.name == "matmul_cpu" and rendered.local_size == (1, 1, 1)
    assert rendered.flops == 2 * 1000 ** 3


def test_vector_width_follows_the_cpu():
    assert cpu_blocking(DeviceInfo()).VW == 16
    assert cpu_blocking(DeviceInfo(name="pthread-AMD EPYC")).VW == 8
    assert cpu_blocking(DeviceInfo(platform_version="OpenCL 3.0 PoCL 3.0-rc2")).VW == 8


def test_double_uses_the_simple_kernel_on_cpu():
    assert render_matmul(square_spec(dtype="double"), DeviceInfo()).name == "matmul_simple"


def test_small_local_memory_shrinks_the_blocks_or_falls_back():
    spec = square_spec(1024)
    blocking = fit_local_memory(spec, cpu_blocking(DeviceInfo()), 32 * 1024)
    assert blocking is not None and cpu_local_bytes(spec, blocking) <= 32 * 1024
    assert render_matmul(spec, DeviceInfo(local_mem_size=32 * 1024)).name == "matmul_cpu"
    assert render_matmul(spec, DeviceInfo(local_mem_size=1024)).name == "matmul_simple"


def test_small_problems_are_split_for_every_core():
    spec = MatmulSpec((), 64, 128, 784, 0, (784, 1), 0, (128, 1))
    rendered = render_matmul(spec, DeviceInfo())
    assert math.prod(rendered.global_size) >= 4


def test_sizes_and_strides_are_baked_in():
    spec = MatmulSpec((3,), 5, 6, 7, 11, (0, 1, 5), 2, (42, 6, 1))
    source = render_simple(spec).source
    for line in ("#define MAT_M 5", "#define MAT_K 7", "#define A_OFFSET 11", "#define A_SM 1",
                 "#define A_SK 5", "#define A_BATCH_OFFSET(b) 0",
                 "#define B_BATCH_OFFSET(b) (((b) % 3) * 42)"):
        assert line in source


def test_template_placeholders_must_all_be_filled():
    with pytest.raises(KeyError, match="NAME"):
        fill_template("void {{NAME}}() {}", {})


def test_mismatched_strides_are_rejected_with_shapes_in_message():
    with pytest.raises(ValueError, match=r"batch_shape \(2,\)"):
        render_matmul(MatmulSpec((2,), 3, 3, 3, 0, (1, 1), 0, (9, 3, 1)), DeviceInfo())


def test_empty_output_is_rejected():
    with pytest.raises(ValueError, match="empty"):
        render_matmul(MatmulSpec((), 0, 3, 3, 0, (3, 1), 0, (3, 1)), DeviceInfo())
