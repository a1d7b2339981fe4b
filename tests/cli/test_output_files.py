"""Result files (`--json`, `--plot`, `--configs`, `bench plot`'s PNG) that cannot be written: one line
naming the option, before the work where the path is already wrong, and after it where the write
itself fails."""

from __future__ import annotations

import errno
from pathlib import Path

import pytest
from click.testing import CliRunner

from kubemig.bench import fill
from kubemig.bench import report as bench_report
from kubemig.cli import cli
from kubemig.cli.output_files import check_directory, check_writable
from kubemig.errors import KubemigError
from kubemig.planner import ExactPlanner
from tests.bench.helpers import TINY
from tests.helpers import run_kubemig

EXAMPLE = str(Path(__file__).resolve().parents[2] / "examples" / "snapshot.yaml")
RESULT = str(Path(__file__).resolve().parents[2] / "bench" / "results" / "churn-default-256.json")


@pytest.fixture
def blocked(tmp_path: Path) -> Path:
    """A directory path that cannot be made: a plain file stands where its parent should be."""
    blocker = tmp_path / "blocker"
    blocker.write_text("a file, not a directory\n")
    return blocker / "out"


def _fill(tmp_path: Path, *extra: str) -> list[str]:
    trace = tmp_path / "tiny.csv"
    trace.write_text(TINY)
    return ["bench", "fill", "--trace", str(trace), "--gpus", "8", "--policies", "first-fit", *extra]


def test_a_result_path_that_cannot_be_written_stops_the_benchmark_before_it_runs(
    tmp_path: Path, blocked: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    def must_not_run(*_: object, **__: object) -> object:
        raise AssertionError("the benchmark ran before its --json path was checked")

    monkeypatch.setattr(fill, "run_fill", must_not_run)
    for option in ("--json", "--plot"):
        result = CliRunner().invoke(cli, _fill(tmp_path, option, str(blocked / "r.out")))
        assert result.exit_code == 1
        assert isinstance(result.exception, KubemigError)
        message = str(result.exception)
        assert message.startswith(f"cannot write {blocked / 'r.out'}: ")
        assert message.endswith(f"give {option} a path this process may write")


def test_a_write_that_fails_after_the_run_is_one_line(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    def disk_full(path: Path, value: object) -> None:
        raise OSError(errno.ENOSPC, "No space left on device", str(path))

    monkeypatch.setattr(bench_report, "write_json", disk_full)
    out = tmp_path / "fill.json"
    result = CliRunner().invoke(cli, _fill(tmp_path, "--json", str(out)))
    assert result.exit_code == 1
    assert str(result.exception) == (
        f"cannot write {out}: No space left on device: give --json a path this process may write"
    )


def test_plan_configs_in_a_directory_that_cannot_be_made_is_refused_before_planning(
    blocked: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    def must_not_plan(*_: object, **__: object) -> object:
        raise AssertionError("planned before --configs was checked")

    monkeypatch.setattr(ExactPlanner, "plan", must_not_plan)
    result = CliRunner().invoke(cli, ["plan", "--snapshot", EXAMPLE, "--configs", str(blocked)])
    assert result.exit_code == 1
    assert str(result.exception).startswith(f"cannot write {blocked}: ")


def test_as_a_real_command_the_error_is_one_line_and_nothing_is_left_behind(
    tmp_path: Path, blocked: Path
) -> None:
    done = run_kubemig("plan", "--snapshot", EXAMPLE, "--configs", str(blocked))
    assert done.returncode == 1, done.stderr
    assert done.stderr.count("\n") == 1 and done.stderr.startswith(
        f"kubemig: error: cannot write {blocked}: "
    )
    png = run_kubemig("bench", "plot", RESULT, str(blocked / "p.png"))
    assert png.returncode == 1 and png.stderr.startswith(
        f"kubemig: error: cannot write {blocked / 'p.png'}: "
    )
    assert sorted(p.name for p in tmp_path.iterdir()) == ["blocker"]


def test_the_checks_make_the_directory_and_leave_no_file_in_it(tmp_path: Path) -> None:
    target = tmp_path / "a" / "b" / "result.json"
    check_writable(target, "--json")
    check_directory(tmp_path / "configs", "--configs")
    assert target.parent.is_dir() and list(target.parent.iterdir()) == []
    assert list((tmp_path / "configs").iterdir()) == []
    with pytest.raises(KubemigError, match="it is a directory"):
        check_writable(tmp_path, "--json")
