"""Which OpenCL devices exist, and which one to use.

`choose_device` is a pure function (device descriptions in, an index out), so the default
preference and TGL_DEVICE's rules are tested without any device: a GPU first, then a system
CPU driver, then any other device, then the PyPI PoCL (the zero-setup fallback, slowest); PYOPENCL_CTX as pyopencl reads it,
where TGL_DEVICE is not set.
`enumerate_devices` asks pyopencl's ICD loader what is installed.
"""
from __future__ import annotations

import importlib.metadata
import os
import re

import pyopencl as cl

INSTALL_HELP = (
    "tinygradlike needs an OpenCL device and found none: the OpenCL loader lists no platform with a device "
    "(it reads the .icd files in /etc/OpenCL/vendors, or in $OCL_ICD_VENDORS if set). Install one of:\n"
    "  pip install pocl-binary-distribution   (or: pip install \"pyopencl[pocl]\") -- a CPU device, zero setup\n"
    "  apt-get install pocl-opencl-icd         -- Debian/Ubuntu's PoCL, a faster CPU device\n"
    "  your GPU vendor's OpenCL driver         -- NVIDIA, AMD (ROCm) or Intel (compute-runtime)\n"
    "then check with: python -m tinygradlike devices"
)
SPEC_HELP = (
    "TGL_DEVICE accepts \"P:D\" (platform:device index, as listed) or a case-insensitive substring "
    "of the platform name, platform version, device name or kind (e.g. \"debian\", \"3.0-rc2\", "
    "\"nvidia\", \"gpu\", \"cpu\")"
)


def device_environment() -> tuple[str | None, str | None]:
    """(TGL_DEVICE, PYOPENCL_CTX) from the environment, None where unset or empty."""
    return os.environ.get("TGL_DEVICE") or None, os.environ.get("PYOPENCL_CTX") or None


def choose_device(platforms_info: list[dict], spec: str | None, pyopencl_ctx: str | None = None) -> str:
    """Pick a device index "P:D" from pure data, one dict per device with keys index,
    platform_name, platform_version, name, kind ('gpu'|'cpu'|'other') and is_pip_pocl.

    spec (TGL_DEVICE) is "P:D" or a substring (several matches: the preference decides among
    them). Without it, pyopencl_ctx (PYOPENCL_CTX) picks as pyopencl's create_some_context
    does. Without either, the default preference: a GPU, then a system CPU OpenCL, then any
    other device, then the PyPI PoCL. RuntimeError with install help if there is no device;
    ValueError listing the devices if spec or pyopencl_ctx matches none."""
    if not platforms_info:
        asked = f"TGL_DEVICE={spec!r}" if spec else f"PYOPENCL_CTX={pyopencl_ctx!r}" if pyopencl_ctx else ""
        raise RuntimeError(INSTALL_HELP + (f"\n({asked} is set, but there is no device for it to choose from.)"
                                           if asked else ""))
    candidates = platforms_info
    if spec:
        candidates = _match_spec(platforms_info, spec.strip())
        if not candidates:
            raise ValueError(_no_match_message(platforms_info, spec.strip()))
    elif pyopencl_ctx:
        return _match_pyopencl_ctx(platforms_info, pyopencl_ctx)
    return min(candidates, key=_preference)["index"]


def _match_pyopencl_ctx(platforms_info: list[dict], ctx: str) -> str:
    """PYOPENCL_CTX as pyopencl reads it: "platform[:device]", each an index or a
    case-insensitive substring of the name (the platform: the last that matches, the device:
    the first); an empty or missing part takes the first; of a comma list of devices, the first
    (one device runs a tinygradlike program)."""
    answers = ctx.split(":")
    platforms: dict[int, str] = {}
    for info in platforms_info:
        platforms.setdefault(int(info["index"].split(":")[0]), info["platform_name"])

    def fail(why: str) -> ValueError:
        listing = "\n".join(f"  {summarize(info)}" for info in platforms_info)
        return ValueError(f"PYOPENCL_CTX={ctx!r} matches no OpenCL device: {why}.\nThe devices are:\n{listing}\n"
                          f"PYOPENCL_CTX takes \"platform:device\", each an index or a part of the name; "
                          f"TGL_DEVICE, if set, is used instead.")

    if len(answers) > 2:
        raise fail("it has more than platform and device")
    choice = answers[0].strip()
    if not choice:
        platform = min(platforms)
    elif choice.isdigit() and int(choice) in platforms:
        platform = int(choice)
    else:
        named = [p for p, name in sorted(platforms.items()) if choice.lower() in name.lower()]
        if not named:
            raise fail(f"no platform {choice}")
        platform = named[-1]
    devices = [info for info in platforms_info if info["index"].startswith(f"{platform}:")]
    choice = answers[1].split(",")[0].strip() if len(answers) > 1 else ""
    if not choice:
        return devices[0]["index"]
    if choice.isdigit() and f"{platform}:{choice}" in {info["index"] for info in devices}:
        return f"{platform}:{choice}"
    named = [info for info in devices if choice.lower() in info["name"].lower()]
    if not named:
        raise fail(f"platform {platform} has no device {choice}")
    return named[0]["index"]


