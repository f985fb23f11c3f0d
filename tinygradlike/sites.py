"""Where the user's code made each node: the line (`train.py:42`) that a profile row and a
TGL_DEBUG=3 schedule print beside a kernel.

A stack walk for every node would slow graph building by half (users build ~1M nodes a
second), so lines are only noted while someone is looking: `watch()` (tinygradlike.profile() and
TGL_DEBUG >= 3) until `unwatch()`. Otherwise graph building pays one check of `recording`
per Tensor. While recording, every Tensor made notes the user's line with the serial the next
node will get: the nodes made since the previous note were made by that line, because every
statement's work ends in Tensor objects (a template copy, a backward pass and an optimizer
step included). The table is a sorted list of serial boundaries, one entry per run of notes
from one line, so a node's line is a bisect and no node carries anything. Noting costs about
a third of the graph-building speed while it is on (measured: 690k -> 430k nodes a second).

The user's line is the innermost stack frame outside this package (Python's own frozen modules
skipped). Threads are not told apart.
"""
from __future__ import annotations

import os
import sys
from bisect import bisect_right

from tinygradlike.graph import Node, next_serial

recording = False  # read by Tensor.__init__ for every Tensor: a plain module global

_PACKAGE = os.path.dirname(os.path.abspath(__file__)) + os.sep
_LIMIT = 1 << 16  # entries kept; past it the oldest half is forgotten (those lines turn unknown)
_ends: list[int] = []  # entry i covers the serials in [_ends[i - 1], _ends[i]) ...
_lines: list[tuple | None] = []  # ... made by this (file, line number) (None: before anyone looked)
_start = 0  # the serials below it were in dropped entries
_watchers = 0


def watch() -> None:
    """Start noting lines (watchers are counted: each watch() needs its unwatch()). Nodes made
    before the first watcher came keep an unknown line."""
    global recording, _watchers
    _watchers += 1
    if not recording:
        recording = True
        _close(None)


def unwatch() -> None:
    """One watcher less; when none is left, stop noting and forget the table."""
    global recording, _watchers, _start
    _watchers = max(0, _watchers - 1)
    if _watchers == 0 and recording:
        recording = False
        _start = 0
        _ends.clear()
        _lines.clear()


def note() -> None:
    """Credit the nodes made since the last note to the user's line running now (Tensor.__init__
    calls it for every Tensor made while recording)."""
    _close(_user_frame(sys._getframe(1)))


def line_of(node: Node) -> str | None:
    """The user's line that made `node` ("file.py:42"), or None when it was made while nobody
    was looking (or so long ago that its entry was dropped)."""
    if node.serial < _start:
        return None
    i = bisect_right(_ends, node.serial)
    if i < len(_ends):
        where = _lines[i]
    elif recording:  # made since the last note, not yet in a Tensor (numpy()'s copy of a view):
        where = _user_frame(sys._getframe(1))  # by the statement running now
    else:
        where = None
    return None if where is None else f"{os.path.basename(where[0])}:{where[1]}"


def _user_frame(frame) -> tuple[str, int] | None:
    """(file name, line number) of the innermost frame at or above `frame` that is outside this
    package; None when there is none (the package's own entry point, `python -m tinygradlike`)."""
    while frame is not None:
        filename = frame.f_code.co_filename
        if not filename.startswith(_PACKAGE) and not filename.startswith("<frozen"):
            return filename, frame.f_lineno
        frame = frame.f_back
    return None


def _close(line: tuple[str, int] | None) -> None:
    """End the current entry at the next serial, as made by `line`."""
    global _start
    end = next_serial()
    if _lines and _lines[-1] == line:
        _ends[-1] = end
        return
    _ends.append(end)
    _lines.append(line)
    if len(_ends) > _LIMIT:
        _start = _ends[_LIMIT // 2 - 1]
        del _ends[:_LIMIT // 2]
        del _lines[:_LIMIT // 2]
