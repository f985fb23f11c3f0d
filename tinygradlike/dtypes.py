"""Element types: what a tensor holds, how many bytes each element takes on the device, and
which OpenCL C type the generated kernels use for it.

`dtypes.float32` is the default. `bool` lives on the device as one `uchar` per element,
because OpenCL C forbids `bool` in kernel buffers; numpy's bool is also one byte (0 or 1), so
host and device bytes agree without a conversion. `float16` lives on the device as `half` but
is computed in `float`: kernels read it with vload_half and write it with vstore_half_rte, which
every OpenCL device has, while arithmetic on `half` needs cl_khr_fp16, which PoCL lacks.

Promotion follows PyTorch's: bool < uint8 < int32 < int64 < float16 < float32 < float64 (the
higher of two tensors' types wins), and a Python number or a 0-d tensor only widens a tensor's
type when it is of a higher *category* (bool < integer < float): `result_type`.
"""
from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

import numpy as np


@dataclass(frozen=True, eq=False)
class DType:
    """One element type. `cl_type` is the name kernels use in buffers, and in arithmetic except
    for float16 (`half` in memory, `float` in registers; codegen.value_ctype).

    There is one object per type (dtypes.float32, ...), so equality and hashing are identity:
    C-speed in the schedule key, which holds a dtype per node. Copies and pickles come back
    as that one object (__reduce__).

    >>> dtypes.float32.itemsize, dtypes.float32.cl_type, dtypes.bool.np
    (4, 'float', dtype('bool'))
    """

    name: str
    itemsize: int
    np: np.dtype
    cl_type: str
    is_float: bool = False
    is_int: bool = False
    is_bool: bool = False

    @property
    def priority(self) -> int:
        """Rank in the promotion order bool < uint8 < int32 < int64 < float16 < float32 < float64.

        >>> dtypes.bool.priority < dtypes.int32.priority < dtypes.float16.priority < dtypes.float32.priority
        True
        """
        return _PROMOTION_ORDER.index(self.name)

    @property
    def category(self) -> int:
        """0 for bool, 1 for the integers, 2 for the floats: the kinds torch's scalar rule compares.

        >>> dtypes.uint8.category, dtypes.int64.category, dtypes.float16.category
        (1, 1, 2)
        """
        return 2 if self.is_float else 1 if self.is_int else 0

    @property
    def limits(self) -> tuple:
        """(smallest, largest) value of the type; floats give (-inf, inf).

        >>> dtypes.uint8.limits, dtypes.bool.limits
        ((0, 255), (False, True))
        """
        if self.is_float:
            return -math.inf, math.inf
        if self.is_bool:
            return False, True
        info = np.iinfo(self.np)
        return int(info.min), int(info.max)

    def __repr__(self) -> str:
        return f"dtypes.{self.name}"

    def __reduce__(self):
        return getattr, (dtypes, self.name)


class dtypes:
    """Namespace of the supported dtypes, plus conversion and promotion helpers. `default` is
    float32.

    >>> dtypes.default
    dtypes.float32
    """

    bool = DType("bool", 1, np.dtype(np.bool_), "uchar", is_bool=True)
    uint8 = DType("uint8", 1, np.dtype(np.uint8), "uchar", is_int=True)
    int32 = DType("int32", 4, np.dtype(np.int32), "int", is_int=True)
    int64 = DType("int64", 8, np.dtype(np.int64), "long", is_int=True)
    float16 = DType("float16", 2, np.dtype(np.float16), "half", is_float=True)  # computed in float
    float32 = DType("float32", 4, np.dtype(np.float32), "float", is_float=True)
    float64 = DType("float64", 8, np.dtype(np.float64), "double", is_float=True)
    default = float32

    @staticmethod
    def all() -> tuple[DType, ...]:
        """Every supported dtype, in promotion order.

        >>> dtypes.all()  # doctest: +NORMALIZE_WHITESPACE
        (dtypes.bool, dtypes.uint8, dtypes.int32, dtypes.int64, dtypes.float16, dtypes.float32,
         dtypes.float64)
        """
        return tuple(getattr(dtypes, name) for name in _PROMOTION_ORDER)

    @staticmethod
    def from_numpy(np_dtype: Any) -> DType:
        """The DType for a numpy dtype; ValueError names it and the supported ones if unsupported.

        >>> dtypes.from_numpy(np.float32)
        dtypes.float32
        >>> dtypes.from_numpy(np.int8)
        Traceback (most recent call last):
        ValueError: unsupported dtype int8; tinygradlike supports bool, uint8, int32, int64, float16, float32, float64
        """
        np_dtype = np.dtype(np_dtype)
        for dt in dtypes.all():
            if dt.np == np_dtype:
                return dt
        raise ValueError(_unsupported_message(str(np_dtype)))

    @staticmethod
    def from_any(x: Any) -> DType:
        """Accepts a DType, a numpy dtype or scalar type, a name like "float32", or float/int/bool.

        Python `float` means float32 and `int` means int32 (the default device types), not numpy's
        (or torch's) 64-bit defaults; ask for int64 by name.

        >>> dtypes.from_any(float), dtypes.from_any("int32"), dtypes.from_any(np.bool_)
        (dtypes.float32, dtypes.int32, dtypes.bool)
        """
        if isinstance(x, DType):
            return x
        if x is float:
            return dtypes.float32
        if x is int:
            return dtypes.int32
        if x is bool:
            return dtypes.bool
        if isinstance(x, str):
            found = getattr(dtypes, x, None)
            if isinstance(found, DType):
                return found
            raise ValueError(_unsupported_message(x))
        try:
            np_dtype = np.dtype(x)
        except TypeError:
            raise ValueError(_unsupported_message(repr(x))) from None
        return dtypes.from_numpy(np_dtype)

    @staticmethod
    def promote(a: DType, b: DType) -> DType:
        """The result type of a binary op on tensors of types a and b, as torch.promote_types:
        the higher of the two in bool < uint8 < int32 < int64 < float16 < float32 < float64.

        >>> dtypes.promote(dtypes.int32, dtypes.float32), dtypes.promote(dtypes.int64, dtypes.float16)
        (dtypes.float32, dtypes.float16)
        """
        return a if a.priority >= b.priority else b

    @staticmethod
    def result_type(tensor: DType, lesser: DType) -> DType:
        """The result type of `tensor op x` where x is a Python number (as its own type: bool, int32
        or float32) or a 0-d tensor and `tensor` has dimensions: x only counts when its category
        (bool < integer < float) is higher, as in torch. So a uint8 tensor + 300 stays uint8 and
        a float16 tensor * 0.5 stays float16, while an int32 tensor + 0.5 becomes float32.

        >>> dtypes.result_type(dtypes.uint8, dtypes.int32), dtypes.result_type(dtypes.int64, dtypes.float32)
        (dtypes.uint8, dtypes.float32)
        """
        return lesser if lesser.category > tensor.category else tensor


_PROMOTION_ORDER = ("bool", "uint8", "int32", "int64", "float16", "float32", "float64")


def _unsupported_message(what: str) -> str:
    supported = ", ".join(dt.name for dt in dtypes.all())
    return f"unsupported dtype {what}; tinygradlike supports {supported}"