def _no_match_message(platforms_info: list[dict], spec: str) -> str:
    if re.fullmatch(r"\d+:\d+", spec):
        why = f"there is no device {spec}"
    else:
        why = f"no platform name, version, device name or kind contains {spec!r}"
    listing = "\n".join(f"  {summarize(info)}" for info in platforms_info)
    return (f"TGL_DEVICE={spec!r} matches no OpenCL device: {why}.\nThe devices are:\n{listing}\n"
            f"{SPEC_HELP}; or unset TGL_DEVICE for the default choice.")


def _match_spec(platforms_info: list[dict], spec: str) -> list[dict]:
    if re.fullmatch(r"\d+:\d+", spec):
        return [info for info in platforms_info if info["index"] == spec]
    needle = spec.lower()
    return [info for info in platforms_info if needle in _haystack(info)]


def _haystack(info: dict) -> str:
    return " ".join((info["platform_name"], info["platform_version"], info["name"], info["kind"])).lower()


def _preference(info: dict) -> int:
    if info["kind"] == "gpu":
        return 0
    if info["is_pip_pocl"]:
        return 3
    return 1 if info["kind"] == "cpu" else 2


def summarize(info: dict) -> str:
    short_version = info["platform_version"].split("  ")[0]
    pip = ", pip PoCL" if info["is_pip_pocl"] else ""
    return f"{info['index']}  {info['kind']:<5} {info['name']}  [{info['platform_name']}, {short_version}{pip}]"


def enumerate_devices() -> list[tuple[dict, cl.Device]]:
    """Every (info, cl.Device) the ICD loader shows; [] when there is no platform at all."""
    try:
        platforms = cl.get_platforms()
    except cl.Error:  # the ICD loader raises PLATFORM_NOT_FOUND_KHR when nothing is installed
        return []
    found = []
    for p_index, platform in enumerate(platforms):
        try:
            devices = platform.get_devices()
        except cl.Error:  # a platform without devices raises DEVICE_NOT_FOUND
            continue
        for d_index, device in enumerate(devices):
            found.append((_describe(f"{p_index}:{d_index}", platform, device), device))
    return found


def _describe(index: str, platform: cl.Platform, device: cl.Device) -> dict:
    return {
        "index": index,
        "platform_name": platform.name,
        "platform_version": platform.version,
        "name": device.name.strip(),
        "kind": _kind(device.type),
        "driver_version": device.driver_version,
        "fp64": _has_fp64(device),
        "is_pip_pocl": _is_pip_pocl(platform.name, platform.version),
    }


def _kind(device_type: int) -> str:
    if device_type & cl.device_type.GPU:
        return "gpu"
    return "cpu" if device_type & cl.device_type.CPU else "other"


def _has_fp64(device: cl.Device) -> bool:
    return "cl_khr_fp64" in device.extensions or bool(device.double_fp_config)


def _is_pip_pocl(platform_name: str, platform_version: str) -> bool:
    """The PyPI PoCL shows no path we could check, so recognise it by its version: PoCL whose
    version is pocl-binary-distribution's, without a distro suffix ("3.1+debian", "~ubuntu")."""
    if "portable computing language" not in platform_name.lower():
        return False
    try:
        pip_version = importlib.metadata.version("pocl-binary-distribution")
    except importlib.metadata.PackageNotFoundError:
        return False
    match = re.search(r"PoCL (\S+)", platform_version)
    return bool(match) and match.group(1).startswith(pip_version) and not re.search(r"[+~]", match.group(1))
