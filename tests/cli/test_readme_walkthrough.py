"""The README's "Try it without a GPU" section, run as written: its shell block line by line in bash
with `kubemig` on PATH (real subprocesses on a simulated node), and its example output byte for byte.
A README that drifts from what kubemig does fails here."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

from tests.helpers import kubemig_env, run_kubemig

README = Path(__file__).resolve().parents[2] / "README.md"
SECTION = "## Try it without a GPU"


def _blocks() -> list[tuple[str, str]]:
    """The section's fenced blocks as (language, text)."""
    text = README.read_text()
    start = text.index(SECTION) + len(SECTION)
    section = text[start : text.index("\n## ", start)]
    return re.findall(r"^```(\w*)\n(.*?)^```$", section, flags=re.MULTILINE | re.DOTALL)


def test_the_shell_walkthrough_runs_as_written(tmp_path: Path) -> None:
    (script,) = [body for lang, body in _blocks() if lang == "sh"]
    lines = [line for line in script.splitlines() if line.strip()]
    shim = tmp_path / "bin" / "kubemig"
    shim.parent.mkdir()
    shim.write_text(f'#!/bin/sh\nexec "{sys.executable}" -m kubemig "$@"\n')
    shim.chmod(0o755)
    work = tmp_path / "work"
    work.mkdir()
    # each line reports its exit status on fd 3, so one bash runs the block with its exports in effect
    traced = "".join(f"{line}\necho {n}:$? >&3\n" for n, line in enumerate(lines))
    env = kubemig_env(
        PATH=f"{shim.parent}{os.pathsep}{os.environ.get('PATH', '')}",
        KUBEMIG_SIM_STATE=str(tmp_path / "sim-state.json"),
        KUBEMIG_SIM_ROOT=str(tmp_path / "sim-root"),
    )
    env.pop("KUBEMIG_SIM", None)
    read_fd, write_fd = os.pipe()
    with subprocess.Popen(
        ["bash", "-c", f"exec 3>&{write_fd}\n{traced}"],
        cwd=work,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        pass_fds=(write_fd,),
    ) as shell:
        os.close(write_fd)
        output, _ = shell.communicate(timeout=300)
    with os.fdopen(read_fd) as statuses:
        codes: dict[int, int] = {}
        for entry in statuses.read().split():
            number, code = entry.split(":")
            codes[int(number)] = int(code)
    assert len(codes) == len(lines), output
    for n, line in enumerate(lines):
        # a line whose comment says it refuses must fail; every other line must succeed
        expected = 1 if "# refuses" in line else 0
        assert codes[n] == expected, f"{line!r} exited {codes[n]}\n{output}"
    assert "MIG configuration 'kubemig-plan' applied: 8 NVML operations" in output
    # counts read as English: one GPU changes, and one instance (the busy 3g.20gb) is kept
    assert "3 free instances destroyed, 1 GPU touched" in output
    assert "8 NVML operations, 1 instance kept" in output
    assert (work / "plans" / "node-a.yaml").is_file() and (work / "mig.yaml").is_file()
    # the busy 3g.20gb survived the plan: its process still runs on the same MIG device
    listed = run_kubemig("smi", "-L", env={**env, "KUBEMIG_SIM": "8xA100-SXM4-40GB"})
    assert re.search(r"MIG 3g\.20gb\s+Device\s+\d+:", listed.stdout), listed.stdout
    assert re.search(r"MIG 4g\.20gb\s+Device\s+\d+:", listed.stdout), listed.stdout


def test_the_example_output_is_what_the_command_prints() -> None:
    (example,) = [body for lang, body in _blocks() if lang == ""]
    command, _, expected = example.partition("\n")
    assert command.startswith("$ kubemig ")
    result = run_kubemig(*command.removeprefix("$ kubemig ").split())
    assert result.returncode == 0, result.stderr
    assert result.stdout == expected
