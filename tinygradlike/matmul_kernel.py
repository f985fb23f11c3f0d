"""The matmul kernel class: render kernels/matmul.cl for one (batched, strided) matmul.

C[b, m, n] = epilogue(sum_k A[b, m, k] * B[b, k, n]) is one kernel launch, bias and activation
included (the epilogue). Sizes, strides and offsets are baked into the source as constants; the
engine's program cache makes that free after the first call. The template holds three kernels:

  CPU     BLAS-style blocking (packed B panels, K slices, a register micro tile), one
          work-item per work-group. On a 2-core Zen 4 with Debian's PoCL 3.1 it runs at
          75-100% of numpy/OpenBLAS (~150-190 GFLOPS at 1024 and 2048); PyPI's PoCL 3.0
          gets the 8-wide variant.
  GPU     local-memory tiles (16 x 16 work-items, 4 x 4 outputs each), when device.is_gpu.
  SIMPLE  one work-item per output: double, and CPUs whose local memory is too small.

Every kernel reads A and B through their strides (transposed, negative, broadcast, any offset)
and guards every edge, so the caller never has to copy an operand first.
"""
from __future__ import annotations

import math
import re
from dataclasses import dataclass, replace
from functools import lru_cache
from importlib import resources
from typing import Any


@dataclass(frozen=True)
class MatmulSpec:
    """One matmul as the codegen sees it; the output is contiguous, shape batch_shape + (M, N)."""

    batch_shape: tuple[int, ...]
    M: int
    N: int
    K: int
    a_offset: int
    a_strides: tuple[int, ...]  # batch strides, then (m, k); 0 = broadcast
    b_offset: int
    b_strides: tuple[int, ...]  # batch strides, then (k, n)
    dtype: str = "float"  # "float" or "double": the accumulator, and A and B as read
    in_dtype: str = ""  # A's and B's storage type ("" = dtype; "half" is read into float)
    out_dtype: str = ""  # C's storage type ("" = dtype; for "half" the epilogue returns float)
    epilogue: str = "acc"  # C expression in `acc` (the dot product) and `oidx` (flat output index)
    extra_params: tuple[str, ...] = ()  # kernel parameters after (C, A, B)
    preamble: str = ""  # C helpers placed before the kernel


@dataclass(frozen=True)
class RenderedKernel:
    source: str
    name: str
    global_size: tuple[int, ...]
    local_size: tuple[int, ...] | None
    flops: int
    options: tuple[str, ...]


@dataclass(frozen=True)
class CpuBlocking:
    """Block sizes of the CPU kernel: an MR x NR micro tile (NR = a few VW-wide vectors) in
    registers, an MC x NC macro tile per work-group, K in slices of KC."""

    MR: int
    NR: int
    VW: int
    MC: int
    NC: int
    KC: int


# -cl-mad-enable lets a*b+c become one fused multiply-add. PoCL contracts it anyway: measured,
# no speed difference with it, without it, or with -cl-fast-relaxed-math, which would also
# license rewrites the epilogue may not want, so it stays off.
CPU_OPTIONS = ("-cl-mad-enable",)
GPU_OPTIONS = ("-cl-mad-enable",)


def render_matmul(spec: MatmulSpec, device, suffix: str = "") -> RenderedKernel:
    """Render the matmul kernel for `device` (attributes is_gpu, is_cpu, max_work_group_size,
    local_mem_size, name, platform_version). Launch with args (C, A, B, *extra_params) and the
    returned global/local sizes. The epilogue sees `acc`, `oidx`, the kernel parameters and the
    preamble; it must not use the all-upper-case names the template defines (MAT_M, MR, ...).
    The kernel is named matmul_<variant><suffix>."""
    check_spec(spec)
    if device.is_gpu:
        return render_gpu(spec, device, name="matmul_gpu" + suffix)
    if spec.dtype == "float":
        bl = fit_blocking(spec, cpu_blocking(device), getattr(device, "compute_units", 2))
        bl = fit_local_memory(spec, bl, device.local_mem_size)
        if bl is not None:
            return render_cpu(spec, bl, name="matmul_cpu" + suffix)
    return render_simple(spec, name="matmul_simple" + suffix)


