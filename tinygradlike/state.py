"""Saving and loading weights: .npz (numpy) or .safetensors, never pickle.

Loading only parses bytes: a header, then raw numbers. Nothing in a weights file can run
code, and a truncated or corrupted file raises a ValueError that names the file and says
what is wrong with it.

The safetensors format (https://github.com/huggingface/safetensors) is simple enough to write
by hand: an 8-byte little-endian header length N, N bytes of JSON
{"name": {"dtype": "F32", "shape": [..], "data_offsets": [begin, end]}, "__metadata__": {..}},
then the raw little-endian bytes of every tensor, back to back.

tinygrad's names work too, meaning what they mean there (and reachable as `nn.state`):
get_state_dict(obj), get_parameters(obj), safe_save(tensors, path), safe_load(path).
"""
from __future__ import annotations

import json
import math
import struct
import zipfile
from pathlib import Path
from typing import Any

import numpy as np

_SAFETENSORS_DTYPES = {"F64": np.float64, "F32": np.float32, "F16": np.float16, "I64": np.int64,
                       "I32": np.int32, "I16": np.int16, "I8": np.int8, "U8": np.uint8, "BOOL": np.bool_}
_DTYPE_NAMES = {np.dtype(v): k for k, v in _SAFETENSORS_DTYPES.items()}
_MAX_HEADER = 100 * 1024 * 1024  # the reference implementation's limit: a larger one is garbage
_ENTRY_KEYS = {"dtype", "shape", "data_offsets"}


WEIGHTS_EXTENSIONS = (".npz", ".safetensors")


def check_weights_path(path: str | Path) -> Path:
    """`path` as a Path if its extension is one save_state writes; otherwise a ValueError that
    names the path, the accepted extensions and the fix. (An npz written as "w.pt" would be a
    file that the tools its name promises cannot read.)

    >>> check_weights_path("w.pt")
    Traceback (most recent call last):
    ValueError: cannot save weights to 'w.pt': the extension must be .npz or .safetensors (not '.pt'); name the file e.g. 'w.safetensors'
    """
    path = Path(path)
    if path.suffix not in WEIGHTS_EXTENSIONS:
        got = f"not {path.suffix!r}" if path.suffix else "it has none"
        raise ValueError(f"cannot save weights to {str(path)!r}: the extension must be {' or '.join(WEIGHTS_EXTENSIONS)} "
                         f"({got}); name the file e.g. {str(path.with_suffix('.safetensors'))!r}")
    return path


def save_state(state: dict[str, Any], path: str | Path) -> None:
    """Write named arrays (Tensors or numpy arrays) to `path`: safetensors if it ends in
    .safetensors, an uncompressed .npz if it ends in .npz; any other extension is a ValueError
    (check_weights_path), raised before anything is written.

    >>> save_state({"w": np.ones(2, np.float32)}, "w.safetensors")
    >>> load_state("w.safetensors")
    {'w': array([1., 1.], dtype=float32)}
    """
    path = check_weights_path(path)
    arrays = {name: _host_array(value) for name, value in state.items()}
    if path.suffix == ".safetensors":
        path.write_bytes(encode_safetensors(arrays))
    else:
        with open(path, "wb") as f:  # a file object: np.savez would add .npz to other names
            np.savez(f, **arrays)


def load_state(path: str | Path) -> dict[str, np.ndarray]:
    """Read named arrays written by save_state (or by numpy / the safetensors package) from an
    .npz or .safetensors file, as numpy arrays by name; nothing in the file is run, and a
    corrupted file is a ValueError that names it.

    >>> np.savez("w.npz", w=np.arange(3, dtype=np.int32)); load_state("w.npz")
    {'w': array([0, 1, 2], dtype=int32)}
    """
    path = Path(path)
    try:
        raw = path.read_bytes()
    except OSError as e:
        raise ValueError(f"cannot read weights file {path}: {e}") from e
    if path.suffix == ".safetensors":
        return decode_safetensors(raw, str(path))
    if raw[:4] not in (b"PK\x03\x04", b"PK\x05\x06"):
        # np.load would try its other formats on these bytes, and report them as "pickled data"
        raise ValueError(f"{path} is not a valid .npz weights file: it does not start like a zip archive "
                         f"(truncated, corrupted, or another format; safetensors files must end in .safetensors)")
    return _decode_npz(path)


# ------------------------------------------------------------------------------ safetensors

