"""The runtime's promises: device choice, program caches, buffers and the pool, debug output.

Kernels here are real: compiled by PoCL and run, nothing mocked. Every test shares a handful of
sources, so the in-memory program cache keeps the number of real builds small."""
import re
import uuid

import numpy as np
import pytest
from opencl_drivers import skip_reason

from tinygradlike import runtime as rt
from tinygradlike.dtypes import DType, dtypes

ADD_ONE = """
__kernel void add_one(__global float* a, int n) {
  int i = get_global_id(0);
  if (i < n) a[i] += 1.0f;
}
"""
SCALE_F64 = """
#pragma OPENCL EXTENSION cl_khr_fp64 : enable
__kernel void scale(__global double* out, __global const double* x, double k) {
  int i = get_global_id(0);
  out[i] = x[i] * k;
}
"""


def info(index, kind="cpu", platform="Portable Computing Language", version="OpenCL 3.0 PoCL 3.1+debian",
         name="pthread-cpu", pip=False):
    return {"index": index, "platform_name": platform, "platform_version": version, "name": name,
            "kind": kind, "is_pip_pocl": pip}


PIP_POCL = info("0:0", version="OpenCL 3.0 PoCL 3.0-rc2  Linux", name="pthread-AMD EPYC", pip=True)
DEBIAN_POCL = info("1:0", version="OpenCL 3.0 PoCL 3.1+debian  Linux", name="pthread-skylake")
NVIDIA = info("2:0", kind="gpu", platform="NVIDIA CUDA", version="OpenCL 3.0 CUDA 12.4", name="NVIDIA H100")


def find_device(pip: bool) -> rt.Device:
    for d in rt.list_devices():
        is_pocl = "portable computing language" in d["platform_name"].lower()
        if is_pocl and d["is_pip_pocl"] == pip:
            device = rt.open_device(d["index"])
            reason = skip_reason(device.cl_device, d["index"])
            if reason:
                pytest.skip(reason)
            return device
    pytest.skip("the pip PoCL is not installed" if pip else "no system PoCL (apt-get install pocl-opencl-icd)")


@pytest.fixture(params=["system-pocl", "pip-pocl"])
def pocl(request) -> rt.Device:
    return find_device(pip=request.param == "pip-pocl")


@pytest.fixture
def device() -> rt.Device:
    return rt.get_device()


@pytest.fixture
def debug_level():
    before = rt.debug_level()
    yield rt.set_debug
    rt.set_debug(before)


def run_add_one(device: rt.Device, values: np.ndarray) -> np.ndarray:
    kernel = rt.compile_kernel(ADD_ONE, "add_one", device=device)
    buf = rt.Buffer.from_numpy(values.astype(np.float32), device=device)
    kernel((len(values),), None, buf, np.int32(len(values)), flops=len(values), nbytes=8 * len(values))
    return buf.to_numpy(np.float32, values.shape)


# ---------------------------------------------------------------- dtypes

def test_dtypes_from_any_accepts_names_numpy_and_python_types():
    assert dtypes.from_any("float32") is dtypes.float32
    assert dtypes.from_any(np.float64) is dtypes.float64
    assert dtypes.from_any(np.dtype("int32")) is dtypes.int32
    assert dtypes.from_any(float) is dtypes.float32
    assert dtypes.from_any(int) is dtypes.int32
    assert dtypes.from_any(bool) is dtypes.bool
    assert dtypes.from_any(dtypes.bool) is dtypes.bool


def test_unsupported_dtype_error_names_it_and_the_supported_ones():
    with pytest.raises(ValueError, match=r"unsupported dtype int8.*bool, uint8, int32, int64, float16, float32, float64"):
        dtypes.from_numpy(np.int8)
    with pytest.raises(ValueError, match="complex64"):
        dtypes.from_any("complex64")


def test_bool_is_one_byte_uchar_on_the_device():
    assert dtypes.bool.cl_type == "uchar" and dtypes.bool.itemsize == 1 and dtypes.bool.is_bool
    assert isinstance(dtypes.default, DType) and dtypes.default is dtypes.float32


