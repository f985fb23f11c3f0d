"""Faults the engine must survive: a corrupted program cache, a request for more memory than the
device has, a TGL_DEVICE that matches nothing, a kernel that does not build, a driver that
cannot build at all, and malformed weights files. Each test shows the error (or the silent
repair) and then that the engine keeps working.

Kernels are real (built by the OpenCL driver and run), nothing is mocked. Disk cache tests use
a tmp_path as TGL_CACHE_DIR and clear the in-memory cache, so the disk path really runs."""
import json
import os
import re
import struct
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from tinygradlike import runtime as rt
from tinygradlike.state import decode_safetensors, load_state, save_state
from tinygradlike.tensor import Tensor

ADD_ONE = """
__kernel void add_one(__global float* a, int n) {
  int i = get_global_id(0);
  if (i < n) a[i] += 1.0f;
}
"""
TIMES_TWO = """
__kernel void times_two(__global float* a, int n) {
  int i = get_global_id(0);
  if (i < n) a[i] *= 2.0f;
}
"""


@pytest.fixture
def device() -> rt.Device:
    return rt.get_device()


@pytest.fixture
def disk_cache(tmp_path, monkeypatch):
    """An empty disk cache, and no program in memory, so the next compile_kernel reads the disk."""
    monkeypatch.setenv("TGL_CACHE_DIR", str(tmp_path))
    rt.clear_program_cache()
    return tmp_path


def add_one(values: np.ndarray, device: rt.Device | None = None) -> np.ndarray:
    kernel = rt.compile_kernel(ADD_ONE, "add_one", device=device)
    buf = rt.Buffer.from_numpy(values.astype(np.float32), device=device)
    kernel((len(values),), None, buf, np.int32(len(values)))
    return buf.to_numpy(np.float32, values.shape)


def assert_engine_works(device: rt.Device | None = None) -> None:
    np.testing.assert_array_equal(add_one(np.arange(4, dtype=np.float32), device), np.arange(1, 5))


def cache_file(device: rt.Device, source: str) -> Path:
    return rt._binary_path(device, source, ())


def assert_cache_file_is_good_again(device: rt.Device, source: str, name: str) -> None:
    """The file was rewritten with a valid entry: the next process would load it from disk."""
    rt._unpack_cache_entry(cache_file(device, source).read_bytes(), rt._cache_digest(device, source, ()))
    rt.clear_program_cache()
    rt.reset_stats()
    rt.compile_kernel(source, name)
    assert rt.stats()["cache_hits_disk"] == 1 and rt.stats()["kernels_compiled"] == 0


# ---------------------------------------------------------------- corrupted program cache

# Truncated or bit-flipped PoCL binaries crash PoCL itself (SIGSEGV, or an assertion abort), so
# these run in a child process: a regression fails the test instead of killing pytest.
CORRUPT_AND_RELOAD = r"""
import sys
import numpy as np
from tinygradlike import runtime as rt
SOURCE = sys.argv[1]
device = rt.get_device()
rt.compile_kernel(SOURCE, "add_one")
path = rt._binary_path(device, SOURCE, ())
for damage in ("truncate", "flip"):
    raw = bytearray(path.read_bytes())
    if damage == "truncate":
        raw = raw[:len(raw) // 2]
    else:
        raw[len(raw) // 2] ^= 0xFF
    path.write_bytes(bytes(raw))
    rt.clear_program_cache()
    kernel = rt.compile_kernel(SOURCE, "add_one")
    buf = rt.Buffer.from_numpy(np.zeros(3, np.float32))
    kernel((3,), None, buf, np.int32(3))
    assert buf.to_numpy(np.float32, (3,)).tolist() == [1, 1, 1]
    assert path.read_bytes() != bytes(raw), "the damaged file was not rewritten"
    print("survived", damage)
"""