def check_spec(spec: MatmulSpec) -> None:
    nb = len(spec.batch_shape)
    if len(spec.a_strides) != nb + 2 or len(spec.b_strides) != nb + 2:
        raise ValueError(
            f"matmul strides must be batch strides + 2: batch_shape {spec.batch_shape}, "
            f"a_strides {spec.a_strides}, b_strides {spec.b_strides}")
    if spec.dtype not in ("float", "double"):
        raise ValueError(f"matmul dtype must be 'float' or 'double', got {spec.dtype!r}")
    if spec.in_dtype not in ("", spec.dtype) and (spec.in_dtype, spec.dtype) != ("half", "float"):
        raise ValueError(f"matmul in_dtype must be {spec.dtype!r} or 'half' for float, got {spec.in_dtype!r}")
    if spec.M <= 0 or spec.N <= 0 or math.prod(spec.batch_shape) <= 0:
        shape = spec.batch_shape + (spec.M, spec.N)
        raise ValueError(f"matmul output {shape} is empty: launch nothing")
    if spec.K < 0:
        raise ValueError(f"matmul K must be >= 0, got {spec.K}")


def cpu_blocking(device) -> CpuBlocking:
    """Blocking for a CPU device (measured on a 2-core Zen 4; see the module docstring).

    PoCL names the LLVM target CPU in the device name ('pthread-skylake-avx512-...'): there,
    16-wide vectors and an 8 x 16 micro tile (8 of the 32 vector registers hold C). Elsewhere
    8-wide vectors (AVX2: 16 registers) and a 6 x 16 micro tile (12 registers hold C).
    PoCL 3.0 (PyPI, LLVM 14) crashes building 16-wide kernels, so it always gets 8-wide.
    """
    if "avx512" in device.name and "PoCL 3.0" not in device.platform_version:
        return CpuBlocking(MR=8, NR=16, VW=16, MC=128, NC=256, KC=256)
    return CpuBlocking(MR=6, NR=16, VW=8, MC=96, NC=256, KC=256)