def test_promote_follows_bool_int_float32_float64():
    assert dtypes.promote(dtypes.bool, dtypes.int32) is dtypes.int32
    assert dtypes.promote(dtypes.float32, dtypes.int32) is dtypes.float32
    assert dtypes.promote(dtypes.float32, dtypes.float64) is dtypes.float64
    assert dtypes.promote(dtypes.bool, dtypes.bool) is dtypes.bool


# ---------------------------------------------------------------- device choice (pure data)

def test_no_platform_error_says_how_to_install_one():
    with pytest.raises(RuntimeError) as e:
        rt.choose_device([], None)
    message = str(e.value)
    assert "pip install pocl-binary-distribution" in message
    assert "apt-get install pocl-opencl-icd" in message
    assert "OpenCL driver" in message


def test_default_prefers_gpu_then_system_cpu_then_pip_pocl():
    assert rt.choose_device([PIP_POCL, DEBIAN_POCL, NVIDIA], None) == "2:0"
    assert rt.choose_device([PIP_POCL, DEBIAN_POCL], None) == "1:0"
    assert rt.choose_device([PIP_POCL], "") == "0:0"


def test_spec_by_index_or_case_insensitive_substring():
    devices = [PIP_POCL, DEBIAN_POCL, NVIDIA]
    assert rt.choose_device(devices, "1:0") == "1:0"
    assert rt.choose_device(devices, "3.0-RC2") == "0:0"
    assert rt.choose_device(devices, "Debian") == "1:0"
    assert rt.choose_device(devices, "nvidia") == "2:0"


def test_spec_matching_several_devices_uses_the_preference():
    assert rt.choose_device([PIP_POCL, DEBIAN_POCL, NVIDIA], "cpu") == "1:0"
    assert rt.choose_device([PIP_POCL, DEBIAN_POCL], "pocl") == "1:0"


def test_bad_spec_lists_devices_and_accepted_formats():
    with pytest.raises(ValueError) as e:
        rt.choose_device([PIP_POCL, DEBIAN_POCL], "9:9")
    message = str(e.value)
    assert "'9:9'" in message and "pthread-skylake" in message and "pthread-AMD EPYC" in message
    assert '"P:D"' in message and "substring" in message


# ---------------------------------------------------------------- real devices

def test_list_devices_marks_exactly_one_default(device):
    devices = rt.list_devices()
    assert [d["index"] for d in devices if d["default"]] == [device.index]
    assert re.search(rf"^\* {re.escape(device.index)} ", rt.describe_devices(), re.M)


def test_device_reports_its_capabilities(device):
    assert device.kind in ("gpu", "cpu", "other") and device.is_cpu == (device.kind == "cpu")
    assert device.compute_units >= 1 and device.max_work_group_size >= 1
    assert device.driver_version in device.cache_key and device.name in device.cache_key


def test_kernel_runs_on_each_pocl(pocl):
    values = np.arange(10, dtype=np.float32)
    np.testing.assert_array_equal(run_add_one(pocl, values), values + 1)


def test_float64_kernel_where_the_device_has_fp64(device):
    if not device.has_fp64:
        pytest.skip(f"{device.name} has no cl_khr_fp64")
    x = np.array([1 / 3, 2.0, -1e-300], dtype=np.float64)
    out = rt.Buffer(x.nbytes)
    rt.compile_kernel(SCALE_F64, "scale")((3,), None, out, rt.Buffer.from_numpy(x), np.float64(3.0))
    np.testing.assert_array_equal(out.to_numpy(np.float64, (3,)), x * 3.0)


def test_launches_do_not_synchronize(device):
    kernel = rt.compile_kernel(ADD_ONE, "add_one")
    buf = rt.Buffer.from_numpy(np.zeros(4, dtype=np.float32))
    rt.reset_stats()
    for _ in range(5):
        kernel((4,), None, buf, np.int32(4))
    assert rt.stats()["synchronizations"] == 0 and rt.stats()["kernels_launched"] == 5
    np.testing.assert_array_equal(buf.to_numpy(np.float32, (4,)), np.full(4, 5.0))


def test_wrong_kernel_name_lists_the_programs_kernels(device):
    with pytest.raises(ValueError, match="add_one"):
        rt.compile_kernel(ADD_ONE, "add_two")


