"""Small display helpers shared by the tutorials: pictures and plots in a notebook, files or
text elsewhere. Nothing here is part of what a tutorial teaches."""
from __future__ import annotations

import shutil
import subprocess


def in_notebook() -> bool:
    try:
        from IPython import get_ipython
    except ImportError:
        return False
    shell = get_ipython()
    return shell is not None and shell.__class__.__name__ == "ZMQInteractiveShell"


def show_dot(dot: str) -> str | None:
    """Render DOT text as SVG with Graphviz's `dot` when it is installed (apt-get install graphviz,
    brew install graphviz) and show it in a notebook; returns the SVG, or None without `dot`
    (the DOT text itself can be pasted into any Graphviz viewer)."""
    if shutil.which("dot") is None:
        return None
    svg = subprocess.run(["dot", "-Tsvg"], input=dot, capture_output=True, text=True, timeout=60, check=True).stdout
    if in_notebook():
        from IPython.display import SVG, display
        display(SVG(svg))
    return svg


def show_figure(fig, name: str) -> None:
    """A matplotlib figure: shown inline in a notebook; otherwise left for the caller (the
    tutorials run head-less in the tests, where nothing opens a window)."""
    if in_notebook():
        from IPython.display import display
        display(fig)


def median_seconds(launch, repeats: int = 3) -> float:
    """The median time of launch() followed by a wait for the device, over `repeats` runs after
    one that is not counted (it may compile). For the tutorials' measured claims, always
    compared as ratios within one run."""
    import time

    from tinygradlike import runtime

    launch()
    runtime.synchronize()
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        launch()
        runtime.synchronize()
        times.append(time.perf_counter() - start)
    return sorted(times)[len(times) // 2]