def fit_blocking(spec: MatmulSpec, bl: CpuBlocking, cores: int) -> CpuBlocking:
    """Shrink the macro tile to the problem (no zero panels to pack) and until there are
    work-groups for every core; each tile stays a multiple of the micro tile."""
    def groups(b: CpuBlocking) -> int:
        return -(-spec.M // b.MC) * -(-spec.N // b.NC) * math.prod(spec.batch_shape)
    bl = replace(bl, MC=min(bl.MC, round_up(spec.M, bl.MR)), NC=min(bl.NC, round_up(spec.N, bl.NR)),
                 KC=min(bl.KC, max(spec.K, 1)))
    while groups(bl) < 2 * cores and (bl.MC > bl.MR or bl.NC > bl.NR):
        if bl.NC >= bl.MC and bl.NC > bl.NR:
            bl = replace(bl, NC=round_up(bl.NC // 2, bl.NR))
        else:
            bl = replace(bl, MC=round_up(bl.MC // 2, bl.MR))
    return bl


def fit_local_memory(spec: MatmulSpec, bl: CpuBlocking, local_mem_size: int) -> CpuBlocking | None:
    """Halve KC, then NC, then MC until the packed B slice and the partial sums fit (PoCL has
    1 MiB of local memory; other CPU drivers may have 32 KiB). None if even the smallest fails."""
    while cpu_local_bytes(spec, bl) > local_mem_size:
        if bl.KC > 16:
            bl = replace(bl, KC=bl.KC // 2)
        elif bl.NC > bl.NR:
            bl = replace(bl, NC=round_up(bl.NC // 2, bl.NR))
        elif bl.MC > bl.MR:
            bl = replace(bl, MC=round_up(bl.MC // 2, bl.MR))
        else:
            return None
    return bl


def cpu_local_bytes(spec: MatmulSpec, bl: CpuBlocking) -> int:
    k_blocks = max(1, -(-spec.K // bl.KC))
    return dtype_size(spec) * (bl.KC * bl.NC + (bl.MC * bl.NC if k_blocks > 1 else 0))


def dtype_size(spec: MatmulSpec) -> int:
    return 4 if spec.dtype == "float" else 8


def round_up(x: int, multiple: int) -> int:
    return -(-x // multiple) * multiple


def render_cpu(spec: MatmulSpec, bl: CpuBlocking, name: str = "matmul_cpu") -> RenderedKernel:
    """BLAS-style kernel: one work-item per MC x NC macro tile (see kernels/matmul.cl)."""
    nv = bl.NR // bl.VW
    defines = {"MATMUL_CPU": 1, **common_defines(spec),
               "MR": bl.MR, "NR": bl.NR, "VW": bl.VW, "MC": bl.MC, "NC": bl.NC, "KC": bl.KC,
               "K_BLOCKS": max(1, -(-spec.K // bl.KC)),
               "FOR_EACH_ROW(X)": " ".join(f"X({i})" for i in range(bl.MR)),
               "FOR_EACH_VEC(X)": " ".join(f"X({v})" for v in range(nv)),
               "FOR_EACH_ACC(X)": " ".join(f"X({i}, {v})" for i in range(bl.MR) for v in range(nv))}
    gsize = (-(-spec.N // bl.NC), -(-spec.M // bl.MC), math.prod(spec.batch_shape))
    return RenderedKernel(render_source(spec, name, defines), name, gsize, (1, 1, 1),
                          flops(spec), CPU_OPTIONS)


def render_gpu(spec: MatmulSpec, device, name: str = "matmul_gpu") -> RenderedKernel:
    """Local-memory tiles: TS x TS work-items, each WPT x WPT outputs (see kernels/matmul.cl)."""
    ts = 16 if device.max_work_group_size >= 256 else 8
    wpt, kt = 4, 16
    tile = ts * wpt
    defines = {"MATMUL_GPU": 1, **common_defines(spec), "TS": ts, "WPT": wpt, "KT": kt}
    gsize = (-(-spec.N // tile) * ts, -(-spec.M // tile) * ts, math.prod(spec.batch_shape))
    return RenderedKernel(render_source(spec, name, defines), name, gsize, (ts, ts, 1),
                          flops(spec), GPU_OPTIONS)


def render_simple(spec: MatmulSpec, name: str = "matmul_simple") -> RenderedKernel:
    """One work-item per output element: the reference kernel, used for double."""
    defines = {"MATMUL_SIMPLE": 1, **common_defines(spec)}
    gsize = (spec.N, spec.M, math.prod(spec.batch_shape))
    return RenderedKernel(render_source(spec, name, defines), name, gsize, None, flops(spec), ())


def flops(spec: MatmulSpec) -> int:
    return 2 * math.prod(spec.batch_shape) * spec.M * spec.N * spec.K


def common_defines(spec: MatmulSpec) -> dict[str, Any]:
    nb = len(spec.batch_shape)
    a_sm, a_sk = spec.a_strides[nb:]
    b_sk, b_sn = spec.b_strides[nb:]
    in_half, out_half = spec.in_dtype == "half", spec.out_dtype == "half"
    return {
        "DTYPE": spec.dtype,
        "IN_T": spec.in_dtype or spec.dtype,
        "OUT_T": spec.out_dtype or spec.dtype,
        # half is only ever read and written through these (no cl_khr_fp16 needed)
        "LOAD_IN(p, i)": "vload_half((i), (p))" if in_half else "(p)[i]",
        "VLOAD_IN": "CONCAT(vload_half, VW)" if in_half else "VLOAD",
        "STORE_OUT(p, i, v)": "vstore_half_rte((v), (i), (p))" if out_half else "(p)[i] = (v)",
        "MAT_M": spec.M, "MAT_N": spec.N, "MAT_K": spec.K,
        "A_OFFSET": spec.a_offset, "A_SM": a_sm, "A_SK": a_sk,
        "B_OFFSET": spec.b_offset, "B_SK": b_sk, "B_SN": b_sn,
        "A_BATCH_OFFSET(b)": batch_offset_expr(spec.batch_shape, spec.a_strides[:nb]),
        "B_BATCH_OFFSET(b)": batch_offset_expr(spec.batch_shape, spec.b_strides[:nb]),
    }


def render_defines(defines: dict[str, Any]) -> str:
    return "\n".join(f"#define {name} {value}" for name, value in defines.items())


def render_source(spec: MatmulSpec, name: str, defines: dict[str, Any]) -> str:
    return fill_template(load_template(), {
        "PREAMBLE": spec.preamble,
        "DEFINES": render_defines(defines),
        "NAME": name,
        "EXTRA_PARAMS": "".join(", " + p for p in spec.extra_params),
        "EPILOGUE": spec.epilogue,
    })


def batch_offset_expr(batch_shape: tuple[int, ...], strides: tuple[int, ...]) -> str:
    """C expression for an operand's offset of flat batch index `b` (row-major over batch_shape)."""
    terms, inner = [], 1
    for size, stride in reversed(list(zip(batch_shape, strides))):
        if stride != 0 and size != 1:
            index = f"(b) / {inner} % {size}" if inner > 1 else f"(b) % {size}"
            terms.append(f"({index}) * {stride}")
        inner *= size
    return "(" + " + ".join(reversed(terms)) + ")" if terms else "0"


@lru_cache(maxsize=1)
def load_template() -> str:
    """kernels/matmul.cl, installed with the package as tinygradlike.kernels."""
    return resources.files("tinygradlike.kernels").joinpath("matmul.cl").read_text()


def fill_template(template: str, values: dict[str, str]) -> str:
    """Replace every {{NAME}} in the template; an unknown or missing name is an error."""
    missing = set(re.findall(r"\{\{(\w+)\}\}", template)) - set(values)
    if missing:
        raise KeyError(f"matmul template needs values for {sorted(missing)}")
    return re.sub(r"\{\{(\w+)\}\}", lambda m: values[m.group(1)], template)