# ---------------------------------------------------------------- program caches

def test_second_compile_is_a_memory_hit(device):
    rt.compile_kernel(ADD_ONE, "add_one")
    rt.reset_stats()
    rt.compile_kernel(ADD_ONE, "add_one")
    assert rt.stats()["cache_hits_memory"] == 1 and rt.stats()["kernels_compiled"] == 0


def test_disk_cache_loads_the_binary_without_a_new_build(device, tmp_path, monkeypatch):
    monkeypatch.setenv("TGL_CACHE_DIR", str(tmp_path))
    source = f"// {uuid.uuid4()}\n{ADD_ONE}"  # unique, so no other cache has it
    rt.reset_stats()
    rt.compile_kernel(source, "add_one")
    assert rt.stats()["kernels_compiled"] == 1 and len(list(tmp_path.glob("*.bin"))) == 1
    rt.clear_program_cache()
    kernel = rt.compile_kernel(source, "add_one")
    assert rt.stats()["kernels_compiled"] == 1 and rt.stats()["cache_hits_disk"] == 1
    buf = rt.Buffer.from_numpy(np.ones(3, dtype=np.float32))
    kernel((3,), None, buf, np.int32(3))
    np.testing.assert_array_equal(buf.to_numpy(np.float32, (3,)), np.full(3, 2.0))


def test_unloadable_cached_binary_falls_back_to_a_source_build(device, tmp_path, monkeypatch):
    monkeypatch.setenv("TGL_CACHE_DIR", str(tmp_path))
    source = f"// {uuid.uuid4()}\n{ADD_ONE}"
    rt._binary_path(device, source, ()).write_bytes(b"not a program binary")
    rt.reset_stats()
    kernel = rt.compile_kernel(source, "add_one")
    assert rt.stats()["kernels_compiled"] == 1 and rt.stats()["cache_hits_disk"] == 0
    assert rt._binary_path(device, source, ()).read_bytes() != b"not a program binary"
    buf = rt.Buffer.from_numpy(np.zeros(2, dtype=np.float32))
    kernel((2,), None, buf, np.int32(2))
    np.testing.assert_array_equal(buf.to_numpy(np.float32, (2,)), np.ones(2))


@pytest.mark.parametrize("value", ["", "0"])
def test_empty_or_zero_cache_dir_turns_the_disk_cache_off(monkeypatch, value):
    monkeypatch.setenv("TGL_CACHE_DIR", value)
    assert rt.cache_dir() is None


def test_disk_cache_key_includes_the_options(device):
    assert rt._binary_path(device, ADD_ONE, ()) != rt._binary_path(device, ADD_ONE, ("-cl-fast-relaxed-math",))


def test_build_error_shows_numbered_source_and_compiler_log(device):
    source = "__kernel void broken(__global float* a) {\n  a[0] = undefined_name;\n}\n"
    with pytest.raises(rt.CompileError) as e:
        rt.compile_kernel(source, "broken")
    message = str(e.value)
    assert "   2 |   a[0] = undefined_name;" in message
    assert "undeclared identifier" in message  # clang's words, from the compiler log
    assert isinstance(e.value, RuntimeError)


# ---------------------------------------------------------------- debug output

def test_debug_2_prints_one_line_per_launch_with_time_and_rates(device, debug_level, capfd):
    kernel = rt.compile_kernel(ADD_ONE, "add_one")
    buf = rt.Buffer.from_numpy(np.zeros(64, dtype=np.float32))
    debug_level(2)
    kernel((64,), None, buf, np.int32(64), flops=64, nbytes=512)
    kernel((64,), (16,), buf, np.int32(64))
    lines = [line for line in capfd.readouterr().err.splitlines() if line.startswith("tgl launch")]
    assert len(lines) == 2
    pattern = r"tgl launch +\d+ add_one +global=64 +local={} +[\d.]+ us +[\d.]+ GFLOPS +[\d.]+ GB/s"
    assert re.fullmatch(pattern.format("None"), lines[0])
    assert re.fullmatch(pattern.format("16"), lines[1])


