"""mig-parted's hooks file, and running its hooks around an apply.

    version: v1
    hooks:
      apply-start:       [{command: /bin/bash, args: [-c, "..."], envs: {K: V}, workdir: /etc/x}]
      pre-apply-mode:    [...]   # only when some GPU's MIG mode must change
      pre-apply-config:  [...]   # only when some GPU's instances must change
      apply-exit:        [...]   # always, once apply-start ran, even when the apply failed

Each hook's commands run in order; the first that fails stops the apply (apply-exit still runs). A
command sees kubemig's environment, then the hook's `envs`, then the variables mig-parted sets for its
hooks (they win, as in mig-parted): MIG_PARTED_CONFIG_FILE, MIG_PARTED_SELECTED_CONFIG,
MIG_PARTED_HOOKS_FILE, MIG_PARTED_MODE_CHANGE_ONLY, MIG_PARTED_SKIP_RESET; and KUBEMIG_HOOK, the hook's
name. Unlike mig-parted (whose hooks get only those variables), PATH and the rest are inherited.
"""

from __future__ import annotations

import difflib
import os
import subprocess
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from enum import Enum
from pathlib import Path

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from kubemig.partition.errors import ConfigError, HookError
from kubemig.partition.yamlfile import parse_yaml, read_text


class Hook(str, Enum):
    APPLY_START = "apply-start"
    PRE_APPLY_MODE = "pre-apply-mode"
    PRE_APPLY_CONFIG = "pre-apply-config"
    APPLY_EXIT = "apply-exit"


class HookCommand(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True, strict=True)

    command: str = Field(min_length=1)
    args: list[str] = []
    envs: dict[str, str] = {}
    workdir: str = ""


class _HooksSpec(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True, strict=True)

    version: str
    hooks: dict[str, list[HookCommand]] = {}


@dataclass(frozen=True, slots=True)
class HooksFile:
    label: str
    hooks: Mapping[Hook, tuple[HookCommand, ...]]


def load_hooks(path: str) -> HooksFile:
    label, text = read_text(path)
    data = parse_yaml(label, text)
    if not isinstance(data, dict) or data.get("version") != "v1":
        raise ConfigError([f"{label}: a hooks file starts with `version: v1` and has a `hooks:` mapping"])
    try:
        spec = _HooksSpec.model_validate(data)
    except ValidationError as exc:
        raise ConfigError([_describe(label, dict(err)) for err in exc.errors()]) from None
    problems = []
    names = [h.value for h in Hook]
    for name in spec.hooks:
        if name not in names:
            close = difflib.get_close_matches(name, names, n=1, cutoff=0.5)
            hint = f"did you mean {close[0]!r}? " if close else ""
            problems.append(f"{label}: unknown hook {name!r}: {hint}the hooks are {', '.join(names)}")
    if problems:
        raise ConfigError(problems)
    return HooksFile(label, {Hook(name): tuple(cmds) for name, cmds in spec.hooks.items()})


def _describe(label: str, err: dict[str, object]) -> str:
    loc = list(err["loc"])  # type: ignore[call-overload]
    where = label
    if len(loc) >= 3 and loc[0] == "hooks":
        where += f": hook {loc[1]!r} command {int(loc[2]) + 1}"
        loc = loc[3:]
    field = str(loc[0]) if loc else "value"
    if err["type"] == "missing":
        return f"{where}: missing required field {field!r}: give the program to run, e.g. `command: /bin/sh`"
    if err["type"] == "extra_forbidden":
        return f"{where}: unknown field {field!r}: the fields are command, args, envs, workdir"
    return f"{where}: {field}: {err['msg']}"


def hook_environment(
    *, config_file: str, selected_config: str, hooks_file: str, mode_only: bool
) -> dict[str, str]:
    """The variables mig-parted gives its hooks (its flags' environment variables)."""
    return {
        "MIG_PARTED_CONFIG_FILE": config_file,
        "MIG_PARTED_SELECTED_CONFIG": selected_config,
        "MIG_PARTED_HOOKS_FILE": hooks_file,
        "MIG_PARTED_MODE_CHANGE_ONLY": "true" if mode_only else "false",
        # kubemig never resets a GPU itself: a pending MIG mode waits for the operator's reset
        "MIG_PARTED_SKIP_RESET": "true",
    }


class HookRunner:
    """Runs a hooks file's commands as real subprocesses; without a file every hook is a no-op."""

    def __init__(self, hooks: HooksFile | None, env: Mapping[str, str]) -> None:
        self.hooks = hooks
        self.env = dict(env)
        self.ran: list[Hook] = []

    def run(self, hook: Hook) -> None:
        if self.hooks is None:
            return
        commands = self.hooks.hooks.get(hook, ())
        self.ran.append(hook)
        for number, cmd in enumerate(commands, 1):
            env = {**os.environ, **cmd.envs, **self.env, "KUBEMIG_HOOK": hook.value}
            where = f"hook {hook.value} command {number} ({cmd.command})"
            workdir = cmd.workdir or None
            if workdir is not None and not Path(workdir).is_dir():
                raise HookError(
                    f"{where}: workdir {workdir} does not exist: create it or fix {self.hooks.label}"
                )
            try:
                done = subprocess.run(
                    [cmd.command, *cmd.args],
                    cwd=workdir,
                    env=env,
                    capture_output=True,
                    text=True,
                    check=False,
                )
            except OSError as exc:
                raise HookError(
                    f"{where}: cannot run: {exc.strerror or exc}: fix {self.hooks.label}"
                ) from exc
            if done.returncode != 0:
                tail = (done.stderr or done.stdout).strip().splitlines()[-1:] or ["no output"]
                raise HookError(f"{where} exited with status {done.returncode}: {tail[0]}")


def run_with_hooks(
    runner: HookRunner,
    *,
    mode_only: bool,
    mode_differs: Callable[[], bool],
    apply_mode: Callable[[], None],
    config_differs: Callable[[], bool],
    apply_config: Callable[[], None],
) -> None:
    """mig-parted's order: apply-start; if the mode differs, pre-apply-mode then the mode change; unless
    mode-only, if the instances differ, pre-apply-config then the change; apply-exit whatever happened
    after apply-start (its own failure is reported only when nothing failed before it)."""
    runner.run(Hook.APPLY_START)
    failed = True
    try:
        if mode_differs():
            runner.run(Hook.PRE_APPLY_MODE)
            apply_mode()
        if not mode_only and config_differs():
            runner.run(Hook.PRE_APPLY_CONFIG)
            apply_config()
        failed = False
    finally:
        try:
            runner.run(Hook.APPLY_EXIT)
        except HookError:
            if not failed:
                raise
