"""A fuzzing session: run N hypothesis-drawn programs, keep going after failures, group the
failures into classes (shrinking the first program of each class to a repro), and report.
"""
from __future__ import annotations

import os
import tempfile
import time
from collections import Counter
from dataclasses import dataclass, field

from hypothesis import HealthCheck, given, seed, settings
from hypothesis import strategies as st

from fuzz_generate import draw_program
from fuzz_program import Failure, check_program, render_repro, run_ref
from fuzz_shrink import localize, shrink

DEFAULT_BUDGET = 60
CURRENT_PROGRAM = os.environ.get("TGL_FUZZ_CURRENT", os.path.join(tempfile.gettempdir(), "tgl_fuzz_current.py"))
VALUE_KINDS = ("forward", "gradient", "second-order")


@dataclass
class FailureClass:
    example: Failure               # shrunk when there was time for it
    ops: frozenset                 # the ops of the example: a program failing the same way that
    count: int = 1                 # holds all of them counts as this class, not a new one
    shrunk: bool = False
    where: str = ""                # localize()'s note
    root: tuple | None = None      # the failure of the first op that is wrong on its own
    signatures: set = field(default_factory=set)  # of the programs counted here

    @property
    def title(self) -> str:
        title = f"{self.example.kind}: {self.example.detail}"
        if self.root is not None and self.root != self.example.signature:
            title += f"  [root: {self.root[0]}: {self.root[1]}]"
        return title


@dataclass
class Session:
    budget: int = DEFAULT_BUDGET
    shrink_seconds: float = 20.0   # per new failure class; the session spends at most 10x that
    seed: int | None = None        # a hypothesis seed (default: the profile's, derandomized in CI)
    programs: int = 0
    failed_programs: int = 0
    op_counts: Counter = field(default_factory=Counter)
    grad_modes: Counter = field(default_factory=Counter)
    counters: dict = field(default_factory=dict)
    classes: list[FailureClass] = field(default_factory=list)
    shrink_spent: float = 0.0
    seconds: float = 0.0
    kernel_stats: dict = field(default_factory=dict)

    # -- running --------------------------------------------------------------------------
    def run(self) -> Session:
        import tinygradlike

        before = dict(tinygradlike.stats())
        start = time.monotonic()

        extra = {} if self.seed is None else {"derandomize": False}

        @settings(max_examples=self.budget, deadline=None, database=None, print_blob=False,
                  suppress_health_check=list(HealthCheck), **extra)
        @given(data=st.data())
        def one_program(data):
            self.check(draw_program(data))

        if self.seed is not None:
            one_program = seed(self.seed)(one_program)
        one_program()
        self.seconds = time.monotonic() - start
        after = tinygradlike.stats()
        self.kernel_stats = {k: after[k] - before.get(k, 0) for k in after if k != "live_buffers"}
        return self

    def check(self, prog) -> Failure | None:
        # the program about to run, on disk: if it crashes the process (a segfault in the
        # OpenCL driver), this file is its repro
        with open(CURRENT_PROGRAM, "w") as f:
            f.write(f"# program {self.programs + 1} of a fuzz session (the last one started)\n{render_repro(prog)}")
        self.programs += 1
        self.op_counts.update(prog.op_names())
        self.grad_modes[prog.grad.mode if prog.grad else "none"] += 1
        failure = check_program(prog, self.counters)
        if failure is not None:
            self.failed_programs += 1
            self.record(failure)
        return failure

    def record(self, failure: Failure) -> None:
        ops = set(failure.program.op_names())
        for c in self.classes:
            if failure.signature in c.signatures and (failure.kind not in VALUE_KINDS or c.ops <= ops):
                c.count += 1
                return
        example, shrunk, where, root = failure, False, "", None
        if self.shrink_seconds > 0 and self.shrink_spent < 10 * self.shrink_seconds:
            t0 = time.monotonic()
            example = shrink(failure, self.shrink_seconds)
            where, root = localize(example, self.shrink_seconds / 2)
            shrunk = True
            self.shrink_spent += time.monotonic() - t0
        for c in self.classes:  # shrinking may show it is a known class after all
            same_root = root is not None and root == c.root
            if same_root or (c.example.signature == example.signature and c.ops == frozenset(example.program.op_names())):
                c.count += 1
                c.signatures.add(failure.signature)
                return
        self.classes.append(FailureClass(example, frozenset(example.program.op_names()), 1, shrunk, where, root,
                                         {failure.signature, example.signature}))

    # -- reporting ------------------------------------------------------------------------
    def summary(self) -> str:
        ks = self.kernel_stats
        lines = [
            f"fuzz: {self.programs} programs in {self.seconds:.1f} s, {sum(self.op_counts.values())} op calls, "
            f"{self.failed_programs} failing programs in {len(self.classes)} classes "
            f"(shrinking took {self.shrink_spent:.1f} s)",
            "  gradient stages: " + ", ".join(f"{k} {v}" for k, v in sorted(self.grad_modes.items())),
            f"  elements compared {self.counters.get('elements_compared', 0)}, "
            f"skipped as unstable under float32 rounding {self.counters.get('elements_unstable', 0)}",
            f"  kernels: launched {int(ks.get('kernels_launched', 0))}, compiled {int(ks.get('kernels_compiled', 0))} "
            f"({ks.get('compile_seconds', 0):.1f} s), loaded from disk cache {int(ks.get('cache_hits_disk', 0))}, "
            f"found in memory {int(ks.get('cache_hits_memory', 0))}",
            "  ops tried: " + ", ".join(f"{k} {v}" for k, v in self.op_counts.most_common()),
        ]
        if self.classes:
            lines.append("  failures by class:")
            for n, c in enumerate(self.classes, 1):
                lines.append(f"    [{n}] {c.count:4d}x  {c.title}")
        return "\n".join(lines)

    def failure_report(self) -> str:
        parts = []
        for n, c in enumerate(self.classes, 1):
            ex = c.example
            center = run_ref(ex.program)
            expected = {k: v.numpy() for k, v in center.items() if k in ex.program.result_names()}
            head = f"=== [{n}] {c.title}  ({c.count} program(s){'' if c.shrunk else ', not shrunk'})"
            body = ex.message if len(ex.message) < 2500 else ex.message[:2500] + " ..."
            note = f"\n{c.where}" if c.where else ""
            parts.append(f"{head}\n{body}{note}\n--- repro ---\n{render_repro(ex.program, expected)}")
        return "\n".join(parts)


def budget_from_env(default: int = DEFAULT_BUDGET) -> int:
    return int(os.environ.get("TGL_FUZZ_BUDGET", default))


LAST_SESSION: list[Session] = []  # for the pytest terminal summary