def test_debug_4_prints_the_source_on_compile(device, debug_level, capfd, monkeypatch):
    monkeypatch.setenv("TGL_CACHE_DIR", "")
    debug_level(4)
    source = f"// {uuid.uuid4()}\n{ADD_ONE}"
    rt.compile_kernel(source, "add_one")
    err = capfd.readouterr().err
    assert re.search(r"tgl compile add_one: built from source in [\d.]+ ms", err)
    assert source in err


def test_debug_0_prints_nothing(device, debug_level, capfd):
    debug_level(0)
    run_add_one(device, np.zeros(3, dtype=np.float32))
    assert capfd.readouterr().err == ""


# ---------------------------------------------------------------- buffers

def test_freed_buffer_memory_is_reused_by_the_next_same_size_buffer(device):
    first = rt.Buffer(4096)
    del first
    rt.reset_stats()
    second = rt.Buffer(4096)
    assert rt.stats()["buffers_reused"] == 1 and rt.stats()["buffers_allocated"] == 0
    del second


def test_live_buffers_goes_back_down_after_del(device):
    before = rt.live_buffers()
    buffers = [rt.Buffer(100) for _ in range(5)]
    assert rt.live_buffers() == before + 5
    del buffers
    assert rt.live_buffers() == before


def test_pool_is_bounded():
    pool = rt.BufferPool(limit_bytes=100)
    pool.give("a", 60)
    pool.give("b", 60)  # over the limit: dropped, OpenCL frees it
    assert pool.stats()["pooled_buffers"] == 1 and pool.take(60) == "a" and pool.take(60) is None


def test_copyin_snapshots_the_array_so_the_caller_may_change_it(device):
    buf = rt.Buffer(16)
    host = np.arange(4, dtype=np.float32)
    buf.copyin(host)
    host[:] = -1
    np.testing.assert_array_equal(buf.to_numpy(np.float32, (4,)), np.arange(4, dtype=np.float32))


def test_copyin_size_mismatch_says_both_sizes(device):
    with pytest.raises(ValueError, match="8 bytes.*16 bytes"):
        rt.Buffer(16).copyin(np.zeros(2, dtype=np.float32))


def test_copy_from_copies_device_side(device):
    src = rt.Buffer.from_numpy(np.arange(5, dtype=np.int32))
    dst = rt.Buffer(src.nbytes)
    dst.copy_from(src)
    np.testing.assert_array_equal(dst.to_numpy(dtypes.int32, (5,)), np.arange(5))


def test_zero_size_buffers_and_launches_work(device):
    empty = rt.Buffer.from_numpy(np.zeros((0, 3), dtype=np.float32))
    assert empty.nbytes == 0 and rt.Buffer(0).nbytes == 0
    empty.copyin(np.zeros((3, 0), dtype=np.float32))
    rt.reset_stats()
    rt.compile_kernel(ADD_ONE, "add_one")((0,), None, empty, np.int32(0))
    assert rt.stats()["kernels_launched"] == 0
    assert empty.to_numpy(np.float32, (0, 3)).shape == (0, 3)


def test_bool_round_trips_as_bytes(device):
    values = np.array([True, False, True])
    np.testing.assert_array_equal(rt.Buffer.from_numpy(values).to_numpy(dtypes.bool, (3,)), values)


def test_first_launch_rejects_python_scalars_with_a_hint(device):
    kernel = rt.Kernel("add_one", ADD_ONE, device, rt.compile_kernel(ADD_ONE, "add_one")._cl.program)
    with pytest.raises(TypeError, match=r"np\.int32"):
        kernel((4,), None, rt.Buffer(16), 4)


def test_compile_kernels_builds_uncached_programs_together_and_each_works(tmp_path, monkeypatch):
    monkeypatch.setenv("TGL_CACHE_DIR", str(tmp_path))  # nothing on disk: real builds
    tag = uuid.uuid4().hex[:8]  # sources no earlier run has built
    sources = [(f"__kernel void add_{i}_{tag}(__global float* a) {{ a[get_global_id(0)] += {i}.0f; }}",
                f"add_{i}_{tag}", ()) for i in range(1, 4)]
    rt.reset_stats()
    kernels = rt.compile_kernels(sources + sources[:1])  # a repeat is built once
    assert rt.stats()["kernels_compiled"] == 3 and rt.stats()["cache_hits_memory"] == 0
    assert kernels[0] is kernels[3]
    buf = rt.Buffer.from_numpy(np.zeros(4, np.float32))
    for kernel in kernels[:3]:
        kernel((4,), None, buf)
    np.testing.assert_array_equal(buf.to_numpy(np.float32, (4,)), [6, 6, 6, 6])
    rt.reset_stats()
    assert rt.compile_kernels(sources[1:2])[0] is kernels[1] and rt.stats()["cache_hits_memory"] == 1