def encode_safetensors(arrays: dict[str, np.ndarray], metadata: dict[str, str] | None = None) -> bytes:
    """The bytes of a .safetensors file holding `arrays` (in name order, 8-byte aligned header);
    a dtype safetensors has no name for is a ValueError.

    >>> decode_safetensors(encode_safetensors({"w": np.arange(3, dtype=np.int32)}))
    {'w': array([0, 1, 2], dtype=int32)}
    """
    header: dict[str, Any] = {"__metadata__": metadata} if metadata else {}
    chunks, offset = [], 0
    for name in sorted(arrays):
        array = np.asarray(arrays[name], order="C")  # not ascontiguousarray: it turns 0-d into 1-d
        if array.dtype not in _DTYPE_NAMES:
            raise ValueError(f"safetensors cannot store {name!r} of dtype {array.dtype}")
        data = array.astype(array.dtype.newbyteorder("<"), copy=False).tobytes()
        header[name] = {"dtype": _DTYPE_NAMES[array.dtype], "shape": list(array.shape),
                        "data_offsets": [offset, offset + len(data)]}
        chunks.append(data)
        offset += len(data)
    text = json.dumps(header, separators=(",", ":")).encode()
    text += b" " * (-len(text) % 8)  # the spec allows trailing spaces; aligned data is nicer to map
    return struct.pack("<Q", len(text)) + text + b"".join(chunks)


