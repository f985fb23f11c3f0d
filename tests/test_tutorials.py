"""Tutorials stay true: the ```python blocks of each tutorials/*.md, joined in order, run clean.

Blocks share one fresh namespace per file, so a later block may use names from an earlier one,
and the asserts in them are the tutorial's own checks. A tutorial that needs an OpenCL device says
so with `<!-- needs: device -->` (or "device"/"opencl"/"gpu" in its file name) and is skipped
where pyopencl finds no platform.
"""
import re
from pathlib import Path

import pytest

TUTORIALS = sorted((Path(__file__).resolve().parent.parent / "tutorials").glob("*.md"))
FENCE = re.compile(r"^```python[^\n]*\n(.*?)^```", re.DOTALL | re.MULTILINE)


def python_blocks(text: str) -> str:
    return "\n".join(FENCE.findall(text))


def needs_device(path: Path, text: str) -> bool:
    return "<!-- needs: device -->" in text or any(
        word in path.stem.lower() for word in ("device", "opencl", "gpu"))


def have_opencl() -> bool:
    try:
        import pyopencl
        return bool(pyopencl.get_platforms())
    except Exception:  # no pyopencl, no ICD loader, or no platform: all mean "no device"
        return False


def test_the_scalar_tutorial_exists():
    assert any(p.name == "01_scalar_autograd.md" for p in TUTORIALS)


@pytest.mark.parametrize("path", TUTORIALS, ids=[p.name for p in TUTORIALS])
def test_tutorial_code_runs(path: Path):
    text = path.read_text(encoding="utf-8")
    if needs_device(path, text) and not have_opencl():
        pytest.skip(f"{path.name} needs an OpenCL device and none was found")
    code = python_blocks(text)
    assert code.strip(), f"{path.name} has no ```python blocks"
    exec(compile(code, str(path), "exec"), {"__name__": f"tutorial_{path.stem}"})
