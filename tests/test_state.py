"""Weights files: round trips in both formats, and clear errors, never code execution, for
files that are truncated, corrupted, or crafted."""
import os
import pickle
import struct
import zipfile

import numpy as np
import pytest

from tinygradlike import nn
from tinygradlike.state import decode_safetensors, encode_safetensors, load_state, save_state
from tinygradlike.tensor import Tensor

FORMATS = ["npz", "safetensors"]
ARRAYS = {"a.weight": np.arange(6, dtype=np.float32).reshape(2, 3), "b": np.array([1, -2], np.int32),
          "flag": np.array([True, False])}


def saved(tmp_path, fmt, arrays=ARRAYS):
    path = tmp_path / f"weights.{fmt}"
    save_state(arrays, path)
    return path


@pytest.mark.parametrize("fmt", FORMATS)
def test_round_trip_keeps_names_dtypes_and_values(tmp_path, fmt):
    back = load_state(saved(tmp_path, fmt))
    assert set(back) == set(ARRAYS)
    for k, v in ARRAYS.items():
        assert back[k].dtype == v.dtype
        np.testing.assert_array_equal(back[k], v)


@pytest.mark.parametrize("fmt", FORMATS)
def test_module_save_and_load_restore_the_outputs(tmp_path, fmt):
    Tensor.manual_seed(0)
    model = nn.Sequential(nn.Linear(3, 2), nn.ReLU(), nn.Linear(2, 2))
    x = Tensor(np.ones((1, 3), np.float32))
    expected = model(x).numpy()
    model.save(tmp_path / f"m.{fmt}")
    Tensor.manual_seed(1)
    other = nn.Sequential(nn.Linear(3, 2), nn.ReLU(), nn.Linear(2, 2))
    other.load(tmp_path / f"m.{fmt}")
    np.testing.assert_array_equal(other(x).numpy(), expected)


def test_safetensors_files_interoperate_with_the_safetensors_package(tmp_path):
    st = pytest.importorskip("safetensors.numpy")
    ours = saved(tmp_path, "safetensors")
    for k, v in st.load_file(str(ours)).items():
        np.testing.assert_array_equal(v, ARRAYS[k])
    theirs = tmp_path / "theirs.safetensors"
    st.save_file(ARRAYS, str(theirs))
    for k, v in load_state(theirs).items():
        np.testing.assert_array_equal(v, ARRAYS[k])


@pytest.mark.parametrize("fmt", FORMATS)
@pytest.mark.parametrize("keep", [0, 5, 0.5, -1])
def test_a_truncated_file_gives_a_clear_error_naming_it(tmp_path, fmt, keep):
    path = saved(tmp_path, fmt)
    raw = path.read_bytes()
    cut = int(len(raw) * keep) if isinstance(keep, float) else (len(raw) + keep if keep < 0 else keep)
    path.write_bytes(raw[:cut])
    with pytest.raises(ValueError, match=rf"{path.name} is not a valid (\.npz|safetensors)"):
        load_state(path)


@pytest.mark.parametrize("fmt", FORMATS)
def test_garbage_bytes_give_a_clear_error(tmp_path, fmt):
    path = tmp_path / f"garbage.{fmt}"
    path.write_bytes(np.random.default_rng(0).bytes(300))
    with pytest.raises(ValueError, match=f"garbage.{fmt} is not a valid"):
        load_state(path)


def test_a_flipped_data_byte_in_an_npz_fails_its_checksum(tmp_path):
    path = saved(tmp_path, "npz", {"w": np.zeros(64, np.float32)})
    raw = bytearray(path.read_bytes())
    raw[raw.index(b"\x00" * 64) + 10] ^= 0xFF  # inside the array's bytes
    path.write_bytes(bytes(raw))
    with pytest.raises(ValueError, match="CRC"):
        load_state(path)


@pytest.mark.parametrize("header,problem", [
    ({"w": {"dtype": "F32", "shape": [2], "data_offsets": [0, 16]}}, "claims bytes 0..16"),
    ({"w": {"dtype": "F32", "shape": [3], "data_offsets": [0, 8]}}, "needs 12 bytes"),
    ({"w": {"dtype": "X99", "shape": [2], "data_offsets": [0, 8]}}, "unknown dtype"),
    ({"w": {"dtype": "F32", "shape": [-2], "data_offsets": [0, 8]}}, "invalid shape"),
    ({"w": {"dtype": "F32", "shape": [1], "data_offsets": [4, 8]}}, "hole"),
    ({"w": [1, 2]}, "needs dtype, shape and data_offsets"),
])
def test_a_safetensors_header_that_lies_is_rejected(header, problem):
    import json
    text = json.dumps(header).encode()
    raw = struct.pack("<Q", len(text)) + text + bytes(8)
    with pytest.raises(ValueError, match=problem):
        decode_safetensors(raw, "crafted.safetensors")


def test_safetensors_header_is_aligned_and_metadata_is_ignored():
    raw = encode_safetensors({"w": np.ones(3, np.float32)}, metadata={"format": "np"})
    (n,) = struct.unpack("<Q", raw[:8])
    assert n % 8 == 0
    np.testing.assert_array_equal(decode_safetensors(raw)["w"], np.ones(3, np.float32))


