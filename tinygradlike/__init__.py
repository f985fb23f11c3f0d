"""tinygradlike: a small, readable autograd engine, from scalars to lazy OpenCL tensors.

Names are imported on first use, so `from tinygradlike import Value` does not pay for
pyopencl, and the pure-Python modules (view, codegen) import without a device.
"""
import sys
from importlib import import_module
from types import ModuleType

__version__ = "0.1.0"

_LAZY = {
    "Value": ("tinygradlike.scalar", "Value"),
    "Tensor": ("tinygradlike.tensor", "Tensor"),
    "dtypes": ("tinygradlike.dtypes", "dtypes"),
    "stats": ("tinygradlike.runtime", "stats"),
    "reset_stats": ("tinygradlike.runtime", "reset_stats"),
    "profile": ("tinygradlike.profiling", "profile"),
    "jit": ("tinygradlike.jit", "jit"),
    "CustomOp": ("tinygradlike.custom", "CustomOp"),
    "no_grad": ("tinygradlike.grad_mode", "no_grad"),
    "enable_grad": ("tinygradlike.grad_mode", "enable_grad"),
    "set_grad_enabled": ("tinygradlike.grad_mode", "set_grad_enabled"),
    "is_grad_enabled": ("tinygradlike.grad_mode", "is_grad_enabled"),
    "nn": ("tinygradlike.nn", None),
    "datasets": ("tinygradlike.datasets", None),
    "state": ("tinygradlike.state", None),
    "optim": ("tinygradlike.optim", None),
}

__all__ = sorted(_LAZY)


def __getattr__(name: str):
    if name not in _LAZY:
        raise AttributeError(f"module 'tinygradlike' has no attribute {name!r}")
    module_name, attr = _LAZY[name]
    module = import_module(module_name)
    value = module if attr is None else getattr(module, attr)
    globals()[name] = value
    return value


class _Package(ModuleType):
    """`tinygradlike.jit` and `tinygradlike.dtypes` name both a submodule and what users want from
    it (the jit decorator, the dtypes namespace). Importing the submodule makes Python set the
    package attribute to the module, so `from tinygradlike import jit` would give a module or a
    function depending on what was imported before. The exported name always wins here."""

    def __setattr__(self, name: str, value) -> None:
        if isinstance(value, ModuleType) and _LAZY.get(name, (None, None))[1] is not None:
            return  # the submodule stays reachable as sys.modules["tinygradlike." + name]
        super().__setattr__(name, value)


sys.modules[__name__].__class__ = _Package
