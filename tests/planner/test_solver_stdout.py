"""The solver's own printing stays off kubemig's standard output (`planner/solver_stdout.py`)."""

from __future__ import annotations

import os
import subprocess
import sys

from tests.helpers import kubemig_env

# C's printf into a pipe is buffered until a flush (unless PYTHONUNBUFFERED, which the test takes
# away): the buffer must be flushed while it still points at stderr, or the text lands in stdout
# after all, at exit
PRINTS_FROM_C = """
import ctypes
from kubemig.planner.solver_stdout import solver_output_to_stderr
print("before", flush=True)
with solver_output_to_stderr():
    print("from Python inside", flush=True)
    ctypes.CDLL(None).printf(b"from C inside, no end of line")
print("after")
"""


def test_what_c_code_prints_inside_goes_to_stderr_and_stdout_comes_back() -> None:
    env = kubemig_env()
    env.pop("PYTHONUNBUFFERED", None)
    result = subprocess.run(
        [sys.executable, "-c", PRINTS_FROM_C], capture_output=True, text=True, env=env, timeout=60
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout == "before\nafter\n"
    assert "from C inside" in result.stderr and "from Python inside" in result.stderr


def _close_stdin_and_stderr() -> None:
    # stdin too: the copy of stdout then takes descriptor 0 rather than 2, which stays closed
    os.close(0)
    os.close(2)


def test_without_stderr_to_point_at_the_solve_goes_on_with_stdout_as_it_is() -> None:
    code = (
        "from kubemig.planner.solver_stdout import solver_output_to_stderr\n"
        "with solver_output_to_stderr():\n"
        "    print('inside')\n"
    )
    result = subprocess.run(
        [sys.executable, "-c", code],
        stdout=subprocess.PIPE,
        text=True,
        env=kubemig_env(),
        timeout=60,
        preexec_fn=_close_stdin_and_stderr,
    )
    assert (result.returncode, result.stdout) == (0, "inside\n")
