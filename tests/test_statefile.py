"""The shared-state helpers: a lock that says who holds it and can give up, atomic replacement."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from kubemig.statefile import LockTimeout, lock_path, locked, write_atomic

HOLDER = """
import sys, time
from pathlib import Path
from kubemig.statefile import locked
with locked(Path(sys.argv[1])):
    print("held", flush=True)
    sys.stdin.readline()
"""


def test_a_waiter_learns_the_holder_and_gives_up_after_its_timeout(tmp_path: Path) -> None:
    state = tmp_path / "state.json"
    holder = subprocess.Popen(
        [sys.executable, "-c", HOLDER, str(state)],
        stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True, env={**os.environ, "PYTHONPATH": os.pathsep.join(sys.path)},
    )  # fmt: skip
    try:
        assert holder.stdout is not None and holder.stdout.readline() == "held\n"
        told: list[str] = []
        with pytest.raises(LockTimeout) as info, locked(state, waiting=told.append, timeout_s=0.1):
            pass
        assert told == [str(holder.pid)] and info.value.holder == str(holder.pid)
        assert info.value.path == lock_path(state)
    finally:
        holder.communicate("\n", timeout=30)  # lets it go, and closes the pipes
    told.clear()
    with locked(state, waiting=told.append, timeout_s=0.1):  # the holder is gone: no wait
        assert lock_path(state).read_text() == str(os.getpid())
    assert told == []


def test_write_atomic_replaces_the_file_and_leaves_no_temporary(tmp_path: Path) -> None:
    target = tmp_path / "deep" / "state.json"
    write_atomic(target, "one")
    write_atomic(target, "two")
    assert target.read_text() == "two"
    assert sorted(p.name for p in target.parent.iterdir()) == ["state.json"]


def test_write_atomic_keeps_a_files_mode_and_gives_a_new_one_the_usual_mode(tmp_path: Path) -> None:
    from kubemig.statefile import _UMASK  # read once, at import

    expected = 0o666 & ~_UMASK  # not the temp file's 0600
    fresh = tmp_path / "fresh.json"
    write_atomic(fresh, "{}")
    assert fresh.stat().st_mode & 0o777 == expected
    private = tmp_path / "private.json"
    private.write_text("{}")
    private.chmod(0o640)
    write_atomic(private, b'{"a": 1}')
    assert private.stat().st_mode & 0o777 == 0o640 and private.read_text() == '{"a": 1}'