def test_compile_kernels_reports_the_first_failing_request_and_keeps_working(tmp_path, monkeypatch):
    monkeypatch.setenv("TGL_CACHE_DIR", str(tmp_path))
    tag = uuid.uuid4().hex[:8]
    good = (f"__kernel void fine_{tag}(__global float* a) {{ a[0] = 1.0f; }}", f"fine_{tag}", ())
    bad1 = (f"__kernel void broken_{tag}(__global float* a) {{ a[0] = nonsense_{tag}; }}", f"broken_{tag}", ())
    bad2 = (f"__kernel void worse_{tag}(__global float* a) {{ a[0] = ; }}", f"worse_{tag}", ())
    with pytest.raises(rt.CompileError, match=f"broken_{tag}"):
        rt.compile_kernels([good, bad1, bad2])
    buf = rt.Buffer.from_numpy(np.zeros(1, np.float32))
    rt.compile_kernel(*good)((1,), None, buf)
    assert buf.to_numpy(np.float32, (1,))[0] == 1.0


# ---------------------------------------------------------------- PYOPENCL_CTX, as pyopencl reads it

@pytest.mark.parametrize("ctx", ["0", "1", "0:0", "1:0", ":0", "portable", "Portable:pthread", "0:0,1"])
def test_pyopencl_ctx_picks_the_device_pyopencl_picks(ctx):
    import pyopencl as cl

    from tinygradlike.devices import enumerate_devices

    found = enumerate_devices()
    if ctx.split(":")[0] == "1" and len({info["index"].split(":")[0] for info, _ in found}) < 2:
        pytest.skip("needs two OpenCL platforms")
    theirs = cl.choose_devices(interactive=False, answers=ctx.split(":"))[0]
    ours = rt.choose_device([info for info, _ in found], None, ctx)
    assert next(device for info, device in found if info["index"] == ours) == theirs


def test_pyopencl_ctx_that_matches_nothing_lists_the_devices():
    with pytest.raises(ValueError) as e:
        rt.choose_device([PIP_POCL, DEBIAN_POCL], None, "nvidia")
    assert "PYOPENCL_CTX='nvidia'" in str(e.value) and "pthread-AMD EPYC" in str(e.value)
    with pytest.raises(ValueError, match="no device 7"):
        rt.choose_device([PIP_POCL, DEBIAN_POCL], None, "0:7")


def test_tgl_device_wins_over_pyopencl_ctx():
    devices = [PIP_POCL, DEBIAN_POCL, NVIDIA]
    assert rt.choose_device(devices, None, "0") == "0:0"  # PYOPENCL_CTX over the preference (the GPU)
    assert rt.choose_device(devices, "debian", "0") == "1:0"


def test_the_default_device_follows_pyopencl_ctx_from_the_environment():
    import os
    import subprocess
    import sys

    code = "from tinygradlike import runtime; print(runtime.get_device().index)"
    env = {k: v for k, v in os.environ.items() if k not in ("TGL_DEVICE", "PYOPENCL_CTX")}
    picked = subprocess.run([sys.executable, "-c", code], env={**env, "PYOPENCL_CTX": "0:0"},
                            capture_output=True, text=True, check=True).stdout.strip()
    assert picked == "0:0"
    picked = subprocess.run([sys.executable, "-c", code], env={**env, "PYOPENCL_CTX": "nomatch", "TGL_DEVICE": "0:0"},
                            capture_output=True, text=True, check=True).stdout.strip()
    assert picked == "0:0"  # TGL_DEVICE set: PYOPENCL_CTX is not even read
