"""The solver's own printing kept off kubemig's standard output.

HiGHS 1.12 (as scipy 1.17 bundles it) prints a debug line, `HighsMipSolverData::
transformNewIntegerFeasibleSolution tmpSolver.run();`, on the process's C-level standard output
whenever a sub-MIP finds a solution, even with `disp` off. Standard output is kubemig's answer
(`kubemig plan --json > plan.json`), so a plan with that line in front of it is no JSON at all. While
a program is solved, file descriptor 1 points at standard error; whatever the solver prints still
reaches the terminal, and nothing lands in the answer. The descriptor is the process's: another
thread that writes to standard output meanwhile writes to standard error too, so nothing is lost."""

from __future__ import annotations

import ctypes
import os
import sys
from collections.abc import Iterator
from contextlib import contextmanager


@contextmanager
def solver_output_to_stderr() -> Iterator[None]:
    """Inside it, what is written to file descriptor 1 (by C code too) goes to descriptor 2."""
    saved: int | None = None
    try:
        sys.stdout.flush()
        saved = os.dup(1)
        os.dup2(2, 1)
    except (OSError, ValueError, AttributeError):  # no stdout to protect, or no stderr to send it to
        if saved is not None:
            os.close(saved)
        yield
        return
    try:
        yield
    finally:
        _flush_c_stdio()  # what the solver left in C's buffer goes to stderr, not to the answer later
        os.dup2(saved, 1)
        os.close(saved)


def _flush_c_stdio() -> None:
    try:
        ctypes.CDLL(None).fflush(None)
    except (OSError, AttributeError):  # no C library to ask (not a POSIX system): nothing buffered there
        pass
