"""Which OpenCL drivers here can build a kernel at all.

A driver that cannot build even a trivial kernel (the pip PoCL's LLVM 14 on a CPU newer than it
reports "unknown target CPU") is an environment limit, not a bug of ours: tests that run on
every device skip it, with the driver's own words as the reason. The probe is plain pyopencl,
so a bug of ours cannot hide as a driver limit."""
from functools import lru_cache

import pyopencl as cl

TRIVIAL = "__kernel void probe(__global int* a) { a[0] = 1; }"


@lru_cache(maxsize=None)
def build_failure(device: cl.Device) -> str | None:
    """None if the driver builds TRIVIAL for `device`, else the first line of its build log."""
    program = cl.Program(cl.Context([device]), TRIVIAL)
    try:
        program.build(devices=[device], cache_dir=False)
        return None
    except cl.Error as e:
        log = program.get_build_info(device, cl.program_build_info.LOG).strip() or str(e)
        return log.splitlines()[0]


def build_failure_at(index: str) -> str | None:
    """build_failure of the device at TGL_DEVICE-style index "P:D"."""
    platform, number = map(int, index.split(":"))
    return build_failure(cl.get_platforms()[platform].get_devices()[number])


def skip_reason(device: cl.Device, what: str) -> str | None:
    failure = build_failure(device)
    return None if failure is None else f"the OpenCL driver of {what} cannot build a trivial kernel: {failure}"
