"""mig-parted's hooks: strict file, real subprocesses, mig-parted's order and environment."""

from __future__ import annotations

from pathlib import Path

import pytest

from kubemig.partition.errors import ConfigError, HookError
from kubemig.partition.hooks import Hook, HookRunner, hook_environment, load_hooks, run_with_hooks


def _hooks_file(tmp_path: Path, log: Path, extra: str = "") -> Path:
    """Every hook appends its name and the MIG_PARTED_* variables it sees to `log`."""
    record = f'echo "$KUBEMIG_HOOK $MIG_PARTED_SELECTED_CONFIG $MIG_PARTED_MODE_CHANGE_ONLY $MY_VAR $(pwd)" >> {log}'
    body = "version: v1\nhooks:\n"
    for hook in Hook:
        body += f"  {hook.value}:\n"
        body += f"    - command: /bin/sh\n      args: ['-c', '{record}']\n      envs: {{MY_VAR: from-{hook.value}}}\n"
        body += f"      workdir: {tmp_path}\n"
    path = tmp_path / "hooks.yaml"
    path.write_text(body + extra)
    return path


def _runner(path: Path, mode_only: bool = False) -> HookRunner:
    env = hook_environment(
        config_file="c.yaml", selected_config="all-balanced", hooks_file=str(path), mode_only=mode_only
    )
    return HookRunner(load_hooks(str(path)), env)


def test_hooks_run_in_mig_parteds_order_with_its_environment(tmp_path: Path) -> None:
    log = tmp_path / "log"
    runner = _runner(_hooks_file(tmp_path, log))
    done: list[str] = []
    run_with_hooks(
        runner,
        mode_only=False,
        mode_differs=lambda: True,
        apply_mode=lambda: done.append("mode"),
        config_differs=lambda: True,
        apply_config=lambda: done.append("config"),
    )
    lines = log.read_text().splitlines()
    assert [line.split()[0] for line in lines] == [
        "apply-start",
        "pre-apply-mode",
        "pre-apply-config",
        "apply-exit",
    ]
    assert all(
        line.split()[1:] == ["all-balanced", "false", f"from-{line.split()[0]}", str(tmp_path)]
        for line in lines
    )
    assert done == ["mode", "config"]


@pytest.mark.parametrize(
    ("mode_differs", "config_differs", "mode_only", "expected"),
    [
        (False, False, False, ["apply-start", "apply-exit"]),
        (False, True, False, ["apply-start", "pre-apply-config", "apply-exit"]),
        (True, False, False, ["apply-start", "pre-apply-mode", "apply-exit"]),
        (True, True, True, ["apply-start", "pre-apply-mode", "apply-exit"]),
    ],
)
def test_pre_apply_hooks_run_only_for_a_change(
    tmp_path: Path, mode_differs: bool, config_differs: bool, mode_only: bool, expected: list[str]
) -> None:
    log = tmp_path / "log"
    run_with_hooks(
        _runner(_hooks_file(tmp_path, log), mode_only),
        mode_only=mode_only,
        mode_differs=lambda: mode_differs,
        apply_mode=lambda: None,
        config_differs=lambda: config_differs,
        apply_config=lambda: None,
    )
    lines = log.read_text().splitlines()
    assert [line.split()[0] for line in lines] == expected
    assert {line.split()[2] for line in lines} == {"true" if mode_only else "false"}


def test_apply_exit_runs_after_a_failure_and_the_failure_wins(tmp_path: Path) -> None:
    log = tmp_path / "log"
    runner = _runner(_hooks_file(tmp_path, log))

    def broken() -> None:
        raise RuntimeError("apply failed")

    with pytest.raises(RuntimeError, match="apply failed"):
        run_with_hooks(
            runner,
            mode_only=False,
            mode_differs=lambda: False,
            apply_mode=lambda: None,
            config_differs=lambda: True,
            apply_config=broken,
        )
    assert [line.split()[0] for line in log.read_text().splitlines()] == [
        "apply-start",
        "pre-apply-config",
        "apply-exit",
    ]


def test_a_failing_command_stops_its_hook_and_names_it(tmp_path: Path) -> None:
    path = tmp_path / "hooks.yaml"
    path.write_text(
        "version: v1\nhooks:\n  apply-start:\n"
        "    - {command: /bin/sh, args: ['-c', 'echo first >> " + str(tmp_path / "log") + "']}\n"
        "    - {command: /bin/sh, args: ['-c', 'echo broken pipe >&2; exit 3']}\n"
        "    - {command: /bin/sh, args: ['-c', 'echo never >> " + str(tmp_path / "log") + "']}\n"
        "  apply-exit:\n    - {command: /bin/sh, args: ['-c', 'echo exit >> "
        + str(tmp_path / "log")
        + "']}\n"
    )
    with pytest.raises(
        HookError, match=r"hook apply-start command 2 \(/bin/sh\) exited with status 3: broken pipe"
    ):
        run_with_hooks(
            _runner(path),
            mode_only=False,
            mode_differs=lambda: False,
            apply_mode=lambda: None,
            config_differs=lambda: False,
            apply_config=lambda: None,
        )
    # apply-start failed, so nothing was started and apply-exit does not run (as in mig-parted)
    assert (tmp_path / "log").read_text().split() == ["first"]


def test_missing_program_and_workdir_are_clear_errors(tmp_path: Path) -> None:
    path = tmp_path / "hooks.yaml"
    path.write_text("version: v1\nhooks:\n  apply-start:\n    - {command: /no/such/program}\n")
    with pytest.raises(HookError, match=r"hook apply-start command 1 \(/no/such/program\): cannot run"):
        _runner(path).run(Hook.APPLY_START)
    path.write_text(
        "version: v1\nhooks:\n  apply-start:\n    - {command: /bin/true, workdir: /no/such/dir}\n"
    )
    with pytest.raises(HookError, match="workdir /no/such/dir does not exist"):
        _runner(path).run(Hook.APPLY_START)


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("hooks: {}\n", "a hooks file starts with `version: v1`"),
        (
            "version: v1\nhooks:\n  apply-strat: []\n",
            "unknown hook 'apply-strat': did you mean 'apply-start'?",
        ),
        (
            "version: v1\nhooks:\n  apply-exit:\n    - {args: [x]}\n",
            "hook 'apply-exit' command 1: missing required field 'command'",
        ),
        (
            "version: v1\nhooks:\n  apply-exit:\n    - {command: x, env: {}}\n",
            "unknown field 'env': the fields are command, args, envs, workdir",
        ),
    ],
)
def test_hooks_file_problems(tmp_path: Path, text: str, expected: str) -> None:
    path = tmp_path / "hooks.yaml"
    path.write_text(text)
    with pytest.raises(ConfigError) as info:
        load_hooks(str(path))
    assert len(info.value.problems) == 1
    assert info.value.problems[0].startswith(str(path)) and expected in info.value.problems[0]


def test_without_a_hooks_file_nothing_runs() -> None:
    runner = HookRunner(None, {})
    runner.run(Hook.APPLY_START)
    assert runner.ran == []