def test_truncated_or_flipped_cache_file_is_rebuilt_not_loaded(device, disk_cache):
    env = {**os.environ, "TGL_CACHE_DIR": str(disk_cache)}
    done = subprocess.run([sys.executable, "-c", CORRUPT_AND_RELOAD, ADD_ONE], env=env,
                          capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, f"exit code {done.returncode}\n{done.stdout}{done.stderr}"
    assert done.stdout.split() == ["survived", "truncate", "survived", "flip"]
    assert_cache_file_is_good_again(device, ADD_ONE, "add_one")


def test_garbage_cache_file_is_deleted_and_rebuilt(device, disk_cache):
    cache_file(device, ADD_ONE).write_bytes(np.random.default_rng(0).bytes(4096))
    rt.reset_stats()
    assert_engine_works()
    assert rt.stats()["cache_entries_rejected"] == 1 and rt.stats()["kernels_compiled"] == 1
    assert_cache_file_is_good_again(device, ADD_ONE, "add_one")


def test_another_kernels_cache_file_under_this_key_is_rebuilt(device, disk_cache):
    rt.compile_kernel(TIMES_TWO, "times_two")
    cache_file(device, ADD_ONE).write_bytes(cache_file(device, TIMES_TWO).read_bytes())
    rt.clear_program_cache()
    rt.reset_stats()
    assert_engine_works()
    assert rt.stats()["cache_entries_rejected"] == 1 and rt.stats()["kernels_compiled"] == 1
    assert_cache_file_is_good_again(device, ADD_ONE, "add_one")


def test_cached_program_without_the_requested_kernel_is_rebuilt(device, disk_cache):
    # A well-formed entry for ADD_ONE's key that holds TIMES_TWO's program: only the kernel-name
    # check can tell, and it must lead to a rebuild, not to a lasting "no kernel named" error.
    program = rt.compile_kernel(TIMES_TWO, "times_two")._cl.program
    binary = program.get_info(rt.cl.program_info.BINARIES)[0]
    entry = rt._pack_cache_entry(rt._cache_digest(device, ADD_ONE, ()), binary)
    cache_file(device, ADD_ONE).write_bytes(entry)
    rt.clear_program_cache()
    rt.reset_stats()
    assert_engine_works()
    assert rt.stats()["cache_entries_rejected"] == 1 and rt.stats()["kernels_compiled"] == 1
    assert_cache_file_is_good_again(device, ADD_ONE, "add_one")


# ---------------------------------------------------------------- memory

def test_buffer_over_the_largest_allocation_names_size_and_device(device):
    size = device.max_mem_alloc_size + 1
    with pytest.raises(MemoryError) as e:
        rt.Buffer(size)
    message = str(e.value)
    assert re.search(rf"\d+\.\d [KMGTP]iB \({size} bytes\)", message)
    assert device.name in message and "max_mem_alloc_size" in message and "TGL_DEVICE" in message
    assert_engine_works()


def test_buffers_beyond_the_device_memory_are_refused_before_opencl_is_asked(device):
    # PoCL would hand out all of them (it overcommits) and the process would die when they are
    # touched; untouched, they cost no real memory here.
    size = device.max_mem_alloc_size
    held = []
    with pytest.raises(MemoryError, match=r"global_mem_size") as e:
        for _ in range(device.global_mem_size // size + 2):
            held.append(rt.Buffer(size))
    assert f"{size} bytes" in str(e.value) and device.name in str(e.value)
    assert len(held) * size <= device.global_mem_size
    del held
    assert_engine_works()


def test_huge_tensor_raises_memory_error_naming_the_size():
    with pytest.raises(MemoryError, match=r"4\.0 TiB \(4398046511104 bytes\)"):
        Tensor.ones(1).expand(2**40).contiguous().realize()
    np.testing.assert_array_equal((Tensor.ones(3) + 1).numpy(), np.full(3, 2.0))


def test_negative_buffer_size_is_a_value_error(device):
    with pytest.raises(ValueError, match="nbytes >= 0, got -4"):
        rt.Buffer(-4)


# ---------------------------------------------------------------- device choice

def test_no_platform_says_none_was_found_how_to_install_and_that_tgl_device_cannot_help():
    for spec in (None, "0:0"):
        with pytest.raises(RuntimeError) as e:
            rt.choose_device([], spec)
        assert "found none" in str(e.value) and "apt-get install pocl-opencl-icd" in str(e.value)
    assert "TGL_DEVICE='0:0' is set" in str(e.value)


@pytest.mark.parametrize("spec,why", [
    ("9:9", "there is no device 9:9"),
    ("no-such-gpu", "no platform name, version, device name or kind contains 'no-such-gpu'"),
])
def test_tgl_device_matching_nothing_lists_every_device_with_its_index(device, spec, why):
    with pytest.raises(ValueError) as e:
        rt.open_device(spec)
    message = str(e.value)
    assert f"TGL_DEVICE={spec!r} matches no OpenCL device: {why}" in message
    for info in rt.list_devices():
        assert f"{info['index']}  {info['kind']}" in message and info["name"] in message
    assert '"P:D"' in message and "unset TGL_DEVICE" in message
    assert_engine_works()


def test_bad_tgl_device_stops_a_fresh_process_with_that_message():
    env = {**os.environ, "TGL_DEVICE": "9:9"}
    done = subprocess.run([sys.executable, "-c", "from tinygradlike import Tensor; Tensor([1.0]).numpy()"],
                          env=env, capture_output=True, text=True, timeout=120)
    assert done.returncode == 1
    assert "ValueError: TGL_DEVICE='9:9' matches no OpenCL device: there is no device 9:9." in done.stderr


# ---------------------------------------------------------------- build errors

def test_build_error_shows_numbered_source_and_log_and_the_next_kernel_builds(device):
    broken = "__kernel void broken(__global float* a) {\n  a[0] = undefined_name;\n}\n"
    with pytest.raises(rt.CompileError) as e:
        rt.compile_kernel(broken, "broken")
    assert "   2 |   a[0] = undefined_name;" in str(e.value) and "undefined_name" in e.value.log
    assert e.value.hint is None and "--- hint ---" not in str(e.value)
    rt.clear_program_cache()
    assert_engine_works()


def test_unknown_target_cpu_log_says_the_driver_is_at_fault_and_how_to_switch(device):
    error = rt.CompileError("k", "__kernel void k() {}", (), "error: unknown target CPU 'generic'\n", device)
    assert "does not know this CPU" in error.hint
    assert "apt-get install pocl-opencl-icd" in error.hint and "TGL_DEVICE" in error.hint
    assert str(error).endswith(error.hint)


def test_a_driver_that_cannot_build_at_all_gets_the_hint_and_others_keep_working():
    """Real on this machine: the pip PoCL's LLVM 14 does not know Zen 4 CPUs."""
    failing = []
    for info in rt.list_devices():
        dev = rt.open_device(info["index"])
        try:
            rt.compile_kernel(ADD_ONE, "add_one", device=dev)
        except rt.CompileError as e:
            if "unknown target CPU" in e.log:
                failing.append(e)
    if not failing:
        pytest.skip("every OpenCL driver here can build for this CPU")
    for error in failing:
        assert error.hint and "apt-get install pocl-opencl-icd" in str(error)
    assert_engine_works()


# ---------------------------------------------------------------- compile time at first launch

def test_first_launch_per_local_size_counts_as_compile_time(device, monkeypatch):
    monkeypatch.setenv("TGL_CACHE_DIR", "")
    rt.clear_program_cache()  # a new Kernel object: its first launches are new to us
    rt.reset_stats()
    kernel = rt.compile_kernel(ADD_ONE, "add_one")
    build_seconds = rt.stats()["compile_seconds"]
    buf = rt.Buffer.from_numpy(np.zeros(8, dtype=np.float32))
    kernel((8,), None, buf, np.int32(8))
    first = rt.stats()["first_launch_seconds"]
    assert first > 0 and rt.stats()["compile_seconds"] == pytest.approx(build_seconds + first)
    for _ in range(3):
        kernel((8,), None, buf, np.int32(8))
    assert rt.stats()["first_launch_seconds"] == first and rt.stats()["synchronizations"] == 0
    kernel((8,), (4,), buf, np.int32(8))  # a new local size: PoCL generates code again
    assert rt.stats()["first_launch_seconds"] > first
    np.testing.assert_array_equal(buf.to_numpy(np.float32, (8,)), np.full(8, 5.0))


# ---------------------------------------------------------------- malformed weights files

def safetensors_bytes(header: dict, data: bytes = bytes(8)) -> bytes:
    text = json.dumps(header).encode()
    return struct.pack("<Q", len(text)) + text + data


F32_2 = {"dtype": "F32", "shape": [2], "data_offsets": [0, 8]}


@pytest.mark.parametrize("entry,problem", [
    ({**F32_2, "scale": 1}, r"no other key.*unknown keys \['scale'\]"),
    ({"dtype": "F32", "shape": [2], "offsets": [0, 8]}, r"unknown keys \['offsets'\]"),
    ({"dtype": "F32", "shape": [2]}, "needs dtype, shape and data_offsets"),
    ({**F32_2, "dtype": ["F32"]}, r"unknown dtype \['F32'\]"),
    ({**F32_2, "dtype": 32}, "unknown dtype 32"),
    ({**F32_2, "dtype": "Q4"}, "unknown dtype 'Q4'; known: F64, F32"),
    ({**F32_2, "shape": [True, 2]}, "invalid shape"),
    ({**F32_2, "shape": "2"}, "invalid shape"),
    ({**F32_2, "data_offsets": [-8, 0]}, "invalid data_offsets"),
    ({**F32_2, "data_offsets": [0, 8.0]}, "invalid data_offsets"),
    ({**F32_2, "data_offsets": {"begin": 0}}, "invalid data_offsets"),
])
def test_malformed_safetensors_entry_is_a_value_error_naming_file_and_entry(entry, problem):
    with pytest.raises(ValueError, match=rf"crafted\.safetensors is not a valid safetensors file: .*'w'.*{problem}"):
        decode_safetensors(safetensors_bytes({"w": entry}), "crafted.safetensors")


def test_overlapping_safetensors_tensors_are_a_value_error_naming_the_second():
    header = {"w": F32_2, "v": {"dtype": "F32", "shape": [1], "data_offsets": [4, 8]}}
    with pytest.raises(ValueError, match=r"crafted\.safetensors .*tensor 'v' starts at byte 4 .* overlaps"):
        decode_safetensors(safetensors_bytes(header), "crafted.safetensors")


def test_safetensors_metadata_that_is_not_strings_is_a_value_error():
    with pytest.raises(ValueError, match=r"crafted\.safetensors .*__metadata__ must be an object of strings"):
        decode_safetensors(safetensors_bytes({"__metadata__": {"epoch": 3}, "w": F32_2}), "crafted.safetensors")


@pytest.mark.parametrize("fmt", ["npz", "safetensors"])
def test_zero_dimensional_tensors_round_trip(tmp_path, fmt):
    path = tmp_path / f"scalars.{fmt}"
    save_state({"step": np.array(7, np.int32), "loss": Tensor(1.5), "flag": np.bool_(True)}, path)
    back = load_state(path)
    assert {k: (v.shape, v.dtype, v.item()) for k, v in back.items()} == {
        "step": ((), np.int32, 7), "loss": ((), np.float32, 1.5), "flag": ((), np.bool_, True)}


def test_building_a_generated_kernel_shows_the_user_no_compiler_warnings(device):
    # an int tensor compared with itself (x == x, a NaN test written the numpy way) made clang
    # say "self-comparison always evaluates to true", which pyopencl turned into a
    # CompilerWarning on every build; an unseen constant forces a real build
    import warnings

    fresh = int(np.random.default_rng().integers(1, 2**30))
    x = Tensor(np.array([1, -5, 7], np.int32)) + fresh
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        got = ((x == x) * (x != x).logical_not()).numpy()
    np.testing.assert_array_equal(got, [True, True, True])
    assert [str(w.message) for w in caught] == []
