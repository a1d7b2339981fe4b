"""Running the `kubemig` command in a forked process: a real process (it can be SIGKILLed, its files stay
as it left them) that skips the interpreter start-up, so hundreds of scenarios fit in the suite."""

from __future__ import annotations

import io
import os
import signal
import sys
import tempfile
from collections.abc import Mapping
from dataclasses import dataclass

import kubemig.cli  # imported once here, so that each forked child starts with it loaded


@dataclass(frozen=True)
class Result:
    returncode: int
    """The exit status, or minus the signal that killed the process (-9 for SIGKILL), like subprocess."""
    stdout: str
    stderr: str

    @property
    def killed(self) -> bool:
        return self.returncode == -signal.SIGKILL


def run_forked(args: list[str], env: Mapping[str, str]) -> Result:
    """`kubemig ARGS` with exactly `env` added to this environment, in a child process."""
    with tempfile.TemporaryFile() as out, tempfile.TemporaryFile() as err:
        pid = os.fork()
        if pid == 0:  # the child: never returns into pytest
            code = 70
            try:
                os.dup2(out.fileno(), 1)
                os.dup2(err.fileno(), 2)
                sys.stdout = io.TextIOWrapper(io.FileIO(1, "w", closefd=False), write_through=True)
                sys.stderr = io.TextIOWrapper(io.FileIO(2, "w", closefd=False), write_through=True)
                sys.stdin = io.TextIOWrapper(io.BytesIO())
                os.environ.update(env)
                try:
                    kubemig.cli.main(args)
                    code = 0
                except SystemExit as exc:
                    code = exc.code if isinstance(exc.code, int) else 1
            except BaseException as exc:  # a bug: show it to the test
                os.write(2, f"forked kubemig crashed: {exc!r}\n".encode())
                code = 70
            finally:
                os._exit(code)
        _, status = os.waitpid(pid, 0)
        returncode = -os.WTERMSIG(status) if os.WIFSIGNALED(status) else os.WEXITSTATUS(status)
        out.seek(0)
        err.seek(0)
        return Result(returncode, out.read().decode(), err.read().decode())
