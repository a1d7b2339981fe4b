"""HiGHS (through `scipy.optimize.milp`) held to a deadline it cannot overrun.

HiGHS checks its time limit between steps, and some steps of a large program run far past it: on
a 1,000-node live snapshot (78,000 variables after presolve), a stage given 10 s ran 77 s. A
program that large is solved in a child process, killed at the deadline; what it found by then is
lost, as when HiGHS finds nothing in time. Small programs end within their limit and are solved in
place, without the cost of a process."""

from __future__ import annotations

import multiprocessing
from multiprocessing.connection import Connection
from typing import Any

import numpy as np
import numpy.typing as npt
from scipy.optimize import milp

from kubemig.planner.solver_stdout import solver_output_to_stderr

IN_PLACE_VARIABLES = 20_000
"""Programs with fewer variables are solved in place: the largest the planner's benchmarks and tests
build (64 GPUs, snapshots of hundreds of GPUs) solve within their limits."""

Answer = tuple[npt.NDArray[np.float64] | None, int, float | None]
"""The solution (None: none found), HiGHS's status (0: optimal) and the gap left when cut short."""


def milp_within(deadline_s: float, problem: dict[str, Any], *, in_place: bool | None = None) -> Answer:
    """`milp(**problem)`, its answer given up at `deadline_s` from now (status 1, nothing found)
    where it runs in a child process: when `in_place` is False, or None and the program has
    `IN_PLACE_VARIABLES` or more."""
    if in_place is None:
        in_place = len(problem["c"]) < IN_PLACE_VARIABLES
    if in_place:
        return _answer(problem)
    methods = multiprocessing.get_all_start_methods()
    fork = "fork" in methods  # cheap: the child shares the program's memory until it writes
    context = multiprocessing.get_context("fork") if fork else multiprocessing.get_context("spawn")
    receive, send = context.Pipe(duplex=False)
    child = context.Process(target=_solve_and_send, args=(send, problem), daemon=True)
    child.start()
    send.close()
    answer: Answer | BaseException | None = None
    try:
        if receive.poll(max(deadline_s, 0.0)):
            answer = receive.recv()
    except EOFError:
        answer = None  # the child died without a word: nothing found
    finally:
        if child.is_alive():
            child.kill()
        child.join()
        receive.close()
    if isinstance(answer, BaseException):
        raise answer
    return answer if answer is not None else (None, 1, None)


def _answer(problem: dict[str, Any]) -> Answer:
    with solver_output_to_stderr():
        result = milp(**problem)
    gap = getattr(result, "mip_gap", None)
    return result.x, int(result.status), (None if result.status == 0 or gap is None else float(gap))


def _solve_and_send(send: Connection, problem: dict[str, Any]) -> None:
    try:
        send.send(_answer(problem))
    except BaseException as exc:  # the parent raises it: a bug is not a time limit
        send.send(exc)
    finally:
        send.close()
