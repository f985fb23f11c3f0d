"""Element types: what a tensor holds, how many bytes each element takes on the device, and
which OpenCL C type the generated kernels use for it.

`dtypes.float32` is the default. `bool` lives on the device as one `uchar` per element,
because OpenCL C forbids `bool` in kernel buffers; numpy's bool is also one byte (0 or 1), so
host and device bytes agree without a conversion.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np


@dataclass(frozen=True, eq=False)
class DType:
    """One element type. `cl_type` is the name kernels use in buffers and arithmetic.

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
        """Rank in the promotion order bool < int32 < float32 < float64.

        >>> dtypes.bool.priority < dtypes.int32.priority < dtypes.float32.priority
        True
        """
        return _PROMOTION_ORDER.index(self.name)

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
    int32 = DType("int32", 4, np.dtype(np.int32), "int", is_int=True)
    float32 = DType("float32", 4, np.dtype(np.float32), "float", is_float=True)
    float64 = DType("float64", 8, np.dtype(np.float64), "double", is_float=True)
    default = float32

    @staticmethod
    def all() -> tuple[DType, ...]:
        """Every supported dtype, in promotion order.

        >>> dtypes.all()
        (dtypes.bool, dtypes.int32, dtypes.float32, dtypes.float64)
        """
        return tuple(getattr(dtypes, name) for name in _PROMOTION_ORDER)

    @staticmethod
    def from_numpy(np_dtype: Any) -> DType:
        """The DType for a numpy dtype; ValueError names it and the supported ones if unsupported.

        >>> dtypes.from_numpy(np.float32)
        dtypes.float32
        >>> dtypes.from_numpy(np.float16)
        Traceback (most recent call last):
        ValueError: unsupported dtype float16; tinygradlike supports bool, int32, float32, float64
        """
        np_dtype = np.dtype(np_dtype)
        for dt in dtypes.all():
            if dt.np == np_dtype:
                return dt
        raise ValueError(_unsupported_message(str(np_dtype)))

    @staticmethod
    def from_any(x: Any) -> DType:
        """Accepts a DType, a numpy dtype or scalar type, a name like "float32", or float/int/bool.

        Python `float` means float32 and `int` means int32 (the device types), not numpy's
        64-bit defaults.

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
        """The result type of a binary op on a and b: the higher of the two in
        bool < int32 < float32 < float64.

        >>> dtypes.promote(dtypes.int32, dtypes.float32)
        dtypes.float32
        """
        return a if a.priority >= b.priority else b


_PROMOTION_ORDER = ("bool", "int32", "float32", "float64")


def _unsupported_message(what: str) -> str:
    supported = ", ".join(dt.name for dt in dtypes.all())
    return f"unsupported dtype {what}; tinygradlike supports {supported}"