def decode_safetensors(raw: bytes, name: str = "<bytes>") -> dict[str, np.ndarray]:
    """Parse .safetensors bytes into numpy arrays by name, checking every length and offset
    before trusting it: anything malformed is a ValueError that names `name` and the problem.

    >>> decode_safetensors(bytes(4))
    Traceback (most recent call last):
    ValueError: <bytes> is not a valid safetensors file: it has 4 bytes, fewer than the 8-byte header length (truncated?)
    """
    def bad(what: str) -> ValueError:
        return ValueError(f"{name} is not a valid safetensors file: {what}")

    if len(raw) < 8:
        raise bad(f"it has {len(raw)} bytes, fewer than the 8-byte header length (truncated?)")
    (n,) = struct.unpack("<Q", raw[:8])
    if n > _MAX_HEADER or 8 + n > len(raw):
        raise bad(f"the header claims {n} bytes but the file has {len(raw) - 8} after the length (truncated?)")
    try:
        header = json.loads(raw[8:8 + n].decode("utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError) as e:
        raise bad(f"the header is not JSON ({e})") from None
    if not isinstance(header, dict):
        raise bad("the header is not a JSON object")
    metadata = header.pop("__metadata__", None)
    strings = isinstance(metadata, dict) and all(isinstance(v, str) for v in metadata.values())
    if metadata is not None and not strings:  # the reference implementation refuses these too
        raise bad(f"__metadata__ must be an object of strings, got {metadata!r}")
    data = memoryview(raw)[8 + n:]
    out, spans = {}, []
    for key, entry in header.items():
        out[key] = _decode_entry(key, entry, data, bad)
        spans.append((*entry["data_offsets"], key))
    covered = 0
    for begin, end, key in sorted(spans):
        if begin != covered:
            problem = "overlaps the tensor before it" if begin < covered else "leaves a hole before it"
            raise bad(f"tensor {key!r} starts at byte {begin} but the tensors before it end at byte {covered}: "
                      f"its data {problem}")
        covered = end
    if covered != len(data):
        raise bad(f"the tensors cover {covered} bytes of data but the file has {len(data)} (truncated or padded?)")
    return out


def _decode_entry(key: str, entry: Any, data: memoryview, bad) -> np.ndarray:
    if not isinstance(entry, dict) or set(entry) != _ENTRY_KEYS:
        # Unknown keys are refused too: they may change what the bytes mean (quantization, ...).
        unknown = sorted(set(entry) - _ENTRY_KEYS) if isinstance(entry, dict) else []
        raise bad(f"entry {key!r} needs dtype, shape and data_offsets and no other key, got {entry!r}"
                  + (f" (unknown keys {unknown})" if unknown else ""))
    dtype, shape, offsets = entry["dtype"], entry["shape"], entry["data_offsets"]
    if not isinstance(dtype, str) or dtype not in _SAFETENSORS_DTYPES:
        raise bad(f"tensor {key!r} has unknown dtype {dtype!r}; known: {', '.join(_SAFETENSORS_DTYPES)}")
    if not (isinstance(shape, list) and all(_is_count(s) for s in shape)):
        raise bad(f"tensor {key!r} has an invalid shape {shape!r} (a list of integers >= 0)")
    if not (isinstance(offsets, list) and len(offsets) == 2 and all(_is_count(o) for o in offsets)):
        raise bad(f"tensor {key!r} has invalid data_offsets {offsets!r} (two byte offsets >= 0)")
    begin, end = offsets
    np_dtype = np.dtype(_SAFETENSORS_DTYPES[dtype]).newbyteorder("<")
    if not 0 <= begin <= end <= len(data):
        raise bad(f"tensor {key!r} claims bytes {begin}..{end} of {len(data)} (truncated?)")
    if end - begin != math.prod(shape) * np_dtype.itemsize:
        raise bad(f"tensor {key!r} of {dtype}{shape} needs {math.prod(shape) * np_dtype.itemsize} bytes, "
                  f"its offsets span {end - begin}")
    return np.frombuffer(data[begin:end], dtype=np_dtype).reshape(shape).astype(np_dtype.newbyteorder("="))


def _is_count(x: Any) -> bool:
    return isinstance(x, int) and not isinstance(x, bool) and x >= 0  # JSON true is not a size


# ------------------------------------------------------------------------------ npz

def _decode_npz(path: Path) -> dict[str, np.ndarray]:
    try:
        with np.load(path, allow_pickle=False) as archive:
            return {key: archive[key] for key in archive.files}  # reads (and CRC-checks) every member
    except ValueError as e:
        if str(path) in str(e):
            raise
        raise ValueError(f"{path} is not a valid .npz weights file: {e}") from e  # e.g. pickled object arrays
    except (OSError, EOFError, zipfile.BadZipFile, KeyError, struct.error) as e:
        raise ValueError(f"{path} is not a valid .npz weights file (truncated or corrupted?): {e}") from e


def _host_array(value: Any) -> np.ndarray:
    return value.numpy() if hasattr(value, "numpy") else np.asarray(value)


# ------------------------------------------------------------------------------ tinygrad's names

def get_state_dict(obj: Any, prefix: str = "") -> dict[str, Any]:
    """Every Tensor reachable from `obj` by name, as tinygrad's nn.state.get_state_dict: through
    attributes ("l1.weight"), list and tuple items ("layers.0.weight") and dict entries, in the
    order they were set. A Module of ours contributes its state_dict() names (a Sequential's
    layers are "0", "1", ..., as in torch). The walk keeps its own stack and visits each object
    once, so deep or self-referencing structures end.

    >>> class Net:
    ...     def __init__(self):
    ...         self.l1, self.l2 = nn.Linear(4, 5), nn.Linear(5, 6)
    >>> list(nn.state.get_state_dict(Net()))
    ['l1.weight', 'l1.bias', 'l2.weight', 'l2.bias']
    """
    from tinygradlike.nn import Module
    from tinygradlike.tensor import Tensor

    found: dict[str, Any] = {}
    seen: set[int] = set()
    stack: list[tuple[str, Any]] = [(prefix, obj)]
    while stack:
        name, value = stack.pop()
        if isinstance(value, Tensor):
            found.setdefault(name.strip("."), value)
            continue
        if id(value) in seen:
            continue
        seen.add(id(value))
        if isinstance(value, Module):
            children = list(value.state_dict().items())
        elif hasattr(value, "_asdict"):  # a namedtuple: by field name
            children = list(value._asdict().items())
        elif isinstance(value, dict):
            children = list(value.items())
        elif isinstance(value, (list, tuple)):
            children = list(enumerate(value))
        elif isinstance(getattr(value, "__dict__", None), dict):
            children = list(vars(value).items())
        else:
            continue  # numbers, strings, None, ...: no tensors inside
        stack.extend((f"{name}{key}.", child) for key, child in reversed(children))
    return found


def get_parameters(obj: Any) -> list[Any]:
    """The Tensors of get_state_dict(obj), in its order, as tinygrad's nn.state.get_parameters
    (what one hands an optimizer when a model is a plain class).

    >>> [p.shape for p in nn.state.get_parameters([nn.Linear(2, 3)])]
    [(3, 2), (3,)]
    """
    return list(get_state_dict(obj).values())


def safe_save(tensors: dict[str, Any], path: str | Path, metadata: dict[str, str] | None = None) -> None:
    """Write named Tensors (or numpy arrays) to `path` as a safetensors file, whatever its
    extension, with optional string metadata, as tinygrad's nn.state.safe_save.

    >>> nn.state.safe_save({"t": Tensor([1, 2, 3])}, "test.safetensor")
    >>> nn.state.safe_load("test.safetensor")["t"].numpy()
    array([1, 2, 3], dtype=int32)
    """
    arrays = {name: _host_array(value) for name, value in tensors.items()}
    Path(path).write_bytes(encode_safetensors(arrays, metadata))


def safe_load(path: str | Path) -> dict[str, Any]:
    """The Tensors of a safetensors file by name (on the default device), as tinygrad's
    nn.state.safe_load; a malformed file is a ValueError naming it (decode_safetensors).

    >>> nn.state.safe_save({"w": np.ones(2, np.float32)}, "w.safetensor"); nn.state.safe_load("w.safetensor")
    {'w': Tensor([1., 1.], dtype=float32, ...)}
    """
    from tinygradlike.tensor import Tensor

    path = Path(path)
    try:
        raw = path.read_bytes()
    except OSError as e:
        raise ValueError(f"cannot read weights file {path}: {e}") from e
    return {name: Tensor(array) for name, array in decode_safetensors(raw, str(path)).items()}