class Exploit:
    """Unpickling this would create a file: the tests check that it never happens."""

    def __init__(self, marker):
        self.marker = str(marker)

    def __reduce__(self):
        return (open, (self.marker, "w"))


def test_loading_never_unpickles_a_pickle_disguised_as_npz(tmp_path):
    marker = tmp_path / "pwned"
    path = tmp_path / "evil.npz"
    path.write_bytes(pickle.dumps(Exploit(marker)))
    with pytest.raises(ValueError, match="evil.npz is not a valid"):
        load_state(path)
    assert not marker.exists()


def test_loading_never_unpickles_an_object_array_inside_an_npz(tmp_path):
    marker = tmp_path / "pwned"
    member = tmp_path / "w.npy"
    np.save(member, np.array([Exploit(marker)], dtype=object), allow_pickle=True)
    path = tmp_path / "evil.npz"
    with zipfile.ZipFile(path, "w") as z:
        z.write(member, "w.npy")
    os.remove(member)
    with pytest.raises(ValueError, match="evil.npz is not a valid .npz weights file.*allow_pickle"):
        load_state(path)
    assert not marker.exists()


def test_a_missing_file_is_a_value_error_with_its_name(tmp_path):
    with pytest.raises(ValueError, match="nothere.npz"):
        load_state(tmp_path / "nothere.npz")


# ------------------------------------------------------------------------------ tinygrad's names
# What tinygrad's docs say: get_state_dict(obj) names every Tensor reachable through attributes,
# list/tuple items and dict entries ("l1.weight"); get_parameters(obj) is its values;
# safe_save(tensors, fn, metadata) writes a safetensors file; safe_load(fn) reads it as Tensors.

class Net:
    def __init__(self):
        self.l1 = nn.Linear(4, 5)
        self.l2 = nn.Linear(5, 6)


def test_get_state_dict_names_tensors_by_attribute_path_as_tinygrads_docs_show():
    assert list(nn.state.get_state_dict(Net())) == ["l1.weight", "l1.bias", "l2.weight", "l2.bias"]


def test_get_state_dict_walks_lists_and_dicts_by_index_and_key():
    a, b, c = Tensor([1.0]), Tensor([2.0]), Tensor([3.0])
    found = nn.state.get_state_dict({"blocks": [a, {"x": b}], "head": (c,), "n": 3, "skip": None})
    assert list(found) == ["blocks.0", "blocks.1.x", "head.0"]
    assert found["blocks.1.x"] is b


def test_get_state_dict_of_our_module_is_its_state_dict():
    model = nn.Sequential(nn.Linear(2, 3), nn.BatchNorm(3))
    found = nn.state.get_state_dict(model)
    assert list(found) == list(model.state_dict())
    assert all(found[k] is v for k, v in model.state_dict().items())


def test_get_state_dict_ends_on_a_structure_that_refers_to_itself():
    net = Net()
    net.me = net
    assert len(nn.state.get_state_dict(net)) == 4


def test_get_parameters_lists_the_tensors_of_get_state_dict_in_order():
    net = Net()
    assert nn.state.get_parameters(net) == [net.l1.weight, net.l1.bias, net.l2.weight, net.l2.bias]


def test_safe_save_writes_a_file_the_safetensors_package_reads_with_its_metadata(tmp_path):
    st = pytest.importorskip("safetensors")
    from safetensors.numpy import load_file

    net = Net()
    path = tmp_path / "net.safetensor"  # tinygrad's examples use this extension: any is accepted
    nn.state.safe_save(nn.state.get_state_dict(net), path, metadata={"step": "7"})
    for name, array in load_file(str(path)).items():
        np.testing.assert_array_equal(array, nn.state.get_state_dict(net)[name].numpy())
    with st.safe_open(str(path), "np") as f:
        assert f.metadata() == {"step": "7"}


def test_safe_load_gives_tensors_that_load_into_a_module(tmp_path):
    st = pytest.importorskip("safetensors.numpy")
    Tensor.manual_seed(0)
    source = Net()
    st.save_file({k: v.numpy() for k, v in nn.state.get_state_dict(source).items()}, str(tmp_path / "w.safetensors"))
    loaded = nn.state.safe_load(tmp_path / "w.safetensors")
    assert all(isinstance(t, Tensor) for t in loaded.values())
    target = nn.Sequential(nn.Linear(4, 5), nn.Linear(5, 6))
    target.load_state_dict({k.replace("l1", "0").replace("l2", "1"): v for k, v in loaded.items()})
    x = Tensor(np.ones((1, 4), np.float32))
    np.testing.assert_array_equal(target(x).numpy(), source.l2(source.l1(x)).numpy())


def test_safe_load_of_a_broken_file_is_a_value_error_naming_it(tmp_path):
    path = tmp_path / "broken.safetensor"
    path.write_bytes(b"\x01\x02")
    with pytest.raises(ValueError, match="broken.safetensor is not a valid safetensors file"):
        nn.state.safe_load(path)
